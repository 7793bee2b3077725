//! Calls: built-in functions (SPEC section 5), derivatives (the generalized
//! Jacobian rules) and `close` for asserts. Layer instance calls are in `layers.rs`.

use super::dims::{DimKind, Poly};
use super::expr::WithOperands;
use super::types::{Elem, Shape, TensorTy};
use super::{Checker, Entity, TensorId};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::{Arg, Expr, ExprKind};

/// Every built-in function name (for "did you mean" and wrong-kind errors).
pub const BUILTIN_NAMES: &[&str] = &[
    "exp",
    "log",
    "sqrt",
    "tanh",
    "sigmoid",
    "relu",
    "abs",
    "sin",
    "cos",
    "neg",
    "maximum",
    "minimum",
    "sum",
    "mean",
    "max",
    "min",
    "transpose",
    "reshape",
    "softmax",
    "log_softmax",
    "logsumexp",
    "cross_entropy",
    "mse",
    "one_hot",
    "tensordot",
    "zeros",
    "ones",
    "grad",
    "jacobian",
    "vjp",
    "jvp",
    "hessian",
    "close",
    "normal",
    "uniform",
];

pub const ELEMENTWISE: &[&str] = &[
    "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "neg",
];

/// Default `--max-jacobian-bytes`, used by the check-time warning too.
pub const DEFAULT_MAX_JACOBIAN_BYTES: u128 = 1 << 30;

/// Arguments split into positional values and `name=value` options.
struct CallArgs<'e> {
    positional: Vec<&'e Expr>,
    options: Vec<(&'e str, Span, &'e Expr)>,
}

