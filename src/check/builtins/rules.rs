//! The symbolic shape rules of the builtin table: each takes the typed tensor
//! arguments and the evaluated options and gives the result type, or reports
//! why there is none.

use super::table::{BuiltinDef, Rule};
use crate::check::dims::Poly;
use crate::check::expr::WithOperands;
use crate::check::typed::{Attrs, Padding, TExpr};
use crate::check::types::{shape_display, Elem, TensorTy};
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
        let name_span = Span {
            start: span.start,
            end: span.start + def.name.len(),
        };
        match rule {
            Rule::Clip => {
                let lo =
                    self.broadcast_binary(&t[0].ty, &t[1].ty, t[0].span, t[1].span, name_span)?;
                self.broadcast_binary(&lo, &t[2].ty, t[0].span, t[2].span, name_span)
            }
            Rule::ArgReduce => Some(TensorTy {
                shape: reduce(&t[0].ty, &attrs.axes, false).shape,
                elem: Elem::Int,
            }),
            Rule::Accuracy => {
                self.labels_fit(&t[0], &t[1])?;
                Some(TensorTy::scalar())
            }
            Rule::Concat | Rule::Stack => self.join_rule(rule, def, t, attrs, span),
            Rule::Triangle => {
                if t[0].ty.rank() < 2 {
                    let shown = self.show(&t[0].ty);
                    self.report(
                        Diagnostic::error(
                            Code::E0304,
                            t[0].span,
                            format!("`{}` needs a tensor with at least two axes", def.name),
                        )
                        .with_primary_label(format!("this is {shown}")),
                    );
                    return None;
                }
                Some(t[0].ty.clone())
            }
            Rule::Arange => Some(TensorTy {
                shape: vec![attrs.size.clone()?],
                elem: Elem::Int,
            }),
            Rule::Eye => {
                let n = attrs.size.clone()?;
                Some(TensorTy::float(vec![n.clone(), n]))
            }
            Rule::Conv { spatial } => self.conv_rule(spatial, def, t, attrs),
            Rule::Pool => self.pool_rule(def, t, attrs, span),
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
                self.labels_fit(&t[0], &t[1])?;
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

    /// Labels `[..]` for logits `[.., C]` (E0315).
    fn labels_fit(&mut self, logits: &TExpr, labels: &TExpr) -> Option<()> {
        let (tl, tt) = (&logits.ty, &labels.ty);
        if tl.rank() == 0 || tl.shape[..tl.rank() - 1] != tt.shape[..] {
            let (sl, st) = (self.show(tl), self.show(tt));
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
        Some(())
    }

    /// `concat` and `stack` (E0341): the result shape, or a report naming the
    /// first tensor that does not fit the first one.
    fn join_rule(
        &mut self,
        rule: Rule,
        def: &BuiltinDef,
        t: &[TExpr],
        attrs: &Attrs,
        span: Span,
    ) -> Option<TensorTy> {
        let axis = *attrs.axes.first()?;
        let first = &t[0];
        let mut total = first
            .ty
            .shape
            .get(axis)
            .cloned()
            .unwrap_or(Poly::constant(0));
        for other in &t[1..] {
            let fits = match rule {
                Rule::Stack => other.ty.shape == first.ty.shape,
                _ => {
                    other.ty.rank() == first.ty.rank()
                        && other
                            .ty
                            .shape
                            .iter()
                            .zip(&first.ty.shape)
                            .enumerate()
                            .all(|(i, (a, b))| i == axis || a == b)
                }
            };
            if !fits {
                let (sa, sb) = (self.show(&first.ty), self.show(&other.ty));
                let (msg, help) = if rule == Rule::Stack {
                    (
                        format!("`stack` needs tensors of one shape, but {sa} and {sb} differ"),
                        "every tensor of a stack has the same shape".to_string(),
                    )
                } else {
                    (
                        format!("cannot concatenate {sa} and {sb} along axis {axis}"),
                        format!("every axis except axis {axis} must be equal; the lengths along axis {axis} are added"),
                    )
                };
                self.report(
                    Diagnostic::error(Code::E0341, other.span, msg)
                        .with_primary_label(format!("{} is {sb}", self.quote(other.span)))
                        .with_label(first.span, format!("{} is {sa}", self.quote(first.span)))
                        .with_help(help),
                );
                return None;
            }
            if rule == Rule::Concat {
                total = total.add(&other.ty.shape[axis]).or_else(|| {
                    self.report(
                        Diagnostic::error(Code::E0313, span, "dimension arithmetic overflows")
                            .with_primary_label("too large"),
                    );
                    None
                })?;
            }
        }
        let mut shape = first.ty.shape.clone();
        match rule {
            Rule::Stack => shape.insert(axis, Poly::constant(t.len() as i64)),
            _ => shape[axis] = total,
        }
        let _ = def;
        Some(TensorTy::float(shape))
    }

    /// The output length of a window axis: `(n + 2p - d (k - 1) - 1) / s + 1`, or
    /// `(n + s - 1) / s` for `same`: the floor division of shapes written by
    /// hand, so `dim Ho = (H - 1) / 2 + 1` is this length for a 3x3, stride-2,
    /// padding-1 convolution.
    fn window_len(n: &Poly, k: &Poly, s: i64, d: i64, pad: Option<i64>) -> Option<Poly> {
        let c = Poly::constant;
        match pad {
            None => n.add(&c(s - 1))?.floor_div(&c(s)),
            Some(p) => {
                let reach = c(d).mul(&k.sub(&c(1))?)?;
                let num = n.add(&c(2 * p - 1))?.sub(&reach)?;
                num.floor_div(&c(s))?.add(&c(1))
            }
        }
    }

    /// Whether a computed length is known to be below 1 (the window does not fit).
    fn too_short(len: &Poly) -> bool {
        len.as_const().is_some_and(|v| v < 1)
    }

    fn conv_rule(
        &mut self,
        spatial: usize,
        def: &BuiltinDef,
        t: &[TExpr],
        attrs: &Attrs,
    ) -> Option<TensorTy> {
        let (x, w) = (&t[0], &t[1]);
        let (rx, rw) = (x.ty.rank(), w.ty.rank());
        let layout = if spatial == 1 {
            ("[.., L, C]", "[K, C, O]")
        } else {
            ("[.., H, W, C]", "[KH, KW, C, O]")
        };
        let bad_rank = rx < spatial + 1 || rw != spatial + 2;
        if bad_rank || x.ty.shape[rx - 1] != w.ty.shape[spatial] {
            let (sx, sw) = (self.show(&x.ty), self.show(&w.ty));
            let msg = if bad_rank {
                format!(
                    "`{}` takes x {} and w {}, not {sx} and {sw}",
                    def.name, layout.0, layout.1
                )
            } else {
                let (cx, cw) = (
                    x.ty.shape[rx - 1].display(&self.dims),
                    w.ty.shape[spatial].display(&self.dims),
                );
                format!(
                    "`{}` of {sx} by {sw}: the input has {cx} channels, the weight expects {cw}",
                    def.name
                )
            };
            let mut d = Diagnostic::error(Code::E0340, w.span, msg)
                .with_primary_label(format!("{} is {sw}", self.quote(w.span)))
                .with_label(x.span, format!("{} is {sx}", self.quote(x.span)))
                .with_help(format!(
                    "channels last: x is {}, w is {}",
                    layout.0, layout.1
                ));
            if !bad_rank && rx >= 3 && spatial == 2 && x.ty.shape[rx - 3] == w.ty.shape[2] {
                d = d.with_help("the input looks channels-first ([N, C, H, W]); gradlang is channels last: transpose(x, [0, 2, 3, 1])");
            }
            self.report(d);
            return None;
        }
        let mut shape = x.ty.shape[..rx - 1 - spatial].to_vec();
        for a in 0..spatial {
            // conv1d keeps its numbers in the second (W) slot
            let slot = a + 2 - spatial;
            let pad = match attrs.padding {
                Padding::Same => None,
                Padding::Explicit(p) => Some(p[slot]),
            };
            let n = &x.ty.shape[rx - 1 - spatial + a];
            let k = &w.ty.shape[a];
            let len = Self::window_len(n, k, attrs.stride[slot], attrs.dilation[slot], pad);
            let Some(len) = len.filter(|l| !Self::too_short(l)) else {
                let (sx, sw) = (self.show(&x.ty), self.show(&w.ty));
                self.report(
                    Diagnostic::error(
                        Code::E0340,
                        w.span,
                        format!("the window of {sw} does not fit in {sx}"),
                    )
                    .with_primary_label(format!("{} is {sw}", self.quote(w.span)))
                    .with_label(x.span, format!("{} is {sx}", self.quote(x.span)))
                    .with_help(
                        "pad the input (`padding=same`) or use a smaller kernel or dilation",
                    ),
                );
                return None;
            };
            shape.push(len);
        }
        shape.push(w.ty.shape[spatial + 1].clone());
        Some(TensorTy::float(shape))
    }

    fn pool_rule(
        &mut self,
        def: &BuiltinDef,
        t: &[TExpr],
        attrs: &Attrs,
        span: Span,
    ) -> Option<TensorTy> {
        let x = &t[0];
        let r = x.ty.rank();
        if r < 3 {
            let sx = self.show(&x.ty);
            self.report(
                Diagnostic::error(
                    Code::E0340,
                    x.span,
                    format!("`{}` takes x [.., H, W, C], not {sx}", def.name),
                )
                .with_primary_label(format!("{} is {sx}", self.quote(x.span)))
                .with_help("channels last: windows slide over the two axes before the last"),
            );
            return None;
        }
        if let Padding::Explicit(p) = attrs.padding {
            if p[0] * 2 > attrs.window[0] || p[1] * 2 > attrs.window[1] {
                self.report(
                    Diagnostic::error(
                        Code::E0340,
                        span,
                        format!(
                            "`{}` padding {:?} is more than half the window {:?}",
                            def.name, p, attrs.window
                        ),
                    )
                    .with_primary_label("too much padding")
                    .with_help("padding may be at most half the window size (as in PyTorch)"),
                );
                return None;
            }
        }
        let mut shape = x.ty.shape[..r - 3].to_vec();
        for a in 0..2 {
            let pad = match attrs.padding {
                Padding::Same => None,
                Padding::Explicit(p) => Some(p[a]),
            };
            let n = &x.ty.shape[r - 3 + a];
            let k = Poly::constant(attrs.window[a]);
            let len = Self::window_len(n, &k, attrs.stride[a], 1, pad);
            let Some(len) = len.filter(|l| !Self::too_short(l)) else {
                let sx = self.show(&x.ty);
                self.report(
                    Diagnostic::error(
                        Code::E0340,
                        x.span,
                        format!(
                            "the {}x{} window does not fit in {sx}",
                            attrs.window[0], attrs.window[1]
                        ),
                    )
                    .with_primary_label(format!("{} is {sx}", self.quote(x.span)))
                    .with_help("use a smaller window or pad the input"),
                );
                return None;
            };
            shape.push(len);
        }
        shape.push(x.ty.shape[r - 1].clone());
        Some(TensorTy::float(shape))
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
