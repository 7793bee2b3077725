//! Expressions: names, operators, member access and transposes.

use super::dims::Poly;
use super::typed::{TExpr, TExprKind, TIndex};
use super::types::{broadcast, Elem, Shape, TensorTy};
use super::{Checker, Entity};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::{BinOp, Expr, ExprKind, IndexItem};

/// Labels both operands of a binary operation with their shapes.
pub(crate) trait WithOperands {
    fn with_operands(self, c: &Checker<'_>, lhs: (Span, &TensorTy), rhs: (Span, &TensorTy))
        -> Self;
}

impl WithOperands for Diagnostic {
    fn with_operands(
        self,
        c: &Checker<'_>,
        (lspan, a): (Span, &TensorTy),
        (rspan, b): (Span, &TensorTy),
    ) -> Self {
        self.with_label(lspan, format!("{} is {}", c.quote(lspan), c.show(a)))
            .with_label(rspan, format!("{} is {}", c.quote(rspan), c.show(b)))
    }
}

impl Checker<'_> {
    /// The typed expression, or `None` when an error was reported in it (or in
    /// a declaration it uses).
    pub(crate) fn expr(&mut self, e: &Expr) -> Option<TExpr> {
        let typed = match &e.kind {
            ExprKind::Number(v) => Some(TExpr {
                kind: TExprKind::Number(*v),
                ty: TensorTy::scalar(),
                span: e.span,
            }),
            ExprKind::Bool(_) => {
                self.report(
                    Diagnostic::error(
                        Code::E0316,
                        e.span,
                        "`true` and `false` are only option values",
                    )
                    .with_primary_label("not a tensor")
                    .with_help("use them as options, for example `sum(x, axis=1, keepdims=true)`"),
                );
                None
            }
            ExprKind::List(_) => {
                self.report(
                    Diagnostic::error(Code::E0316, e.span, "a list is not a tensor here")
                        .with_primary_label("lists are shapes, axes or initializers")
                        .with_help("declare a constant tensor: `input c: [3] = [1, 2, 3]`"),
                );
                None
            }
            ExprKind::Name(n) => self.name_value(n, e.span),
            ExprKind::Paren(inner) => self.expr(inner).map(|t| TExpr { span: e.span, ..t }),
            ExprKind::Neg(inner) => {
                let t = self.expr(inner)?;
                self.require_float(&t.ty, inner.span, "negation")?;
                Some(TExpr {
                    ty: t.ty.clone(),
                    kind: TExprKind::Neg(Box::new(t)),
                    span: e.span,
                })
            }
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => self.binary(*op, *op_span, lhs, rhs, e.span),
            ExprKind::Call { callee, args } => self.call(callee, args, e.span),
            ExprKind::Member { base, member } => self.member(base, member, e.span),
            ExprKind::Index { base, items } => self.index(base, items, e.span),
        };
        if let Some(t) = &typed {
            self.record_type(e.span, &t.ty);
        }
        typed
    }

    fn name_value(&mut self, n: &str, span: Span) -> Option<TExpr> {
        let entity = self.lookup(n);
        if let Some(entity) = entity {
            self.reference(span, entity);
        }
        match entity {
            Some(Entity::Tensor(id)) => {
                let ty = self.tensor_ty(id)?.clone();
                self.collected.push(id);
                Some(TExpr {
                    kind: TExprKind::Tensor(id),
                    ty,
                    span,
                })
            }
            // A dimension in an expression is the scalar constant of its value.
            Some(Entity::Dim(id)) => Some(TExpr {
                kind: TExprKind::Dim(self.dim_symbol(id)?),
                ty: TensorTy::scalar(),
                span,
            }),
            Some(Entity::Instance(inst)) => {
                let info = &self.out.instances[inst.0 as usize];
                info.layer?;
                let def = info.span;
                self.report(
                    Diagnostic::error(
                        Code::E0204,
                        span,
                        format!("`{n}` is a layer instance, not a tensor"),
                    )
                    .with_primary_label("used as a value")
                    .with_label(def, "declared here")
                    .with_help(format!(
                        "call it (`{n}(x)`) or use one of its parameters (`{n}.W`)"
                    )),
                );
                None
            }
            Some(Entity::Layer(i)) => {
                let header = self.out.layers[i.0 as usize].header_span;
                self.report(
                    Diagnostic::error(Code::E0204, span, format!("`{n}` is a layer, not a tensor"))
                        .with_primary_label("used as a value")
                        .with_label(header, "declared here")
                        .with_help(format!(
                            "declare an instance (`f = {n}[...]`) and call it (`f(x)`)"
                        )),
                );
                None
            }
            None if super::predefined_constant(n).is_some() => Some(TExpr {
                kind: TExprKind::Number(super::predefined_constant(n).unwrap_or_default()),
                ty: TensorTy::scalar(),
                span,
            }),
            None => {
                if super::builtins::table::lookup(n).is_some() {
                    self.report(
                        Diagnostic::error(
                            Code::E0204,
                            span,
                            format!("`{n}` is a function, not a tensor"),
                        )
                        .with_primary_label("used as a value")
                        .with_help(format!("call it: `{n}(...)`")),
                    );
                } else {
                    self.unknown_name(n, span, "name");
                }
                None
            }
        }
    }