impl Checker<'_> {
    pub(crate) fn call(&mut self, callee: &Expr, args: &[Arg], span: Span) -> Option<TensorTy> {
        let ExprKind::Name(name) = &callee.kind else {
            self.report(
                Diagnostic::error(
                    Code::E0204,
                    callee.span,
                    "only functions and layer instances can be called",
                )
                .with_primary_label("not callable"),
            );
            return None;
        };
        match self.lookup(name) {
            Some(Entity::Instance(inst)) => {
                self.reference(name, callee.span);
                return self.call_instance(&inst, callee.span, args, span);
            }
            Some(Entity::Poisoned) => return None,
            Some(Entity::Tensor { span: def, .. }) => {
                self.report(
                    Diagnostic::error(
                        Code::E0204,
                        callee.span,
                        format!("`{name}` is a tensor and cannot be called"),
                    )
                    .with_primary_label("called here")
                    .with_label(def, "declared here")
                    .with_help("for a product write `*` or `@`"),
                );
                return None;
            }
            Some(Entity::Dim(_)) => {
                self.report(
                    Diagnostic::error(
                        Code::E0204,
                        callee.span,
                        format!("`{name}` is a dimension and cannot be called"),
                    )
                    .with_primary_label("called here"),
                );
                return None;
            }
            Some(Entity::Layer(i)) => {
                let header = self.layers[i].header_span;
                self.report(
                    Diagnostic::error(
                        Code::E0204,
                        callee.span,
                        format!("`{name}` is a layer; call an instance of it"),
                    )
                    .with_primary_label("a layer, not an instance")
                    .with_label(header, "layer declared here")
                    .with_help(format!(
                        "declare an instance first: `f = {name}[...]`, then call `f(...)`"
                    )),
                );
                return None;
            }
            None => {}
        }
        let call = self.split_args(args)?;
        let n = name.as_str();
        match n {
            _ if ELEMENTWISE.contains(&n) => {
                let [x] = self.positional::<1>(n, &call, &[], span, "(x)")?;
                let t = self.expr(x)?;
                self.require_float(&t, x.span, &format!("`{n}`"))?;
                Some(t)
            }
            "maximum" | "minimum" => {
                let [a, b] = self.positional::<2>(n, &call, &[], span, "(a, b)")?;
                let (ta, tb) = (self.expr(a), self.expr(b));
                let (ta, tb) = (ta?, tb?);
                self.require_float(&ta, a.span, &format!("`{n}`"))?;
                self.require_float(&tb, b.span, &format!("`{n}`"))?;
                self.broadcast_binary(&ta, &tb, a.span, b.span, callee.span)
            }
            "sum" | "mean" | "max" | "min" => {
                let [x] = self.positional::<1>(
                    n,
                    &call,
                    &["axis", "keepdims"],
                    span,
                    "(x, axis=k, keepdims=false)",
                )?;
                let t = self.expr(x)?;
                self.require_float(&t, x.span, &format!("`{n}`"))?;
                let axes = match self.option(&call, "axis") {
                    Some(e) => self.axes(e, &t, x.span)?,
                    None => (0..t.rank()).collect(),
                };
                let keepdims = self.bool_option(&call, "keepdims")?;
                Some(reduce(&t, &axes, keepdims))
            }
            "logsumexp" => {
                let [x] = self.positional::<1>(
                    n,
                    &call,
                    &["axis", "keepdims"],
                    span,
                    "(x, axis=-1, keepdims=false)",
                )?;
                let t = self.expr(x)?;
                self.require_float(&t, x.span, "`logsumexp`")?;
                let axes = match self.option(&call, "axis") {
                    Some(e) => self.axes(e, &t, x.span)?,
                    None => self.default_last_axis(&t, x.span, n)?,
                };
                let keepdims = self.bool_option(&call, "keepdims")?;
                Some(reduce(&t, &axes, keepdims))
            }
            "softmax" | "log_softmax" => {
                let [x] = self.positional::<1>(n, &call, &["axis"], span, "(x, axis=-1)")?;
                let t = self.expr(x)?;
                self.require_float(&t, x.span, &format!("`{n}`"))?;
                match self.option(&call, "axis") {
                    Some(e) => {
                        let axes = self.axes(e, &t, x.span)?;
                        if axes.len() != 1 {
                            self.report(
                                Diagnostic::error(
                                    Code::E0304,
                                    e.span,
                                    format!("`{n}` takes one axis"),
                                )
                                .with_primary_label("a list of axes"),
                            );
                            return None;
                        }
                    }
                    None => {
                        self.default_last_axis(&t, x.span, n)?;
                    }
                }
                Some(t)
            }
            "transpose" => {
                let [x, perm] = self.positional::<2>(n, &call, &[], span, "(x, [p0, p1, ...])")?;
                let t = self.expr(x)?;
                let perm = self.permutation(perm, &t, x.span)?;
                Some(TensorTy {
                    shape: perm.iter().map(|&p| t.shape[p].clone()).collect(),
                    elem: t.elem,
                })
            }
            "reshape" => {
                let [x, shape] = self.positional::<2>(n, &call, &[], span, "(x, [shape])")?;
                let t = self.expr(x);
                let target = self.shape_of(shape, false);
                let (t, target) = (t?, target?);
                self.require_float(&t, x.span, "`reshape`")?;
                let (from, to) = (element_count(&t.shape), element_count(&target));
                match (from, to) {
                    (Some(a), Some(b)) if a == b => Some(TensorTy::float(target)),
                    (Some(a), Some(b)) => {
                        let (sa, sb) = (self.show(&t), self.show(&TensorTy::float(target)));
                        let (ca, cb) = (a.display(&self.dims), b.display(&self.dims));
                        self.report(
                            Diagnostic::error(Code::E0305, shape.span, format!("cannot reshape {sa} ({ca} elements) to {sb} ({cb} elements)"))
                                .with_primary_label(format!("{cb} elements"))
                                .with_label(x.span, format!("{} is {sa}: {ca} elements", self.quote(x.span)))
                                .with_help("element counts are compared symbolically: the two shapes must have the same product of dimensions"),
                        );
                        None
                    }
                    _ => {
                        self.report(
                            Diagnostic::error(
                                Code::E0313,
                                shape.span,
                                "dimension arithmetic overflows",
                            )
                            .with_primary_label("too large"),
                        );
                        None
                    }
                }
            }
            "cross_entropy" => {
                let [logits, labels] =
                    self.positional::<2>(n, &call, &[], span, "(logits, labels)")?;
                let (tl, tt) = (self.expr(logits), self.expr(labels));
                let (tl, tt) = (tl?, tt?);
                self.require_float(&tl, logits.span, "`cross_entropy` logits")?;
                self.require_int(&tt, labels.span, "cross_entropy")?;
                if tl.rank() == 0 || tl.shape[..tl.rank() - 1] != tt.shape[..] {
                    let (sl, st) = (self.show(&tl), self.show(&tt));
                    self.report(
                        Diagnostic::error(
                            Code::E0315,
                            labels.span,
                            format!("labels {st} do not fit logits {sl}"),
                        )
                        .with_primary_label(format!("this is {st}"))
                        .with_label(logits.span, format!("{} is {sl}", self.quote(logits.span)))
                        .with_help("logits are [N, C] and labels [N] int: one class index per row"),
                    );
                    return None;
                }
                Some(TensorTy::scalar())
            }
            "mse" => {
                let [a, b] = self.positional::<2>(n, &call, &[], span, "(a, b)")?;
                let (ta, tb) = (self.expr(a), self.expr(b));
                let (ta, tb) = (ta?, tb?);
                self.require_float(&ta, a.span, "`mse`")?;
                self.require_float(&tb, b.span, "`mse`")?;
                self.same_shape(&ta, &tb, a.span, b.span, "mse", Code::E0315)?;
                Some(TensorTy::scalar())
            }
            "one_hot" => {
                let [labels, classes] = self.positional::<2>(n, &call, &[], span, "(labels, C)")?;
                let t = self.expr(labels);
                let c = self.dim_expr(classes, false);
                let (t, c) = (t?, c?);
                self.require_int(&t, labels.span, "one_hot")?;
                let mut shape = t.shape.clone();
                shape.push(c);
                Some(TensorTy::float(shape))
            }
            "tensordot" => {
                let [a, b, k] = self.positional::<3>(n, &call, &[], span, "(a, b, k)")?;
                let (ta, tb) = (self.expr(a), self.expr(b));
                let (ta, tb) = (ta?, tb?);
                self.require_float(&ta, a.span, "`tensordot`")?;
                self.require_float(&tb, b.span, "`tensordot`")?;
                let k_val = match super::const_int(k) {
                    Some(v) if v >= 0 => v as usize,
                    _ => {
                        self.report(
                            Diagnostic::error(
                                Code::E0206,
                                k.span,
                                "the number of contracted axes must be a non-negative integer",
                            )
                            .with_primary_label("not an integer"),
                        );
                        return None;
                    }
                };
                if k_val > ta.rank()
                    || k_val > tb.rank()
                    || ta.shape[ta.rank() - k_val..] != tb.shape[..k_val]
                {
                    let (sa, sb) = (self.show(&ta), self.show(&tb));
                    let msg = if k_val > ta.rank() || k_val > tb.rank() {
                        format!("cannot contract {k_val} axes of {sa} with {sb}")
                    } else {
                        let la =
                            super::types::shape_display(&ta.shape[ta.rank() - k_val..], &self.dims);
                        let fb = super::types::shape_display(&tb.shape[..k_val], &self.dims);
                        format!("tensordot contracts the last {k_val} {} of {sa} ({la}) with the first {k_val} of {sb} ({fb}), which differ", axes_word(k_val))
                    };
                    self.report(
                        Diagnostic::error(Code::E0311, k.span, msg)
                            .with_primary_label(format!("{k_val} contracted {}", axes_word(k_val)))
                            .with_operands(self, (a.span, &ta), (b.span, &tb)),
                    );
                    return None;
                }
                let mut shape = ta.shape[..ta.rank() - k_val].to_vec();
                shape.extend_from_slice(&tb.shape[k_val..]);
                Some(TensorTy::float(shape))
            }
            "zeros" | "ones" => {
                let [shape] = self.positional::<1>(n, &call, &[], span, "([shape])")?;
                Some(TensorTy::float(self.shape_of(shape, false)?))
            }
            "grad" | "hessian" => {
                let [y, x] = self.positional::<2>(n, &call, &[], span, "(L, x)")?;
                self.derivative(n, y, x, None, span)
            }
            "jacobian" => {
                let [y, x] = self.positional::<2>(n, &call, &[], span, "(y, x)")?;
                self.derivative(n, y, x, None, span)
            }
            "vjp" => {
                let [y, x, v] = self.positional::<3>(n, &call, &[], span, "(y, x, v)")?;
                self.derivative(n, y, x, Some(v), span)
            }
            "jvp" => {
                let [y, x, u] = self.positional::<3>(n, &call, &[], span, "(y, x, u)")?;
                self.derivative(n, y, x, Some(u), span)
            }
            "close" => {
                self.report(
                    Diagnostic::error(Code::E0206, callee.span, "`close` is only for asserts")
                        .with_primary_label("not an assert")
                        .with_help("write `assert close(a, b)`"),
                );
                None
            }
            "normal" | "uniform" => {
                self.report(
                    Diagnostic::error(
                        Code::E0206,
                        callee.span,
                        format!("`{n}` is only an initializer"),
                    )
                    .with_primary_label("not allowed in an expression")
                    .with_help(format!(
                        "declare a tensor with it: `param w: [D] = {n}(0, 1)`"
                    )),
                );
                None
            }
            _ => {
                self.unknown_name(n, callee.span, "function");
                None
            }
        }
    }

    fn split_args<'e>(&mut self, args: &'e [Arg]) -> Option<CallArgs<'e>> {
        let mut call = CallArgs {
            positional: Vec::new(),
            options: Vec::new(),
        };
        for a in args {
            match &a.name {
                Some(n) => {
                    if call.options.iter().any(|(o, _, _)| *o == n.name) {
                        self.report(
                            Diagnostic::error(
                                Code::E0206,
                                n.span,
                                format!("option `{}` is given twice", n.name),
                            )
                            .with_primary_label("repeated"),
                        );
                        return None;
                    }
                    call.options.push((&n.name, n.span, &a.value));
                }
                None => {
                    if let Some((_, first, _)) = call.options.first() {
                        self.report(
                            Diagnostic::error(
                                Code::E0206,
                                a.span,
                                "positional argument after a named one",
                            )
                            .with_primary_label("positional")
                            .with_label(*first, "named argument here")
                            .with_help(
                                "put positional arguments first, then options as `name=value`",
                            ),
                        );
                        return None;
                    }
                    call.positional.push(&a.value);
                }
            }
        }
        Some(call)
    }

    /// Exactly `N` positional arguments and only the listed options.
    fn positional<'e, const N: usize>(
        &mut self,
        name: &str,
        call: &CallArgs<'e>,
        allowed: &[&str],
        span: Span,
        signature: &str,
    ) -> Option<[&'e Expr; N]> {
        for (opt, ospan, _) in &call.options {
            if !allowed.contains(opt) {
                let mut d = Diagnostic::error(
                    Code::E0206,
                    *ospan,
                    format!("`{name}` has no option `{opt}`"),
                )
                .with_primary_label("unknown option");
                d = match super::suggest::closest(opt, allowed.iter().copied()) {
                    Some(best) => d.with_help(format!("did you mean `{best}`?")),
                    None if allowed.is_empty() => {
                        d.with_help(format!("`{name}` takes no options: {name}{signature}"))
                    }
                    None => d.with_help(format!("its options are: {}", allowed.join(", "))),
                };
                self.report(d);
                return None;
            }
        }
        match <[&Expr; N]>::try_from(call.positional.as_slice()) {
            Ok(a) => Some(a),
            Err(_) => {
                let given = call.positional.len();
                self.report(
                    Diagnostic::error(
                        Code::E0206,
                        span,
                        format!(
                            "`{name}` takes {N} argument{}, but {given} {} given",
                            if N == 1 { "" } else { "s" },
                            if given == 1 { "was" } else { "were" }
                        ),
                    )
                    .with_primary_label(format!("{given} given"))
                    .with_help(format!("usage: {name}{signature}")),
                );
                None
            }
        }
    }

    fn option<'e>(&self, call: &CallArgs<'e>, name: &str) -> Option<&'e Expr> {
        call.options
            .iter()
            .find(|(o, _, _)| *o == name)
            .map(|(_, _, e)| *e)
    }

    fn bool_option(&mut self, call: &CallArgs<'_>, name: &str) -> Option<bool> {
        match self.option(call, name) {
            None => Some(false),
            Some(e) => match &e.strip_parens().kind {
                ExprKind::Bool(b) => Some(*b),
                _ => {
                    self.report(
                        Diagnostic::error(
                            Code::E0206,
                            e.span,
                            format!("`{name}` must be `true` or `false`"),
                        )
                        .with_primary_label("not a boolean"),
                    );
                    None
                }
            },
        }
    }

    fn default_last_axis(&mut self, t: &TensorTy, span: Span, name: &str) -> Option<Vec<usize>> {
        if t.is_scalar() {
            self.report(
                Diagnostic::error(
                    Code::E0304,
                    span,
                    format!("`{name}` needs a tensor with at least one axis"),
                )
                .with_primary_label("this is a scalar"),
            );
            return None;
        }
        Some(vec![t.rank() - 1])
    }

    /// An axis or a list of axes, normalized (negative axes count from the end),
    /// sorted and checked for range and duplicates.
    fn axes(&mut self, e: &Expr, t: &TensorTy, operand: Span) -> Option<Vec<usize>> {
        let items: Vec<&Expr> = match &e.strip_parens().kind {
            ExprKind::List(items) => items.iter().collect(),
            _ => vec![e],
        };
        let rank = t.rank() as i64;
        let mut out = Vec::new();
        for item in items {
            let Some(k) = super::const_int(item) else {
                self.report(
                    Diagnostic::error(Code::E0206, item.span, "an axis must be an integer")
                        .with_primary_label("not an integer")
                        .with_help("write `axis=1`, `axis=-1` or `axis=[0, 2]`"),
                );
                return None;
            };
            let norm = if k < 0 { k + rank } else { k };
            if norm < 0 || norm >= rank {
                let shown = self.show(t);
                self.report(
                    Diagnostic::error(
                        Code::E0304,
                        item.span,
                        format!("axis {k} is out of range for a tensor of rank {rank}"),
                    )
                    .with_primary_label(format!(
                        "valid axes are {}..{} (or -{rank}..-1)",
                        0,
                        rank.max(1) - 1
                    ))
                    .with_label(operand, format!("{} is {shown}", self.quote(operand))),
                );
                return None;
            }
            let norm = norm as usize;
            if out.contains(&norm) {
                self.report(
                    Diagnostic::error(
                        Code::E0304,
                        item.span,
                        if k < 0 {
                            format!("axis {k} is axis {norm}, which is already listed")
                        } else {
                            format!("axis {k} is listed twice")
                        },
                    )
                    .with_primary_label("repeated axis"),
                );
                return None;
            }
            out.push(norm);
        }
        out.sort_unstable();
        Some(out)
    }

    fn permutation(&mut self, e: &Expr, t: &TensorTy, operand: Span) -> Option<Vec<usize>> {
        let ExprKind::List(items) = &e.strip_parens().kind else {
            self.report(
                Diagnostic::error(
                    Code::E0306,
                    e.span,
                    "a permutation is a list of axes such as `[1, 0]`",
                )
                .with_primary_label("not a list"),
            );
            return None;
        };
        let rank = t.rank();
        let mut perm = Vec::new();
        for item in items {
            let k = super::const_int(item).map(|k| if k < 0 { k + rank as i64 } else { k });
            match k {
                Some(k) if k >= 0 && (k as usize) < rank && !perm.contains(&(k as usize)) => {
                    perm.push(k as usize)
                }
                _ => {
                    perm.clear();
                    break;
                }
            }
        }
        if perm.len() != rank || items.len() != rank {
            let shown = self.show(t);
            self.report(
                Diagnostic::error(
                    Code::E0306,
                    e.span,
                    format!(
                        "`{}` is not a permutation of the {rank} axes of {shown}",
                        self.snippet(e.span).unwrap_or("this")
                    ),
                )
                .with_primary_label(format!(
                    "expected each of 0..{} exactly once",
                    rank.max(1) - 1
                ))
                .with_label(operand, format!("{} is {shown}", self.quote(operand))),
            );
            return None;
        }
        Some(perm)
    }

    fn require_int(&mut self, t: &TensorTy, span: Span, func: &str) -> Option<()> {
        if t.elem != Elem::Int {
            let shown = self.show(t);
            self.report(
                Diagnostic::error(
                    Code::E0310,
                    span,
                    format!(
                        "`{func}` needs int labels, but {} is a float tensor",
                        self.quote(span)
                    ),
                )
                .with_primary_label(format!("this is {shown}"))
                .with_help("declare labels as `input t: [N] int`"),
            );
            return None;
        }
        Some(())
    }

    fn same_shape(
        &mut self,
        a: &TensorTy,
        b: &TensorTy,
        aspan: Span,
        bspan: Span,
        what: &str,
        code: Code,
    ) -> Option<()> {
        if a.shape == b.shape {
            return Some(());
        }
        let (sa, sb) = (self.show(a), self.show(b));
        let mut d = Diagnostic::error(
            code,
            bspan,
            format!("`{what}` compares {sa} with {sb}: the shapes must be equal"),
        )
        .with_primary_label(format!("{} is {sb}", self.quote(bspan)))
        .with_label(aspan, format!("{} is {sa}", self.quote(aspan)));
        if a.rank() == b.rank() && a.shape.iter().rev().eq(b.shape.iter()) && a.rank() >= 2 {
            if let Some(t) = self.snippet(bspan) {
                d = d.with_help(format!("did you mean `{t}.T`?"));
            }
        }
        self.report(d);
        None
    }

    /// `assert close(a, b, rtol=, atol=)`.
    pub(crate) fn close(&mut self, args: &[Arg], span: Span) {
        let Some(call) = self.split_args(args) else {
            return;
        };
        let Some([a, b]) = self.positional::<2>(
            "close",
            &call,
            &["rtol", "atol"],
            span,
            "(a, b, rtol=1e-4, atol=1e-5)",
        ) else {
            return;
        };
        for opt in ["rtol", "atol"] {
            if let Some(e) = self.option(&call, opt) {
                if !is_nonnegative_number(e) {
                    self.report(
                        Diagnostic::error(
                            Code::E0206,
                            e.span,
                            format!("`{opt}` must be a non-negative number"),
                        )
                        .with_primary_label("not a number"),
                    );
                }
            }
        }
        self.collected.clear();
        let (ta, tb) = (self.expr(a), self.expr(b));
        let (Some(ta), Some(tb)) = (ta, tb) else {
            return;
        };
        self.same_shape(&ta, &tb, a.span, b.span, "close", Code::E0307);
    }

    /// The generalized Jacobian rules as type rules.
    fn derivative(
        &mut self,
        name: &str,
        y: &Expr,
        x: &Expr,
        third: Option<&Expr>,
        span: Span,
    ) -> Option<TensorTy> {
        let before = self.collected.len();
        let ty_y = self.expr(y);
        let y_deps: Vec<TensorId> = self.collected[before..].to_vec();
        let var = self.variable(x, name);
        let ty_third = third.map(|e| self.expr(e));
        let (ty_y, (ty_x, x_id)) = (ty_y?, var?);
        let ty_third = match ty_third {
            Some(t) => Some(t?),
            None => None,
        };
        self.require_float(&ty_y, y.span, &format!("`{name}`"))?;
        let (sy, sx) = (self.show(&ty_y), self.show(&ty_x));
        let concat =
            |a: &Shape, b: &Shape| -> Shape { a.iter().chain(b.iter()).cloned().collect() };
        let result = match name {
            "grad" | "hessian" => {
                if !ty_y.is_scalar() {
                    let yq = self.snippet(y.span).unwrap_or("y").to_string();
                    let xq = self.snippet(x.span).unwrap_or("x").to_string();
                    self.report(
                        Diagnostic::error(Code::E0401, y.span, format!("`{name}` needs a scalar, but {} has shape {sy}", self.quote(y.span)))
                            .with_primary_label(format!("this is {sy}, not []"))
                            .with_help(format!(
                                "sum it (`{name}(sum({yq}), {xq})`), or use `vjp({yq}, {xq}, v)` with v: {sy}, or `jacobian({yq}, {xq})`"
                            )),
                    );
                    return None;
                }
                if name == "grad" {
                    self.note(
                        span,
                        format!(
                            "grad({}, {}): shape of {} = {sx}",
                            self.snip(y),
                            self.snip(x),
                            self.snip(x)
                        ),
                    );
                    ty_x.shape.clone()
                } else {
                    self.note(
                        span,
                        format!("hessian({}, {}): {sx} ++ {sx}", self.snip(y), self.snip(x)),
                    );
                    concat(&ty_x.shape, &ty_x.shape)
                }
            }
            "jacobian" => {
                self.note(
                    span,
                    format!("jacobian({}, {}): {sy} ++ {sx}", self.snip(y), self.snip(x)),
                );
                concat(&ty_y.shape, &ty_x.shape)
            }
            "vjp" => {
                let tv = ty_third.as_ref()?;
                let v = third?;
                if tv.shape != ty_y.shape || tv.elem != Elem::Float {
                    let sv = self.show(tv);
                    self.report(
                        Diagnostic::error(Code::E0402, v.span, format!("the cotangent of `vjp` must have the shape of {} ({sy}), but it is {sv}", self.quote(y.span)))
                            .with_primary_label(format!("this is {sv}"))
                            .with_label(y.span, format!("{} is {sy}", self.quote(y.span)))
                            .with_help("vjp(y, x, v) multiplies v, shaped like y, by the Jacobian dy/dx; the result is shaped like x"),
                    );
                    return None;
                }
                self.note(
                    span,
                    format!(
                        "vjp({}, {}, v): v is {sy}, result is shape of {} = {sx}",
                        self.snip(y),
                        self.snip(x),
                        self.snip(x)
                    ),
                );
                ty_x.shape.clone()
            }
            _ => {
                let tu = ty_third.as_ref()?;
                let u = third?;
                if tu.shape != ty_x.shape || tu.elem != Elem::Float {
                    let su = self.show(tu);
                    self.report(
                        Diagnostic::error(Code::E0403, u.span, format!("the tangent of `jvp` must have the shape of {} ({sx}), but it is {su}", self.quote(x.span)))
                            .with_primary_label(format!("this is {su}"))
                            .with_label(x.span, format!("{} is {sx}", self.quote(x.span)))
                            .with_help("jvp(y, x, u) multiplies the Jacobian dy/dx by u, shaped like x; the result is shaped like y"),
                    );
                    return None;
                }
                self.note(
                    span,
                    format!(
                        "jvp({}, {}, u): u is {sx}, result is shape of {} = {sy}",
                        self.snip(y),
                        self.snip(x),
                        self.snip(y)
                    ),
                );
                ty_y.shape.clone()
            }
        };
        if !self.depends_on(&y_deps, x_id) {
            self.report(
                Diagnostic::warning(
                    Code::W0002,
                    x.span,
                    format!(
                        "{} does not depend on {}",
                        self.quote(y.span),
                        self.quote(x.span)
                    ),
                )
                .with_primary_label("independent variable")
                .with_label(y.span, "this value")
                .with_help(format!(
                    "the {name} is zeros of shape {}",
                    self.show(&TensorTy::float(result.clone()))
                )),
            );
        }
        if name == "jacobian" || name == "hessian" {
            self.warn_large_jacobian(&result, span, name);
        }
        Some(TensorTy::float(result))
    }

    fn snip(&self, e: &Expr) -> String {
        self.snippet(e.span).unwrap_or("...").to_string()
    }

    /// The variable of a derivative: a name or an instance parameter path.
    fn variable(&mut self, x: &Expr, func: &str) -> Option<(TensorTy, TensorId)> {
        if x.as_path().is_none() {
            self.report(
                Diagnostic::error(
                    Code::E0405,
                    x.span,
                    format!("the variable of `{func}` must be a name"),
                )
                .with_primary_label("an expression, not a name")
                .with_help("bind it first (`h = ...`) and differentiate with respect to `h`"),
            );
            return None;
        }
        let before = self.collected.len();
        let ty = self.expr(x)?;
        // A bare dimension name is a constant, not a variable.
        let id = match self.collected.get(before..).and_then(|s| s.last()).copied() {
            Some(id)
                if matches!(
                    x.strip_parens().kind,
                    ExprKind::Name(_) | ExprKind::Member { .. }
                ) =>
            {
                id
            }
            _ => {
                self.report(
                    Diagnostic::error(
                        Code::E0405,
                        x.span,
                        format!("`{}` is a constant, not a variable", self.snip(x)),
                    )
                    .with_primary_label("nothing to differentiate with respect to"),
                );
                return None;
            }
        };
        // `x.T` is a path but not a variable.
        if let ExprKind::Member { member, .. } = &x.strip_parens().kind {
            if member.name == "T" && ty.elem == Elem::Float && !self.is_instance_path(x) {
                self.report(
                    Diagnostic::error(Code::E0405, x.span, format!("the variable of `{func}` must be a name, not a transpose"))
                        .with_primary_label("a transposed value")
                        .with_help("differentiate with respect to the tensor itself, then transpose the result"),
                );
                return None;
            }
        }
        if ty.elem == Elem::Int {
            self.report(
                Diagnostic::error(
                    Code::E0404,
                    x.span,
                    format!(
                        "cannot differentiate with respect to the int tensor {}",
                        self.quote(x.span)
                    ),
                )
                .with_primary_label(format!("this is {}", self.show(&ty)))
                .with_help("int tensors are labels; they have no derivative"),
            );
            return None;
        }
        Some((ty, id))
    }

    fn is_instance_path(&mut self, x: &Expr) -> bool {
        match x.as_path() {
            Some(path) => matches!(self.lookup(path[0].0), Some(Entity::Instance(_))),
            None => false,
        }
    }

    /// W0003 when every dimension has a value at check time and the result
    /// exceeds the default limit.
    fn warn_large_jacobian(&mut self, shape: &Shape, span: Span, name: &str) {
        let dims = &self.dims;
        let value = |d: super::dims::DimId| match dims.info(d).kind {
            DimKind::Global { default } => default,
            _ => None,
        };
        let mut factors = Vec::new();
        let mut elements: u128 = 1;
        for d in shape {
            let Some(v) = d.eval(&value) else { return };
            if v < 0 {
                return;
            }
            factors.push(v.to_string());
            elements = elements.saturating_mul(v as u128);
        }
        let bytes = elements.saturating_mul(4);
        if bytes <= DEFAULT_MAX_JACOBIAN_BYTES {
            return;
        }
        let shown = super::types::shape_display(shape, &self.dims);
        self.report(
            Diagnostic::warning(
                Code::W0003,
                span,
                format!(
                    "this {name} has shape {shown}: {} = {} values, {} as f32",
                    factors.join("·"),
                    thousands(elements),
                    human_bytes(bytes)
                ),
            )
            .with_primary_label(format!("{} as f32", human_bytes(bytes)))
            .with_help("it will be refused at run time above --max-jacobian-bytes (default 1 GiB); grad, vjp and jvp never form it"),
        );
    }
}

fn is_nonnegative_number(e: &Expr) -> bool {
    matches!(e.strip_parens().kind, ExprKind::Number(v) if v >= 0.0)
}

/// The shape after reducing `axes`.
fn reduce(t: &TensorTy, axes: &[usize], keepdims: bool) -> TensorTy {
    let shape = t
        .shape
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match (axes.contains(&i), keepdims) {
            (false, _) => Some(d.clone()),
            (true, true) => Some(Poly::constant(1)),
            (true, false) => None,
        })
        .collect();
    TensorTy::float(shape)
}

fn element_count(shape: &[Poly]) -> Option<Poly> {
    shape
        .iter()
        .try_fold(Poly::constant(1), |acc, d| acc.mul(d))
}

/// `256 GiB`, `1.5 MiB`, `12 B`.
pub fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn axes_word(k: usize) -> &'static str {
    if k == 1 {
        "axis"
    } else {
        "axes"
    }
}

/// `68719476736` as `68,719,476,736`.
pub fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
