//! Expressions: names, operators, member access and transposes.

use super::dims::Poly;
use super::typed::{TExpr, TExprKind};
use super::types::{broadcast, Elem, Shape, TensorTy};
use super::{Checker, Entity};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::{BinOp, Expr, ExprKind};

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
                kind: TExprKind::Dim(Poly::var(id)),
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
        if t.elem == Elem::Int {
            let shown = self.show(t);
            self.report(
                Diagnostic::error(
                    Code::E0309,
                    span,
                    format!(
                        "{} is an int tensor, but {what} needs a float tensor",
                        self.quote(span)
                    ),
                )
                .with_primary_label(format!("this is {shown}"))
                .with_help(
                    "int tensors are class labels; `one_hot(labels, C)` turns them into floats",
                ),
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
                if let Some(help) = self.transpose_help_broadcast(a, b, lspan, rspan) {
                    d = d.with_help(help);
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
    ) -> Option<String> {
        let rev = |s: &Shape| s.iter().rev().cloned().collect::<Shape>();
        if b.rank() >= 2 && broadcast(&a.shape, &rev(&b.shape)).is_ok() {
            let t = self.snippet(rspan)?;
            return Some(format!(
                "did you mean `{t}.T`? {} has shape {}",
                t,
                self.show(b)
            ));
        }
        if a.rank() >= 2 && broadcast(&rev(&a.shape), &b.shape).is_ok() {
            let t = self.snippet(lspan)?;
            return Some(format!(
                "did you mean `{t}.T`? {} has shape {}",
                t,
                self.show(a)
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
            if let Some(h) = self.matmul_transpose_help(a, b, lspan, rspan) {
                d = d.with_help(h);
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

    fn matmul_transpose_help(
        &self,
        a: &TensorTy,
        b: &TensorTy,
        lspan: Span,
        rspan: Span,
    ) -> Option<String> {
        let ka = &a.shape[a.rank() - 1];
        if b.rank() == 2 && &b.shape[1] == ka {
            let t = self.snippet(rspan)?;
            let l = self.snippet(lspan).unwrap_or("a");
            let mut result = a.shape[..a.rank() - 1].to_vec();
            result.push(b.shape[0].clone());
            return Some(format!(
                "did you mean `{t}.T`? `{l} @ {t}.T` has shape {}",
                self.show(&TensorTy::float(result))
            ));
        }
        let kb = if b.rank() == 1 {
            &b.shape[0]
        } else {
            &b.shape[b.rank() - 2]
        };
        if a.rank() == 2 && &a.shape[0] == kb {
            let t = self.snippet(lspan)?;
            return Some(format!(
                "did you mean `{t}.T`? {t}.T has shape {}",
                self.show(&TensorTy::float(a.shape.iter().rev().cloned().collect()))
            ));
        }
        None
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
                .with_help("the only member of a tensor is `.T` (transpose); members like `fc1.W` belong to layer instances"),
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
            d = d.with_help(format!("did you mean `{root}.{best}`?"));
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
