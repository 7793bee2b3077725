//! W0006: a loss that sums over the example dimension without dividing by it.
//! Its value, its gradient and so the step size grow with the batch size, so
//! `--batch-size 256` silently trains with an eight times larger learning rate
//! than 32 (PyTorch's losses default to `reduction='mean'` for this reason).
//!
//! The analysis is a degree: how many times an expression has summed over the
//! example dimension `N` net of divisions by it. Per-example values have degree
//! 0; `sum` over an axis of `N` adds one, `mean` over it none, `/ N` takes one
//! away, `*` adds degrees, `+` takes the larger. A loss of degree 1 or more is
//! warned about.

use super::spec::TrainSpec;
use crate::check::builtins::Builtin;
use crate::check::dims::{DimId, Poly};
use crate::check::typed::{TExpr, TExprKind, TStmt, TensorId};
use crate::check::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::BinOp;
use std::collections::HashMap;

struct Degrees<'a> {
    over: DimId,
    values: HashMap<TensorId, &'a TExpr>,
    memo: HashMap<TensorId, i64>,
}

impl Degrees<'_> {
    fn tensor(&mut self, t: TensorId) -> i64 {
        if let Some(d) = self.memo.get(&t) {
            return *d;
        }
        self.memo.insert(t, 0); // no cycles in a checked program; be safe
        let d = match self.values.get(&t) {
            Some(e) => self.expr(e),
            None => 0, // inputs and params are per-example (or constant)
        };
        self.memo.insert(t, d);
        d
    }

    fn poly(&self, p: &Poly) -> i64 {
        // `N`, `2 * N`: the count of examples (degree 1); anything else 0.
        i64::from(p.vars().contains(&self.over))
    }

    fn mentions_over(&self, e: &TExpr, axes: &[usize]) -> bool {
        e.ty.shape
            .iter()
            .enumerate()
            .any(|(i, p)| (axes.is_empty() || axes.contains(&i)) && p.vars().contains(&self.over))
    }

    fn expr(&mut self, e: &TExpr) -> i64 {
        match &e.kind {
            TExprKind::Number(_) => 0,
            TExprKind::Dim(p) => self.poly(p),
            TExprKind::Tensor(t) => self.tensor(*t),
            TExprKind::Neg(x) | TExprKind::Transpose(x) => self.expr(x),
            TExprKind::Index { base, .. } => self.expr(base),
            TExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.expr(lhs), self.expr(rhs));
                match op {
                    BinOp::Mul => a + b,
                    BinOp::Div => a - b,
                    BinOp::MatMul => {
                        // `[.., N] @ [N, ..]` contracts (sums over) the examples.
                        let contracts = lhs
                            .ty
                            .shape
                            .last()
                            .is_some_and(|p| p.vars().contains(&self.over));
                        a + b + i64::from(contracts)
                    }
                    BinOp::Pow => match &rhs.kind {
                        TExprKind::Number(k) if k.fract() == 0.0 => a * (*k as i64),
                        _ => a,
                    },
                    _ => a.max(b),
                }
            }
            TExprKind::Builtin {
                builtin,
                args,
                attrs,
            } => {
                let inner = args.iter().map(|a| self.expr(a)).max().unwrap_or(0);
                match builtin {
                    Builtin::Sum
                        if args
                            .first()
                            .is_some_and(|a| self.mentions_over(a, &attrs.axes)) =>
                    {
                        inner + 1
                    }
                    _ => inner,
                }
            }
            TExprKind::Derivative { .. } => 0,
            TExprKind::Call { args, .. } => args.iter().map(|a| self.expr(a)).max().unwrap_or(0),
        }
    }
}

impl Checker<'_> {
    pub(super) fn warn_batch_scaled_loss(&mut self, spec: &TrainSpec) {
        let mut values = HashMap::new();
        for stmt in &self.out.stmts {
            if let TStmt::Binding { tensor, value } = stmt {
                values.insert(*tensor, value);
            }
        }
        let mut degrees = Degrees {
            over: spec.over,
            values,
            memo: HashMap::new(),
        };
        if degrees.tensor(spec.loss) < 1 {
            return;
        }
        let info = &self.out.tensors[spec.loss.0 as usize];
        let (name, span) = (info.name.clone(), info.span);
        let over = self.dims.name(spec.over).to_string();
        self.report(
            Diagnostic::warning(
                Code::W0006,
                span,
                format!("the loss `{name}` sums over `{over}` without dividing by it"),
            )
            .with_primary_label(format!("grows with the number of examples in a batch (`{over}`)"))
            .with_label(spec.over_span, format!("trained in batches along `{over}`"))
            .with_help(format!(
                "the step size would grow with the batch size: use `mean(..)`, or divide by `{over}`"
            )),
        );
    }
}
