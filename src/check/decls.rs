//! Declarations: `input`/`param` with their shapes and initializers, and the
//! conversion of dimension expressions (`[N, H * W]`) to canonical polynomials.

use super::dims::{DimKind, Poly};
use super::typed::{InitExpr, ScalarExpr, TensorId, TensorKind};
use super::types::{Elem, Shape, TensorTy};
use super::{Checker, Entity};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::{BinOp, DeclElem, Expr, ExprKind, TensorDecl, TensorRole};

impl Checker<'_> {
    /// An `input` or `param` declaration: its tensor, when its shape checked.
    pub(crate) fn tensor_decl(&mut self, d: &TensorDecl) -> Option<TensorId> {
        let shape = self.shape_of(&d.shape, false);
        let elem = match d.elem {
            DeclElem::Float => Elem::Float,
            DeclElem::Int => Elem::Int,
            DeclElem::Bool => Elem::Bool,
        };
        let kind = TensorKind::from(d.role);
        if elem != Elem::Float && d.role == TensorRole::Param {
            let word = if elem == Elem::Int { "int" } else { "bool" };
            self.report(
                Diagnostic::error(
                    Code::E0312,
                    d.name.span,
                    format!("param `{}` cannot be `{word}`", d.name.name),
                )
                .with_primary_label("parameters are trainable, so they are float tensors")
                .with_help("labels are inputs: `input t: [N] int`"),
            );
        }
        let init = match &d.init {
            None if d.role == TensorRole::Param => {
                self.report(
                    Diagnostic::error(
                        Code::E0105,
                        d.name.span,
                        format!("param `{}` needs an initializer", d.name.name),
                    )
                    .with_primary_label("no initializer")
                    .with_help(format!(
                        "add one, for example `param {}: {} = normal(0, 0.01)` or `= zeros`",
                        d.name.name,
                        self.snippet(d.shape.span).unwrap_or("[...]")
                    )),
                );
                None
            }
            None => None,
            Some(init) => self.initializer(init, shape.as_ref(), elem, &d.name.name),
        };
        let Some(shape) = shape else {
            self.bind_poisoned(&d.name.name, d.name.span, kind);
            return None;
        };
        let ty = TensorTy { shape, elem };
        let id = self.new_tensor(d.name.name.clone(), kind, Some(ty), d.name.span, Vec::new());
        self.out.tensors[id.0 as usize].init = init;
        self.record_decl(id);
        self.bind(&d.name.name, d.name.span, Entity::Tensor(id));
        Some(id)
    }

    /// Checks an initializer: a number, `zeros`, `ones`, `normal(m, s)`,
    /// `uniform(lo, hi)`, a tensor literal, or a scalar expression of numbers and
    /// dimensions.
    fn initializer(
        &mut self,
        init: &Expr,
        shape: Option<&Shape>,
        elem: Elem,
        name: &str,
    ) -> Option<InitExpr> {
        let e = init.strip_parens();
        match &e.kind {
            ExprKind::Name(n) if n == "zeros" => Some(InitExpr::Fill(ScalarExpr::Number(0.0))),
            ExprKind::Name(n) if n == "ones" => Some(InitExpr::Fill(ScalarExpr::Number(1.0))),
            ExprKind::Call { callee, args } if matches!(&callee.kind, ExprKind::Name(n) if n == "normal" || n == "uniform") =>
            {
                let fname = self.snippet(callee.span).unwrap_or("normal");
                let is_uniform = matches!(&callee.kind, ExprKind::Name(n) if n == "uniform");
                if elem != Elem::Float {
                    let word = if elem == Elem::Int { "int" } else { "bool" };
                    self.report(
                        Diagnostic::error(
                            Code::E0312,
                            e.span,
                            format!("`{fname}` cannot initialize the {word} tensor `{name}`"),
                        )
                        .with_primary_label("random values are floats")
                        .with_help("give labels as a literal or from a file"),
                    );
                    return None;
                }
                let positional: Vec<&Expr> = args
                    .iter()
                    .filter(|a| a.name.is_none())
                    .map(|a| &a.value)
                    .collect();
                if positional.len() != 2 || args.iter().any(|a| a.name.is_some()) {
                    let what = if is_uniform {
                        "uniform(low, high)"
                    } else {
                        "normal(mean, std)"
                    };
                    self.report(
                        Diagnostic::error(
                            Code::E0206,
                            e.span,
                            format!("`{fname}` takes two arguments: {what}"),
                        )
                        .with_primary_label(format!("{} given", args.len())),
                    );
                    return None;
                }
                let a = self.scalar_constant(positional[0]);
                let b = self.scalar_constant(positional[1]);
                let (a, b) = (a?, b?);
                Some(if is_uniform {
                    InitExpr::Uniform(a, b)
                } else {
                    InitExpr::Normal(a, b)
                })
            }
            ExprKind::List(_) => self.literal(e, shape, elem, name),
            _ => self.scalar_constant(e).map(InitExpr::Fill),
        }
    }

    /// A scalar expression of numbers, dimension names, `sqrt` and arithmetic.
    fn scalar_constant(&mut self, e: &Expr) -> Option<ScalarExpr> {
        match &e.kind {
            ExprKind::Number(v) => Some(ScalarExpr::Number(*v)),
            ExprKind::Paren(inner) => self.scalar_constant(inner),
            ExprKind::Neg(inner) => Some(ScalarExpr::Neg(Box::new(self.scalar_constant(inner)?))),
            ExprKind::Binary { op, lhs, rhs, .. }
                if *op != BinOp::MatMul && !op.is_comparison() =>
            {
                let a = self.scalar_constant(lhs);
                let b = self.scalar_constant(rhs);
                Some(ScalarExpr::Binary(*op, Box::new(a?), Box::new(b?)))
            }
            ExprKind::Name(n) => {
                let entity = self.lookup(n);
                if let Some(entity) = entity {
                    self.reference(e.span, entity);
                }
                match entity {
                    None if super::predefined_constant(n).is_some() => {
                        super::predefined_constant(n).map(ScalarExpr::Number)
                    }
                    Some(Entity::Dim(d)) => Some(ScalarExpr::Dim(d)),
                    Some(Entity::Tensor(t)) if self.tensor_ty(t).is_none() => None,
                    _ => {
                        self.report(
                            Diagnostic::error(Code::E0312, e.span, format!("`{n}` cannot be used in an initializer"))
                                .with_primary_label("not a dimension")
                                .with_help("initializer arguments use numbers, dimension names, `sqrt` and `+ - * /`"),
                        );
                        None
                    }
                }
            }
            ExprKind::Call { callee, args }
                if matches!(&callee.kind, ExprKind::Name(n) if n == "sqrt")
                    && args.len() == 1
                    && args[0].name.is_none() =>
            {
                Some(ScalarExpr::Sqrt(Box::new(
                    self.scalar_constant(&args[0].value)?,
                )))
            }
            _ => {
                self.report(
                    Diagnostic::error(Code::E0312, e.span, "this is not a valid initializer")
                        .with_primary_label("not a constant")
                        .with_help(
                            "an initializer is a number, `zeros`, `ones`, `normal(mean, std)`, `uniform(low, high)` \
                             or a tensor literal; arguments use numbers, dimension names, `sqrt` and `+ - * /`",
                        ),
                );
                None
            }
        }
    }

    fn literal(
        &mut self,
        e: &Expr,
        shape: Option<&Shape>,
        elem: Elem,
        name: &str,
    ) -> Option<InitExpr> {
        let lit_shape = match literal_shape(e, elem) {
            Ok(s) => s,
            Err((span, msg)) => {
                self.report(
                    Diagnostic::error(Code::E0312, span, msg)
                        .with_primary_label("in this tensor literal"),
                );
                return None;
            }
        };
        let shape = shape?;
        let shown = self.show(&TensorTy::float(shape.clone()));
        let lit_text = format!(
            "[{}]",
            lit_shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if lit_shape.len() != shape.len() {
            self.report(
                Diagnostic::error(
                    Code::E0312,
                    e.span,
                    format!("the literal has shape {lit_text} but `{name}` is declared {shown}"),
                )
                .with_primary_label(format!(
                    "{} axes here, {} declared",
                    lit_shape.len(),
                    shape.len()
                )),
            );
            return None;
        }
        for (axis, (d, n)) in shape.iter().zip(&lit_shape).enumerate() {
            if let Some(c) = d.as_const() {
                if c != *n as i64 {
                    self.report(
                        Diagnostic::error(
                            Code::E0312,
                            e.span,
                            format!(
                                "the literal has shape {lit_text} but `{name}` is declared {shown}"
                            ),
                        )
                        .with_primary_label(format!("axis {axis} has {n} elements, {c} declared")),
                    );
                    return None;
                }
            }
        }
        let mut values = Vec::new();
        literal_values(e, &mut values);
        Some(InitExpr::Literal {
            shape: lit_shape,
            values,
        })
    }

    /// A list of dimension expressions (`[N, H * W]`) as a shape.
    /// `create_generic`: unknown names become per-call generic dimensions (layer signatures).
    pub(crate) fn shape_of(&mut self, e: &Expr, create_generic: bool) -> Option<Shape> {
        let ExprKind::List(items) = &e.strip_parens().kind else {
            self.report(
                Diagnostic::error(Code::E0313, e.span, "expected a shape such as `[N, D]`")
                    .with_primary_label("not a list of dimensions"),
            );
            return None;
        };
        let mut shape = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.dim_expr(item, create_generic) {
                Some(p) => shape.push(p),
                None => ok = false,
            }
        }
        ok.then_some(shape)
    }

    /// One dimension expression (a shape's axis, a layer's dimension argument,
    /// a size option): W0004 when it is a bare literal that equals a dimension's
    /// default, then [`Checker::dim_poly`].
    pub(crate) fn dim_expr(&mut self, e: &Expr, create_generic: bool) -> Option<Poly> {
        let p = self.dim_poly(e, create_generic)?;
        if let (ExprKind::Number(_), Some(c)) = (&e.strip_parens().kind, p.as_const()) {
            self.warn_literal_dim(c, e.span);
        }
        Some(p)
    }

    /// A dimension expression as a polynomial: integers, dimension names,
    /// parentheses, `+`, `-`, `*` and `/` (floor division). A derived
    /// dimension's name stands for its definition.
    pub(crate) fn dim_poly(&mut self, e: &Expr, create_generic: bool) -> Option<Poly> {
        let overflow = |c: &mut Self| {
            c.report(
                Diagnostic::error(Code::E0313, e.span, "dimension arithmetic overflows")
                    .with_primary_label("too large"),
            );
            None
        };
        match &e.kind {
            ExprKind::Number(v) => {
                if v.fract() != 0.0 || *v < 0.0 || *v > 9.0e15 {
                    self.report(
                        Diagnostic::error(
                            Code::E0313,
                            e.span,
                            format!(
                                "`{}` is not a valid dimension",
                                self.snippet(e.span).unwrap_or("this")
                            ),
                        )
                        .with_primary_label("dimensions are non-negative integers"),
                    );
                    return None;
                }
                Some(Poly::constant(*v as i64))
            }
            ExprKind::Name(n) => {
                let entity = self.lookup(n);
                if let Some(entity) = entity {
                    self.reference(e.span, entity);
                }
                match entity {
                    Some(Entity::Dim(id)) => self.dim_symbol(id),
                    Some(Entity::Tensor(t)) if self.tensor_ty(t).is_none() => None,
                    Some(_) => {
                        self.report(
                            Diagnostic::error(
                                Code::E0204,
                                e.span,
                                format!("`{n}` is not a dimension"),
                            )
                            .with_primary_label("used as a dimension here")
                            .with_label(self.decl_span(n).unwrap_or(e.span), "declared here")
                            .with_help("shapes are made of dimension names (`dim N`) and integers"),
                        );
                        None
                    }
                    None if create_generic => {
                        let id = self.dims.add(n, DimKind::Generic, e.span);
                        self.bind(n, e.span, Entity::Dim(id));
                        Some(Poly::var(id))
                    }
                    None => {
                        self.unknown_name(n, e.span, "dimension");
                        None
                    }
                }
            }
            ExprKind::Paren(inner) => self.dim_poly(inner, create_generic),
            ExprKind::Binary { op, lhs, rhs, .. }
                if matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) =>
            {
                let a = self.dim_poly(lhs, create_generic);
                let b = self.dim_poly(rhs, create_generic);
                let (a, b) = (a?, b?);
                let r = match op {
                    BinOp::Add => a.add(&b),
                    BinOp::Sub => a.sub(&b),
                    BinOp::Mul => a.mul(&b),
                    _ => return self.dim_div(&a, &b, rhs.span),
                };
                r.or_else(|| overflow(self))
            }
            _ => {
                self.report(
                    Diagnostic::error(Code::E0313, e.span, "this is not a dimension expression")
                        .with_primary_label("not a dimension")
                        .with_help("dimension expressions use names, integers, `+`, `-`, `*` and `/` (floor division): `[N, H * W]`, `[T + 1]`, `[(H - 1) / 2 + 1]`"),
                );
                None
            }
        }
    }

    /// What a dimension's name means in a shape: its symbol, or a derived
    /// dimension's definition (`None` when that definition has an error, so
    /// every use is poisoned rather than reported again).
    pub(crate) fn dim_symbol(&self, id: super::dims::DimId) -> Option<Poly> {
        match &self.dims.info(id).kind {
            DimKind::Derived { def } => def.clone(),
            _ => Some(Poly::var(id)),
        }
    }

    /// `a / b` rounded down (SPEC section 3), for shapes, derived dimensions
    /// and index bounds alike. A constant divisor must be positive (E0313); a
    /// divisor that names dimensions is checked at run time, where a value
    /// below 1 is E0613.
    pub(crate) fn dim_div(&mut self, a: &Poly, b: &Poly, span: Span) -> Option<Poly> {
        if let Some(c) = b.as_const().filter(|c| *c < 1) {
            let what = if c == 0 {
                "a dimension expression divides by zero".to_string()
            } else {
                format!("a dimension expression divides by {c}")
            };
            self.report(
                Diagnostic::error(Code::E0313, span, what)
                    .with_primary_label(format!("this is {c}"))
                    .with_help("`/` in a dimension divides by a positive integer or a dimension"),
            );
            return None;
        }
        a.floor_div(b).or_else(|| {
            self.report(
                Diagnostic::error(Code::E0313, span, "dimension arithmetic overflows")
                    .with_primary_label("too large"),
            );
            None
        })
    }

    /// W0004: a literal that equals the default of a named dimension.
    fn warn_literal_dim(&mut self, c: i64, span: Span) {
        if c <= 1 {
            return;
        }
        let names = self.dims.globals_with_default(c);
        if let [name] = names.as_slice() {
            let name = name.to_string();
            self.report(
                Diagnostic::warning(Code::W0004, span, format!("the literal {c} is the default of dimension `{name}`"))
                    .with_primary_label(format!("write `{name}`?"))
                    .with_help(format!(
                        "write {name} instead of {c}: a literal never equals a named dimension, so [{c}] and [{name}] do not match"
                    ))
                    .with_suggestion(span, name.clone()),
            );
        }
    }

    /// E0201 with a "did you mean" among visible names.
    pub(crate) fn unknown_name(&mut self, name: &str, span: Span, what: &str) {
        // A keyword where a name stands was reported by the parser (E0102, or
        // E0101 for a dangling operator before a `loss` line): not again.
        if crate::syntax::KEYWORDS.contains(&name) {
            return;
        }
        if let Some(later) = self.scopes.last().and_then(|s| s.later.get(name)).copied() {
            self.report(
                Diagnostic::error(
                    Code::E0202,
                    span,
                    format!("`{name}` is used before it is bound"),
                )
                .with_primary_label("used here")
                .with_label(later, "bound later, here")
                .with_help("move the binding above its first use"),
            );
            return;
        }
        if self.in_layer() {
            if let Some(Entity::Tensor(_) | Entity::Instance(_)) = self.scopes[0].names.get(name) {
                let def = self.scopes[0].decl_spans.get(name).copied().unwrap_or(span);
                self.report(
                    Diagnostic::error(Code::E0201, span, format!("`{name}` is not visible inside a layer"))
                        .with_primary_label("declared outside this layer")
                        .with_label(def, "declared here")
                        .with_help("a layer sees only its arguments, its params and dimensions; pass the value as an argument"),
                );
                return;
            }
        }
        let names = self.visible_names();
        let mut candidates: Vec<&str> = names.iter().map(String::as_str).collect();
        for builtin in super::builtins::table::names() {
            candidates.push(builtin);
        }
        let mut d = Diagnostic::error(Code::E0201, span, format!("unknown {what} `{name}`"))
            .with_primary_label("not found in this scope");
        if let Some(best) = super::suggest::closest(name, candidates) {
            d = d
                .with_help(format!("did you mean `{best}`?"))
                .with_suggestion(span, best);
        }
        self.report(d);
    }
}

