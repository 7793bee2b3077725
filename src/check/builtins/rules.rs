//! The symbolic shape rules of the builtin table: each takes the typed tensor
//! arguments and the evaluated options and gives the result type, or reports
//! why there is none.

use super::table::{BuiltinDef, Rule};
use crate::check::dims::Poly;
use crate::check::expr::WithOperands;
use crate::check::typed::{Attrs, TExpr};
use crate::check::types::{shape_display, TensorTy};
use crate::check::Checker;
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::Expr;

impl Checker<'_> {
    pub(super) fn rule(
        &mut self,
        rule: Rule,
        def: &BuiltinDef,
        t: &[TExpr],
        attrs: &Attrs,
        positional: &[&Expr],
        span: Span,
    ) -> Option<TensorTy> {
        match rule {
            Rule::Elementwise | Rule::AlongAxis => Some(t[0].ty.clone()),
            Rule::Broadcast => {
                let op = positional.first().map(|_| span).unwrap_or(span);
                // The operator span of a call is its name: the first bytes of `span`.
                let name_span = Span {
                    start: op.start,
                    end: op.start + def.name.len(),
                };
                self.broadcast_binary(&t[0].ty, &t[1].ty, t[0].span, t[1].span, name_span)
            }
            Rule::Reduce => Some(reduce(&t[0].ty, &attrs.axes, attrs.keepdims)),
            Rule::Permute => Some(TensorTy {
                shape: attrs
                    .axes
                    .iter()
                    .map(|&p| t[0].ty.shape[p].clone())
                    .collect(),
                elem: t[0].ty.elem,
            }),
            Rule::Reshape => match attrs.infer {
                None => self.reshape_rule(&t[0], &attrs.shape, positional[1].span),
                Some(k) => self.reshape_infer(&t[0], &attrs.shape, k, positional[1].span),
            },
            Rule::CrossEntropy => {
                let (tl, tt) = (&t[0].ty, &t[1].ty);
                if tl.rank() == 0 || tl.shape[..tl.rank() - 1] != tt.shape[..] {
                    let (sl, st) = (self.show(tl), self.show(tt));
                    self.report(
                        Diagnostic::error(
                            Code::E0315,
                            t[1].span,
                            format!("labels {st} do not fit logits {sl}"),
                        )
                        .with_primary_label(format!("this is {st}"))
                        .with_label(t[0].span, format!("{} is {sl}", self.quote(t[0].span)))
                        .with_help("logits are [N, C] and labels [N] int: one class index per row"),
                    );
                    return None;
                }
                Some(TensorTy::scalar())
            }
            Rule::SameShapeToScalar => {
                self.same_shape(
                    &t[0].ty,
                    &t[1].ty,
                    t[0].span,
                    t[1].span,
                    def.name,
                    Code::E0315,
                )?;
                Some(TensorTy::scalar())
            }
            Rule::OneHot => {
                let mut shape = t[0].ty.shape.clone();
                shape.push(attrs.size.clone()?);
                Some(TensorTy::float(shape))
            }
            Rule::Tensordot => self.tensordot_rule(&t[0], &t[1], attrs.count, positional[2].span),
            Rule::Fill => Some(TensorTy::float(attrs.shape.clone())),
            Rule::Where => {
                let name_span = Span {
                    start: span.start,
                    end: span.start + def.name.len(),
                };
                let ab =
                    self.broadcast_binary(&t[1].ty, &t[2].ty, t[1].span, t[2].span, name_span)?;
                self.broadcast_binary(&t[0].ty, &ab, t[0].span, span, name_span)
            }
            Rule::ToFloat => Some(TensorTy::float(t[0].ty.shape.clone())),
            Rule::Take => {
                let axis = attrs.axes[0];
                let x = &t[0].ty.shape;
                let mut shape = x[..axis].to_vec();
                shape.extend(t[1].ty.shape.iter().cloned());
                shape.extend(x[axis + 1..].iter().cloned());
                Some(TensorTy::float(shape))
            }
            Rule::Gather => {
                let axis = attrs.axes[0];
                let mut without = t[0].ty.shape.clone();
                without.remove(axis);
                if without != t[1].ty.shape {
                    let (sx, si) = (self.show(&t[0].ty), self.show(&t[1].ty));
                    let want = self.show(&TensorTy {
                        shape: without,
                        elem: crate::check::types::Elem::Int,
                    });
                    self.report(
                        Diagnostic::error(
                            Code::E0315,
                            t[1].span,
                            format!("`gather` along axis {axis} of {sx} needs indices {want}, but they are {si}"),
                        )
                        .with_primary_label(format!("this is {si}"))
                        .with_label(t[0].span, format!("{} is {sx}", self.quote(t[0].span)))
                        .with_help("gather picks one element along the axis per position of the other axes (NumPy's `x[arange(N), y]`); for whole slices use `take`"),
                    );
                    return None;
                }
                Some(TensorTy::float(t[1].ty.shape.clone()))
            }
            Rule::Flatten => {
                let start = attrs.axes[0];
                let x = &t[0].ty.shape;
                let mut shape = x[..start].to_vec();
                let Some(merged) = element_count(&x[start..]) else {
                    self.report(
                        Diagnostic::error(Code::E0313, span, "dimension arithmetic overflows")
                            .with_primary_label("too large"),
                    );
                    return None;
                };
                shape.push(merged);
                Some(TensorTy::float(shape))
            }
        }
    }

    /// `reshape(x, [.., -1, ..])`: the `-1` is x's element count divided by the
    /// product of the others, which must divide it exactly (symbolically).
    fn reshape_infer(
        &mut self,
        x: &TExpr,
        target: &[Poly],
        hole: usize,
        shape_span: Span,
    ) -> Option<TensorTy> {
        let total = element_count(&x.ty.shape)?;
        let known = element_count(target)?;
        let q = total.floor_div(&known);
        let exact = q
            .as_ref()
            .and_then(|q| q.mul(&known))
            .is_some_and(|back| back == total);
        match q {
            Some(q) if exact => {
                let mut shape = target.to_vec();
                shape[hole] = q;
                Some(TensorTy::float(shape))
            }
            _ => {
                let sx = self.show(&x.ty);
                let (ct, ck) = (total.display(&self.dims), known.display(&self.dims));
                self.report(
                    Diagnostic::error(
                        Code::E0305,
                        shape_span,
                        format!("cannot infer the -1 of this reshape: {sx} has {ct} elements, which the other dimensions ({ck}) do not divide"),
                    )
                    .with_primary_label(format!("{ck} does not divide {ct}"))
                    .with_label(x.span, format!("{} is {sx}", self.quote(x.span)))
                    .with_help("the -1 must be a whole dimension expression: divide the element count exactly, or write the dimension out"),
                );
                None
            }
        }
    }

    fn reshape_rule(&mut self, x: &TExpr, target: &[Poly], shape_span: Span) -> Option<TensorTy> {
        let target_ty = TensorTy::float(target.to_vec());
        match (element_count(&x.ty.shape), element_count(target)) {
            (Some(a), Some(b)) if a == b => Some(target_ty),
            (Some(a), Some(b)) => {
                let (sa, sb) = (self.show(&x.ty), self.show(&target_ty));
                let (ca, cb) = (a.display(&self.dims), b.display(&self.dims));
                self.report(
                    Diagnostic::error(Code::E0305, shape_span, format!("cannot reshape {sa} ({ca} elements) to {sb} ({cb} elements)"))
                        .with_primary_label(format!("{cb} elements"))
                        .with_label(x.span, format!("{} is {sa}: {ca} elements", self.quote(x.span)))
                        .with_help("element counts are compared symbolically: the two shapes must have the same product of dimensions"),
                );
                None
            }
            _ => {
                self.report(
                    Diagnostic::error(Code::E0313, shape_span, "dimension arithmetic overflows")
                        .with_primary_label("too large"),
                );
                None
            }
        }
    }

    fn tensordot_rule(&mut self, a: &TExpr, b: &TExpr, k: usize, k_span: Span) -> Option<TensorTy> {
        let (ta, tb) = (&a.ty, &b.ty);
        if k > ta.rank() || k > tb.rank() || ta.shape[ta.rank() - k..] != tb.shape[..k] {
            let (sa, sb) = (self.show(ta), self.show(tb));
            let msg = if k > ta.rank() || k > tb.rank() {
                format!("cannot contract {k} axes of {sa} with {sb}")
            } else {
                let la = shape_display(&ta.shape[ta.rank() - k..], &self.dims);
                let fb = shape_display(&tb.shape[..k], &self.dims);
                format!("tensordot contracts the last {k} {} of {sa} ({la}) with the first {k} of {sb} ({fb}), which differ", axes_word(k))
            };
            self.report(
                Diagnostic::error(Code::E0311, k_span, msg)
                    .with_primary_label(format!("{k} contracted {}", axes_word(k)))
                    .with_operands(self, (a.span, ta), (b.span, tb)),
            );
            return None;
        }
        let mut shape = ta.shape[..ta.rank() - k].to_vec();
        shape.extend_from_slice(&tb.shape[k..]);
        Some(TensorTy::float(shape))
    }
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

fn axes_word(k: usize) -> &'static str {
    if k == 1 {
        "axis"
    } else {
        "axes"
    }
}
