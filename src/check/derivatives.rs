//! Derivatives: the generalized Jacobian rules of the notes as type rules
//! (`grad`, `jacobian`, `vjp`, `jvp`, `hessian`), the variable a derivative is
//! taken with respect to, and the check-time warning for huge Jacobians.

use super::builtins::DEFAULT_MAX_JACOBIAN_BYTES;
use super::dims::DimKind;
use super::typed::{DerivativeKind, TExpr, TExprKind, TensorId};
use super::types::{Elem, Shape, TensorTy};
use super::Checker;
use crate::diagnostics::units::{human_bytes, thousands};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::Expr;

impl Checker<'_> {
    /// The generalized Jacobian rules as type rules. `args` are the call's
    /// positional arguments: `(y, x)` or `(y, x, v)`.
    pub(crate) fn derivative(
        &mut self,
        kind: DerivativeKind,
        args: &[&Expr],
        span: Span,
    ) -> Option<TExpr> {
        let name = kind.name();
        let (y, x, third) = (args[0], args[1], args.get(2).copied());
        let before = self.collected.len();
        let ty_y = self.expr(y);
        let y_deps: Vec<TensorId> = self.collected[before..].to_vec();
        let var = self.variable(x, name);
        let typed_third = third.map(|e| self.expr(e));
        let (typed_y, (ty_x, x_id)) = (ty_y?, var?);
        let typed_third = match typed_third {
            Some(t) => Some(t?),
            None => None,
        };
        let ty_y = typed_y.ty.clone();
        let ty_third = typed_third.as_ref().map(|t| t.ty.clone());
        if ty_y.elem != Elem::Float {
            self.require_float(&ty_y, y.span, &format!("`{name}`"))?;
        }
        let concat =
            |a: &Shape, b: &Shape| -> Shape { a.iter().chain(b.iter()).cloned().collect() };
        let result = match kind {
            DerivativeKind::Grad | DerivativeKind::Hessian => {
                if !ty_y.is_scalar() {
                    let sy = self.show(&ty_y);
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
                self.derivative_note(kind, span, y, x, &ty_y, &ty_x);
                if kind == DerivativeKind::Grad {
                    ty_x.shape.clone()
                } else {
                    concat(&ty_x.shape, &ty_x.shape)
                }
            }
            DerivativeKind::Jacobian => {
                self.derivative_note(kind, span, y, x, &ty_y, &ty_x);
                concat(&ty_y.shape, &ty_x.shape)
            }
            DerivativeKind::Vjp => {
                let tv = ty_third.as_ref()?;
                let v = third?;
                if tv.shape != ty_y.shape || tv.elem != Elem::Float {
                    let (sv, sy) = (self.show(tv), self.show(&ty_y));
                    self.report(
                        Diagnostic::error(Code::E0402, v.span, format!("the cotangent of `vjp` must have the shape of {} ({sy}), but it is {sv}", self.quote(y.span)))
                            .with_primary_label(format!("this is {sv}"))
                            .with_label(y.span, format!("{} is {sy}", self.quote(y.span)))
                            .with_help("vjp(y, x, v) multiplies v, shaped like y, by the Jacobian dy/dx; the result is shaped like x"),
                    );
                    return None;
                }
                self.derivative_note(kind, span, y, x, &ty_y, &ty_x);
                ty_x.shape.clone()
            }
            DerivativeKind::Jvp => {
                let tu = ty_third.as_ref()?;
                let u = third?;
                if tu.shape != ty_x.shape || tu.elem != Elem::Float {
                    let (su, sx) = (self.show(tu), self.show(&ty_x));
                    self.report(
                        Diagnostic::error(Code::E0403, u.span, format!("the tangent of `jvp` must have the shape of {} ({sx}), but it is {su}", self.quote(x.span)))
                            .with_primary_label(format!("this is {su}"))
                            .with_label(x.span, format!("{} is {sx}", self.quote(x.span)))
                            .with_help("jvp(y, x, u) multiplies the Jacobian dy/dx by u, shaped like x; the result is shaped like y"),
                    );
                    return None;
                }
                self.derivative_note(kind, span, y, x, &ty_y, &ty_x);
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
        if matches!(kind, DerivativeKind::Jacobian | DerivativeKind::Hessian) {
            self.warn_large_jacobian(&result, span, name);
        }
        Some(TExpr {
            kind: TExprKind::Derivative {
                kind,
                y: Box::new(typed_y),
                x: x_id,
                direction: typed_third.map(Box::new),
            },
            ty: TensorTy::float(result),
            span,
        })
    }

    fn snip(&self, e: &Expr) -> String {
        self.snippet(e.span).unwrap_or("...").to_string()
    }

    /// The rule the derivative's shape came from, worded only when shown
    /// ([`super::Note::Derivative`]).
    fn derivative_note(
        &mut self,
        kind: DerivativeKind,
        span: Span,
        y: &Expr,
        x: &Expr,
        ty_y: &TensorTy,
        ty_x: &TensorTy,
    ) {
        let note = super::Note::Derivative {
            kind,
            y: self.snip(y),
            x: self.snip(x),
            ty_y: ty_y.clone(),
            ty_x: ty_x.clone(),
        };
        self.out.notes.push((span, note));
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
        let typed = self.expr(x)?;
        let id = match &typed.kind {
            TExprKind::Tensor(id) => *id,
            // `x.T` is a path but not a variable.
            TExprKind::Transpose(_) => {
                self.report(
                    Diagnostic::error(Code::E0405, x.span, format!("the variable of `{func}` must be a name, not a transpose"))
                        .with_primary_label("a transposed value")
                        .with_help("differentiate with respect to the tensor itself, then transpose the result"),
                );
                return None;
            }
            // A bare dimension name is a constant, not a variable.
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
        let ty = typed.ty;
        if ty.elem != Elem::Float {
            let word = if ty.elem == Elem::Int { "int" } else { "bool" };
            self.report(
                Diagnostic::error(
                    Code::E0404,
                    x.span,
                    format!(
                        "cannot differentiate with respect to the {word} tensor {}",
                        self.quote(x.span)
                    ),
                )
                .with_primary_label(format!("this is {}", self.show(&ty)))
                .with_help("int and bool tensors are labels and masks; they have no derivative (`float(m)` converts a mask to 0/1)"),
            );
            return None;
        }
        Some((ty, id))
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