/// The shape of a nested tensor literal, checking it is rectangular and numeric.
fn literal_shape(e: &Expr, elem: Elem) -> Result<Vec<usize>, (Span, String)> {
    match &e.strip_parens().kind {
        ExprKind::List(items) => {
            let mut inner: Option<Vec<usize>> = None;
            for item in items {
                let s = literal_shape(item, elem)?;
                match &inner {
                    None => inner = Some(s),
                    Some(prev) if *prev != s => {
                        return Err((
                            item.span,
                            "the rows of this tensor literal have different lengths".to_string(),
                        ))
                    }
                    Some(_) => {}
                }
            }
            let mut shape = vec![items.len()];
            shape.extend(inner.unwrap_or_default());
            Ok(shape)
        }
        ExprKind::Number(v) => {
            if elem == Elem::Int && v.fract() != 0.0 {
                Err((e.span, "an int tensor literal holds integers".to_string()))
            } else {
                Ok(Vec::new())
            }
        }
        ExprKind::Neg(inner) if matches!(inner.kind, ExprKind::Number(_)) => {
            literal_shape(inner, elem)
        }
        _ => Err((e.span, "a tensor literal holds numbers only".to_string())),
    }
}

/// The row-major values of a tensor literal (checked by [`literal_shape`]).
fn literal_values(e: &Expr, out: &mut Vec<f64>) {
    match &e.strip_parens().kind {
        ExprKind::List(items) => items.iter().for_each(|i| literal_values(i, out)),
        ExprKind::Number(v) => out.push(*v),
        ExprKind::Neg(inner) => {
            let start = out.len();
            literal_values(inner, out);
            out[start..].iter_mut().for_each(|v| *v = -*v);
        }
        _ => {}
    }
}