    pub(crate) fn require_float(&mut self, t: &TensorTy, span: Span, what: &str) -> Option<()> {
        if t.elem != Elem::Float {
            let shown = self.show(t);
            let word = if t.elem == Elem::Int { "int" } else { "bool" };
            self.report(
                Diagnostic::error(
                    Code::E0309,
                    span,
                    format!(
                        "{} is {} {word} tensor, but {what} needs a float tensor",
                        self.quote(span),
                        if t.elem == Elem::Int { "an" } else { "a" }
                    ),
                )
                .with_primary_label(format!("this is {shown}"))
                .with_help(if t.elem == Elem::Int {
                    "int tensors are class labels; `one_hot(labels, C)` or `float(t)` turns them into floats"
                } else {
                    "bool tensors are masks; use `where(mask, a, b)` to select, or `float(mask)` for 0/1"
                }),
            );
            return None;
        }
        Some(())
    }

    fn binary(
        &mut self,
        op: BinOp,
        op_span: Span,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> Option<TExpr> {
        let a = self.expr(lhs);
        let b = self.expr(rhs);
        let (a, b) = (a?, b?);
        if op.is_comparison() {
            return self.comparison(op, op_span, a, b, lhs, rhs, span);
        }
        let what = match op {
            BinOp::MatMul => "a matrix product",
            BinOp::Pow => "`**`",
            _ => "arithmetic",
        };
        let fa = self.require_float(&a.ty, lhs.span, what);
        let fb = self.require_float(&b.ty, rhs.span, what);
        fa?;
        fb?;
        let ty = match op {
            BinOp::MatMul => self.matmul(&a.ty, &b.ty, lhs.span, rhs.span, op_span)?,
            BinOp::Pow => {
                if !b.ty.is_scalar() {
                    let shown = self.show(&b.ty);
                    self.report(
                        Diagnostic::error(
                            Code::E0314,
                            rhs.span,
                            format!(
                                "the exponent of `**` must be a scalar, but it has shape {shown}"
                            ),
                        )
                        .with_primary_label(format!("this is {shown}"))
                        .with_help("for elementwise powers write `exp(b * log(a))`"),
                    );
                    return None;
                }
                a.ty.clone()
            }
            _ => self.broadcast_binary(&a.ty, &b.ty, lhs.span, rhs.span, op_span)?,
        };
        Some(TExpr {
            kind: TExprKind::Binary {
                op,
                lhs: Box::new(a),
                rhs: Box::new(b),
            },
            ty,
            span,
        })
    }

    /// `a < b` and the other comparisons: numbers (float or int, mixed) compare
    /// with numbers, `bool` with `bool` (`==`, `!=` only); the result is `bool`.
    #[allow(clippy::too_many_arguments)]
    fn comparison(
        &mut self,
        op: BinOp,
        op_span: Span,
        a: TExpr,
        b: TExpr,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> Option<TExpr> {
        let (ea, eb) = (a.ty.elem, b.ty.elem);
        let bools = ea == Elem::Bool || eb == Elem::Bool;
        if bools && (ea != eb || !matches!(op, BinOp::Eq | BinOp::Ne)) {
            let (sa, sb) = (self.show(&a.ty), self.show(&b.ty));
            let msg = if ea == eb {
                format!("`{}` does not order bool tensors", op.symbol())
            } else {
                format!(
                    "cannot compare {sa} with {sb}: a bool tensor compares only with a bool tensor"
                )
            };
            self.report(
                Diagnostic::error(Code::E0309, op_span, msg)
                    .with_primary_label("a bool operand")
                    .with_operands(self, (lhs.span, &a.ty), (rhs.span, &b.ty))
                    .with_help(
                        "`==` and `!=` compare masks; `float(mask)` turns a mask into 0/1 numbers",
                    ),
            );
            return None;
        }
        let ty = self.broadcast_binary(&a.ty, &b.ty, lhs.span, rhs.span, op_span)?;
        Some(TExpr {
            kind: TExprKind::Binary {
                op,
                lhs: Box::new(a),
                rhs: Box::new(b),
            },
            ty: TensorTy {
                shape: ty.shape,
                elem: Elem::Bool,
            },
            span,
        })
    }

    /// Elementwise operation with NumPy broadcasting; E0301 on a clash.
    pub(crate) fn broadcast_binary(
        &mut self,
        a: &TensorTy,
        b: &TensorTy,
        lspan: Span,
        rspan: Span,
        op_span: Span,
    ) -> Option<TensorTy> {
        match broadcast(&a.shape, &b.shape) {
            Ok(shape) => {
                if shape != a.shape
                    && shape != b.shape
                    && !a.is_scalar()
                    && !b.is_scalar()
                    && a.rank() != b.rank()
                {
                    let (sa, sb, sr) = (
                        self.show(a),
                        self.show(b),
                        self.show(&TensorTy::float(shape.clone())),
                    );
                    self.report(
                        Diagnostic::warning(Code::W0005, op_span, format!("broadcasting {sa} with {sb} gives {sr}"))
                            .with_primary_label(format!("result is {sr}, larger than either operand"))
                            .with_operands(self, (lspan, a), (rspan, b))
                            .with_help("this is often an accident (a [N, 1] column against a [N] vector); reshape one side if you meant elementwise"),
                    );
                }
                Some(TensorTy::float(shape))
            }
            Err(clash) => {
                let (sa, sb) = (self.show(a), self.show(b));
                let da = a.shape[clash.lhs_axis].display(&self.dims);
                let db = b.shape[clash.rhs_axis].display(&self.dims);
                let mut d = Diagnostic::error(
                    Code::E0301,
                    op_span,
                    format!("shapes {sa} and {sb} cannot be broadcast: {da} and {db} differ"),
                )
                .with_primary_label(format!("{da} vs {db}"))
                .with_operands(self, (lspan, a), (rspan, b));
                if let Some((help, (fs, fx))) = self.transpose_help_broadcast(a, b, lspan, rspan) {
                    d = d.with_help(help).with_suggestion(fs, fx);
                } else if let Some(help) =
                    self.literal_help(&a.shape[clash.lhs_axis], &b.shape[clash.rhs_axis])
                {
                    d = d.with_help(help);
                } else {
                    d = d.with_help("broadcasting pairs dimensions from the right; each pair must be equal or one of them the literal 1");
                }
                self.report(d);
                None
            }
        }
    }

    fn transpose_help_broadcast(
        &self,
        a: &TensorTy,
        b: &TensorTy,
        lspan: Span,
        rspan: Span,
    ) -> Option<(String, (Span, String))> {
        let rev = |s: &Shape| s.iter().rev().cloned().collect::<Shape>();
        if b.rank() >= 2 && broadcast(&a.shape, &rev(&b.shape)).is_ok() {
            let t = self.snippet(rspan)?;
            return Some((
                format!("did you mean `{t}.T`? {} has shape {}", t, self.show(b)),
                (rspan, super::suggest::transposed(t)),
            ));
        }
        if a.rank() >= 2 && broadcast(&rev(&a.shape), &b.shape).is_ok() {
            let t = self.snippet(lspan)?;
            return Some((
                format!("did you mean `{t}.T`? {} has shape {}", t, self.show(a)),
                (lspan, super::suggest::transposed(t)),
            ));
        }
        None
    }

    /// "write C instead of 10" when a literal meets a named dimension whose default it equals.
    pub(crate) fn literal_help(&self, x: &Poly, y: &Poly) -> Option<String> {
        let (lit, named) = match (x.as_const(), y.as_const()) {
            (Some(c), None) => (c, y),
            (None, Some(c)) => (c, x),
            _ => return None,
        };
        let v = named.as_var()?;
        match self.dims.info(v).kind {
            super::dims::DimKind::Global { default: Some(d) } if d == lit => Some(format!(
                "write {} instead of {lit}: a literal never equals a named dimension, even one whose value is {lit}",
                self.dims.name(v)
            )),
            _ => None,
        }
    }

    /// NumPy `matmul` shape rules.
    fn matmul(
        &mut self,
        a: &TensorTy,
        b: &TensorTy,
        lspan: Span,
        rspan: Span,
        op_span: Span,
    ) -> Option<TensorTy> {
        if a.is_scalar() || b.is_scalar() {
            let (span, t) = if a.is_scalar() {
                (lspan, a)
            } else {
                (rspan, b)
            };
            let shown = self.show(t);
            self.report(
                Diagnostic::error(
                    Code::E0303,
                    span,
                    format!(
                        "{} is a scalar; `@` needs at least one axis on each side",
                        self.quote(span)
                    ),
                )
                .with_primary_label(format!("this is {shown}"))
                .with_help("use `*` to scale by a scalar"),
            );
            return None;
        }
        let ka = a.shape[a.rank() - 1].clone();
        let kb_axis = if b.rank() == 1 { 0 } else { b.rank() - 2 };
        let kb = b.shape[kb_axis].clone();
        if ka != kb {
            let (sa, sb) = (self.show(a), self.show(b));
            let (da, db) = (ka.display(&self.dims), kb.display(&self.dims));
            let mut d = Diagnostic::error(
                Code::E0302,
                op_span,
                format!("cannot multiply {sa} by {sb}: the inner dimensions {da} and {db} differ"),
            )
            .with_primary_label(format!("{da} vs {db}"))
            .with_operands(self, (lspan, a), (rspan, b));
            if let Some(h) = self.matmul_mt_help(a, b, lspan, rspan) {
                d = d.with_help(h);
            } else if let Some((h, (fs, fx))) = self.matmul_transpose_help(a, b, lspan, rspan) {
                d = d.with_help(h).with_suggestion(fs, fx);
            } else if let Some(h) = self.literal_help(&ka, &kb) {
                d = d.with_help(h);
            } else {
                d = d.with_help("in `a @ b` the last axis of `a` must equal the first of the last two axes of `b`");
            }
            self.report(d);
            return None;
        }
        let shape = match (a.rank(), b.rank()) {
            (1, 1) => Vec::new(),
            (1, _) => {
                let mut s = b.shape[..b.rank() - 2].to_vec();
                s.push(b.shape[b.rank() - 1].clone());
                s
            }
            (_, 1) => a.shape[..a.rank() - 1].to_vec(),
            _ => {
                let batch = match broadcast(&a.shape[..a.rank() - 2], &b.shape[..b.rank() - 2]) {
                    Ok(s) => s,
                    Err(_) => {
                        let (sa, sb) = (self.show(a), self.show(b));
                        self.report(
                            Diagnostic::error(Code::E0302, op_span, format!("cannot multiply {sa} by {sb}: the batch dimensions cannot be broadcast"))
                                .with_primary_label("batch dimensions differ")
                                .with_operands(self, (lspan, a), (rspan, b)),
                        );
                        return None;
                    }
                };
                let mut s = batch;
                s.push(a.shape[a.rank() - 2].clone());
                s.push(b.shape[b.rank() - 1].clone());
                s
            }
        };
        Some(TensorTy::float(shape))
    }

    /// Batched operands (rank > 2) where swapping the last two axes of one side
    /// fits: `.mT`, since `.T` would reverse the batch axes too.
    fn matmul_mt_help(
        &self,
        a: &TensorTy,
        b: &TensorTy,
        lspan: Span,
        rspan: Span,
    ) -> Option<String> {
        if a.rank() < 2 || b.rank() < 2 || (a.rank() <= 2 && b.rank() <= 2) {
            return None;
        }
        let ka = &a.shape[a.rank() - 1];
        let rsnip = self.snippet(rspan).unwrap_or("");
        // `k.T` was written: the operand before the transpose is the reverse.
        let b_orig: Vec<_> = if rsnip.ends_with(".T") {
            b.shape.iter().rev().cloned().collect()
        } else {
            b.shape.clone()
        };
        if &b_orig[b_orig.len() - 1] == ka {
            let t = self.snippet(rspan)?;
            let l = self.snippet(lspan).unwrap_or("a");
            let base = t.strip_suffix(".T").unwrap_or(t);
            return Some(format!(
                "did you mean `{l} @ {base}.mT`? `.mT` swaps the last two axes (`.T` reverses all of them, batch axes included)"
            ));
        }
        if a.shape[a.rank() - 2] == b.shape[b.rank() - 2] {
            let t = self.snippet(lspan)?;
            let base = t.strip_suffix(".T").unwrap_or(t);
            return Some(format!(
                "did you mean `{base}.mT`? `.mT` swaps the last two axes (`.T` reverses all of them, batch axes included)"
            ));
        }
        None
    }

    fn matmul_transpose_help(
        &self,
        a: &TensorTy,
        b: &TensorTy,
        lspan: Span,
        rspan: Span,
    ) -> Option<(String, (Span, String))> {
        let ka = &a.shape[a.rank() - 1];
        if b.rank() == 2 && &b.shape[1] == ka {
            let t = self.snippet(rspan)?;
            let l = self.snippet(lspan).unwrap_or("a");
            let mut result = a.shape[..a.rank() - 1].to_vec();
            result.push(b.shape[0].clone());
            return Some((
                format!(
                    "did you mean `{t}.T`? `{l} @ {t}.T` has shape {}",
                    self.show(&TensorTy::float(result))
                ),
                (rspan, super::suggest::transposed(t)),
            ));
        }
        let kb = if b.rank() == 1 {
            &b.shape[0]
        } else {
            &b.shape[b.rank() - 2]
        };
        if a.rank() == 2 && &a.shape[0] == kb {
            let t = self.snippet(lspan)?;
            return Some((
                format!(
                    "did you mean `{t}.T`? {t}.T has shape {}",
                    self.show(&TensorTy::float(a.shape.iter().rev().cloned().collect()))
                ),
                (lspan, super::suggest::transposed(t)),
            ));
        }
        None
    }

    /// `x[i, a:b:s]` (SPEC section 5): symbolic result shape, bounds known to be
    /// outside the axis refused.
    fn index(&mut self, base: &Expr, items: &[IndexItem], span: Span) -> Option<TExpr> {
        let t = self.expr(base)?;
        let mut bounds_ok = true;
        // Bounds first, so that a tensor used as an index is reported as such.
        let mut parsed = Vec::new();
        for item in items {
            let p = match item {
                IndexItem::Single(e) => {
                    self.index_bound(e, &t, base).map(|b| (Some(b), None, None))
                }
                IndexItem::Slice {
                    start, stop, step, ..
                } => {
                    let s = start.as_ref().map(|e| self.index_bound(e, &t, base));
                    let e = stop.as_ref().map(|e| self.index_bound(e, &t, base));
                    let st = step.as_ref().map(|e| self.index_bound(e, &t, base));
                    match (s, e, st) {
                        (Some(None), _, _) | (_, Some(None), _) | (_, _, Some(None)) => None,
                        (s, e, st) => Some((s.flatten(), e.flatten(), Some(st.flatten()))),
                    }
                }
            };
            bounds_ok &= p.is_some();
            parsed.push(p);
        }
        if !bounds_ok {
            return None;
        }
        if t.ty.elem == Elem::Int {
            self.report(
                Diagnostic::error(
                    Code::E0332,
                    base.span,
                    format!(
                        "{} is an int tensor, which cannot be indexed yet",
                        self.quote(base.span)
                    ),
                )
                .with_primary_label(format!("this is {}", self.show(&t.ty)))
                .with_help("index the float tensor the labels select from with `take` or `gather`"),
            );
            return None;
        }
        if items.len() > t.ty.rank() {
            let shown = self.show(&t.ty);
            self.report(
                Diagnostic::error(
                    Code::E0332,
                    items[t.ty.rank()].span(),
                    format!(
                        "too many indices: {} is {shown}, with {} axes, but {} are indexed",
                        self.quote(base.span),
                        t.ty.rank(),
                        items.len()
                    ),
                )
                .with_primary_label("no axis left for this index")
                .with_label(base.span, format!("{} is {shown}", self.quote(base.span))),
            );
            return None;
        }
        let mut shape = Vec::new();
        let mut out = Vec::new();
        for (axis, (item, p)) in items.iter().zip(parsed).enumerate() {
            let (b, e, step) = p?;
            let len = t.ty.shape[axis].clone();
            match step {
                None => {
                    let i = b?;
                    let norm = self.counted_from_end(&i, &len)?;
                    // outside when i >= len or i < 0 (known at check time)
                    let beyond = norm
                        .sub(&len)
                        .and_then(|d| d.as_const())
                        .is_some_and(|d| d >= 0);
                    let below = norm.as_const().is_some_and(|c| c < 0);
                    if beyond || below {
                        self.out_of_range(item.span(), &i, &len, axis, base, &t.ty, "index");
                        return None;
                    }
                    out.push(TIndex::Single(i));
                }
                Some(step) => {
                    let s = match step {
                        None => 1,
                        Some(p) => match p.as_const() {
                            Some(k) if k >= 1 => k,
                            _ => {
                                let shown = p.display(&self.dims);
                                self.report(
                                    Diagnostic::error(Code::E0332, item.span(), format!("a slice step must be a positive integer, not {shown}"))
                                        .with_primary_label("invalid step")
                                        .with_help("steps are integers of at least 1 (negative steps are not supported)"),
                                );
                                return None;
                            }
                        },
                    };
                    let start = match &b {
                        Some(b) => {
                            let n = self.counted_from_end(b, &len)?;
                            self.check_slice_bound(item.span(), b, &n, &len, axis, base, &t.ty)?;
                            n
                        }
                        None => Poly::constant(0),
                    };
                    let stop = match &e {
                        Some(e) => {
                            let n = self.counted_from_end(e, &len)?;
                            self.check_slice_bound(item.span(), e, &n, &len, axis, base, &t.ty)?;
                            n
                        }
                        None => len.clone(),
                    };
                    let diff = stop.sub(&start)?;
                    let n = if s == 1 {
                        diff
                    } else {
                        diff.add(&Poly::constant(s - 1))?
                            .floor_div(&Poly::constant(s))?
                    };
                    if n.as_const().is_some_and(|c| c < 1) {
                        let shown = n.display(&self.dims);
                        self.report(
                            Diagnostic::error(
                                Code::E0331,
                                item.span(),
                                format!("this slice of axis {axis} is empty (length {shown})"),
                            )
                            .with_primary_label("selects no element")
                            .with_label(
                                base.span,
                                format!("{} is {}", self.quote(base.span), self.show(&t.ty)),
                            )
                            .with_help("dimensions are at least 1: a slice must select an element"),
                        );
                        return None;
                    }
                    shape.push(n.clone());
                    out.push(TIndex::Slice {
                        start: b,
                        stop: e,
                        step: s,
                        len: n,
                    });
                }
            }
        }
        shape.extend(t.ty.shape[items.len()..].iter().cloned());
        Some(TExpr {
            ty: TensorTy {
                shape,
                elem: t.ty.elem,
            },
            kind: TExprKind::Index {
                base: Box::new(t),
                items: out,
            },
            span,
        })
    }

    /// A negative constant counts from the end.
    fn counted_from_end(&mut self, b: &Poly, len: &Poly) -> Option<Poly> {
        match b.as_const() {
            Some(c) if c < 0 => len.add(b),
            _ => Some(b.clone()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_slice_bound(
        &mut self,
        span: Span,
        written: &Poly,
        norm: &Poly,
        len: &Poly,
        axis: usize,
        base: &Expr,
        ty: &TensorTy,
    ) -> Option<()> {
        let beyond = norm
            .sub(len)
            .and_then(|d| d.as_const())
            .is_some_and(|d| d > 0);
        let below = norm.as_const().is_some_and(|c| c < 0);
        if beyond || below {
            self.out_of_range(span, written, len, axis, base, ty, "slice bound");
            return None;
        }
        Some(())
    }

    #[allow(clippy::too_many_arguments)]
    fn out_of_range(
        &mut self,
        span: Span,
        written: &Poly,
        len: &Poly,
        axis: usize,
        base: &Expr,
        ty: &TensorTy,
        what: &str,
    ) {
        let (w, l, shown) = (
            written.display(&self.dims),
            len.display(&self.dims),
            self.show(ty),
        );
        self.report(
            Diagnostic::error(
                Code::E0331,
                span,
                format!(
                    "{what} {w} is outside axis {axis} of {} (length {l})",
                    self.quote(base.span)
                ),
            )
            .with_primary_label(format!("outside 0..{l}"))
            .with_label(base.span, format!("{} is {shown}", self.quote(base.span)))
            .with_help(match len.as_const() {
                Some(n) => format!(
                    "indices run from 0 to {}, or from -{n} to -1 counting from the end",
                    n - 1
                ),
                None => format!(
                    "indices run from 0 to {l} - 1, or from -{l} to -1 counting from the end"
                ),
            }),
        );
    }

    /// An index or slice bound: an integer or a dimension expression. A tensor
    /// here is indexing with tensors, which is `take`/`gather`.
    fn index_bound(&mut self, e: &Expr, t: &TExpr, base: &Expr) -> Option<Poly> {
        if let Ok(v) = super::consts::int(e) {
            return Some(Poly::constant(v));
        }
        if let Some((name, nspan)) = self.first_tensor_name(e) {
            let base_text = self.snippet(base.span).unwrap_or("x");
            let idx = self.snippet(e.span).unwrap_or(name.as_str()).to_string();
            let d = Diagnostic::error(
                Code::E0332,
                e.span,
                format!("`{name}` is a tensor: indexing with tensors is `take` or `gather`"),
            )
            .with_primary_label("a tensor used as an index");
            let d = if nspan == e.span {
                d
            } else {
                d.with_label(nspan, format!("`{name}` is a tensor"))
            };
            let d = d.with_label(base.span, format!("{} is {}", self.quote(base.span), self.show(&t.ty)))
                .with_help(format!(
                    "rows at int indices: `take({base_text}, {idx}, axis=0)`; one element per row (NumPy's `x[arange(N), y]`): `gather({base_text}, {idx})`"
                ));
            self.report(d);
            return None;
        }
        let _ = t;
        self.index_dim_expr(e)
    }

    /// A dimension expression that may use `/` and negative constants.
    fn index_dim_expr(&mut self, e: &Expr) -> Option<Poly> {
        match &e.kind {
            ExprKind::Paren(inner) => self.index_dim_expr(inner),
            ExprKind::Neg(inner) => Poly::constant(0).sub(&self.index_dim_expr(inner)?),
            ExprKind::Binary { op, lhs, rhs, .. }
                if matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) =>
            {
                let a = self.index_dim_expr(lhs);
                let b = self.index_dim_expr(rhs);
                let (a, b) = (a?, b?);
                let r = match op {
                    BinOp::Add => a.add(&b),
                    BinOp::Sub => a.sub(&b),
                    BinOp::Mul => a.mul(&b),
                    _ => return self.dim_div(&a, &b, rhs.span),
                };
                if r.is_none() {
                    self.report(
                        Diagnostic::error(Code::E0313, e.span, "dimension arithmetic overflows")
                            .with_primary_label("too large"),
                    );
                }
                r
            }
            ExprKind::Number(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => {
                Some(Poly::constant(*v as i64))
            }
            _ => self.dim_poly(e, false),
        }
    }

    /// The first name in `e` that is a tensor (or an instance parameter).
    fn first_tensor_name(&mut self, e: &Expr) -> Option<(String, Span)> {
        match &e.kind {
            ExprKind::Name(n) => match self.lookup(n) {
                Some(Entity::Tensor(_)) | Some(Entity::Instance(_)) => Some((n.clone(), e.span)),
                _ => None,
            },
            ExprKind::Paren(x) | ExprKind::Neg(x) => self.first_tensor_name(x),
            ExprKind::Binary { lhs, rhs, .. } => self
                .first_tensor_name(lhs)
                .or_else(|| self.first_tensor_name(rhs)),
            ExprKind::Member { base, .. } | ExprKind::Index { base, .. } => {
                self.first_tensor_name(base)
            }
            ExprKind::Call { callee, .. } => self.first_tensor_name(callee).or_else(|| {
                let text = self.snippet(e.span).unwrap_or("this call").to_string();
                Some((text, e.span))
            }),
            _ => None,
        }
    }

    /// `x.T` (transpose) or an instance parameter (`fc1.W`, `fc1.inner.W`).
    fn member(
        &mut self,
        base: &Expr,
        member: &crate::syntax::ast::Ident,
        span: Span,
    ) -> Option<TExpr> {
        if let Some(path) = path_of(base, member) {
            let (root, root_span) = path[0];
            // `fc1.W.T` is the transpose of `fc1.W`.
            let transposed_member = member.name == "T" && path.len() > 2;
            if let Some(Entity::Instance(id)) = self.lookup(root).filter(|_| !transposed_member) {
                self.reference(root_span, Entity::Instance(id));
                return self.instance_member(id, root, &path[1..], member, span);
            }
        }
        let t = self.expr(base)?;
        if member.name == "mT" {
            let rank = t.ty.rank();
            if rank < 2 {
                let shown = self.show(&t.ty);
                self.report(
                    Diagnostic::error(
                        Code::E0304,
                        member.span,
                        format!(
                            "`.mT` swaps the last two axes, but {} is {shown}",
                            self.quote(base.span)
                        ),
                    )
                    .with_primary_label("needs at least two axes")
                    .with_help("`.T` reverses all axes; a vector needs no transpose"),
                );
                return None;
            }
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.swap(rank - 2, rank - 1);
            let mut shape = t.ty.shape.clone();
            shape.swap(rank - 2, rank - 1);
            return Some(TExpr {
                ty: TensorTy {
                    shape,
                    elem: t.ty.elem,
                },
                kind: TExprKind::Builtin {
                    builtin: super::builtins::Builtin::Transpose,
                    args: vec![t],
                    attrs: super::typed::Attrs {
                        axes: perm,
                        ..Default::default()
                    },
                },
                span,
            });
        }
        if member.name == "T" {
            return Some(TExpr {
                ty: TensorTy {
                    shape: t.ty.shape.iter().rev().cloned().collect(),
                    elem: t.ty.elem,
                },
                kind: TExprKind::Transpose(Box::new(t)),
                span,
            });
        }
        self.report(
            Diagnostic::error(Code::E0205, member.span, format!("a tensor has no member `{}`", member.name))
                .with_primary_label("unknown member")
                .with_help("the members of a tensor are `.T` (all axes reversed) and `.mT` (the last two swapped); members like `fc1.W` belong to layer instances"),
        );
        None
    }

    /// `fc1.W` or `fc1.inner.W`: the instance parameter `rel` of instance `id`.
    fn instance_member(
        &mut self,
        id: super::typed::InstanceId,
        root: &str,
        rel_path: &[(&str, Span)],
        member: &crate::syntax::ast::Ident,
        span: Span,
    ) -> Option<TExpr> {
        let inst = self.out.instances[id.0 as usize].clone();
        let layer = inst.layer?;
        let rel: Vec<&str> = rel_path.iter().map(|(n, _)| *n).collect();
        let rel = rel.join(".");
        if let Some((k, (_, ty, tid))) = inst
            .params
            .iter()
            .enumerate()
            .find(|(_, (n, _, _))| *n == rel)
        {
            self.collected.push(*tid);
            // `W` in `fc1.W` refers to the declaration in the layer body.
            let def = self.out.layers[layer.0 as usize].state[k].def;
            self.reference(member.span, Entity::Tensor(def));
            return Some(TExpr {
                kind: TExprKind::Tensor(*tid),
                ty: ty.clone(),
                span,
            });
        }
        let prefix = format!("{rel}.");
        if let Some((first, _, _)) = inst.params.iter().find(|(n, _, _)| n.starts_with(&prefix)) {
            self.report(
                Diagnostic::error(
                    Code::E0204,
                    span,
                    format!("`{root}.{rel}` is a nested instance, not a tensor"),
                )
                .with_primary_label("used as a value")
                .with_help(format!(
                    "use one of its parameters, such as `{root}.{first}`"
                )),
            );
            return None;
        }
        let names: Vec<&str> = inst.params.iter().map(|(n, _, _)| n.as_str()).collect();
        let layer_name = self.out.layers[layer.0 as usize].name.clone();
        let mut d = Diagnostic::error(
            Code::E0205,
            member.span,
            format!("instance `{root}` of `{layer_name}` has no parameter `{rel}`"),
        )
        .with_primary_label("unknown member")
        .with_label(inst.span, "instance declared here");
        if let Some(best) = super::suggest::closest(&rel, names.iter().copied()) {
            let rel_span = match (rel_path.first(), rel_path.last()) {
                (Some((_, a)), Some((_, b))) => a.to(*b),
                _ => member.span,
            };
            d = d
                .with_help(format!("did you mean `{root}.{best}`?"))
                .with_suggestion(rel_span, best);
        } else if !names.is_empty() {
            d = d.with_help(format!("its parameters are: {}", names.join(", ")));
        }
        self.report(d);
        None
    }
}

/// `base.member` as a path of names (`fc1.inner.W`), if it is one.
fn path_of<'e>(
    base: &'e Expr,
    member: &'e crate::syntax::ast::Ident,
) -> Option<Vec<(&'e str, Span)>> {
    let mut path = base.as_path()?;
    path.push((member.name.as_str(), member.span));
    Some(path)
}
