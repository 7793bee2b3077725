//! `gradlang gradcheck`: every `grad`, `vjp` and `jvp` of a program against
//! central finite differences in f64, along random directions (as JAX's
//! `check_grads` does), so the cost is a few evaluations per derivative.

use super::init::rng_for;
use super::lower::DerivativeSite;
use super::{Prepared, RunError};
use crate::check::typed::DerivativeKind;
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::graph::{evaluate, NodeId, Value};
use ndarray::ArrayD;
use std::collections::HashMap;

/// Step of the central differences (f64).
pub const EPS: f64 = 1e-6;
/// A derivative passes when its relative error is below this...
pub const REL_TOLERANCE: f64 = 1e-5;
/// ...or its absolute error below this (for values near zero).
pub const ABS_TOLERANCE: f64 = 1e-8;

pub struct CheckedDerivative {
    pub span: Span,
    pub kind: DerivativeKind,
    pub max_rel_error: f64,
    pub max_abs_error: f64,
    /// A finite difference or a derivative was NaN or infinite: never a pass.
    pub non_finite: bool,
    pub passed: bool,
}

pub fn gradcheck(
    prepared: &Prepared,
    leaves: &HashMap<NodeId, Value<f64>>,
    seed: u64,
    directions: usize,
) -> Result<Vec<CheckedDerivative>, RunError> {
    prepared
        .lowered
        .derivatives
        .iter()
        .enumerate()
        .map(|(i, site)| check_site(prepared, leaves, site, seed, i, directions))
        .collect()
}

fn float(v: Value<f64>, span: Span) -> Result<ArrayD<f64>, RunError> {
    match v {
        Value::Float(a) => Ok(a),
        Value::Int(_) => Err(Diagnostic::error(
            Code::E0699,
            span,
            "internal error: a derivative of an int value",
        )
        .into()),
    }
}

fn eval(
    prepared: &Prepared,
    leaves: &HashMap<NodeId, Value<f64>>,
    outputs: &[NodeId],
    overrides: &HashMap<NodeId, Value<f64>>,
    span: Span,
) -> Result<Vec<ArrayD<f64>>, RunError> {
    let values = evaluate(&prepared.lowered.graph, leaves, outputs, overrides).map_err(|e| {
        RunError::from(
            Diagnostic::error(
                Code::E0699,
                span,
                format!("internal error while evaluating: {e}"),
            )
            .with_primary_label("this derivative"),
        )
    })?;
    values.into_iter().map(|v| float(v, span)).collect()
}

fn dot(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

fn check_site(
    prepared: &Prepared,
    leaves: &HashMap<NodeId, Value<f64>>,
    site: &DerivativeSite,
    seed: u64,
    index: usize,
    directions: usize,
) -> Result<CheckedDerivative, RunError> {
    let span = site.span;
    let mut outputs = vec![site.x, site.result];
    outputs.extend(site.direction);
    let base = eval(prepared, leaves, &outputs, &HashMap::new(), span)?;
    let (x0, result) = (&base[0], &base[1]);
    let direction_value = base.get(2);
    let (mut max_rel, mut max_abs) = (0.0f64, 0.0f64);
    let mut non_finite = false;
    // A jvp is checked along its own tangent; grad and vjp along random directions.
    let rounds = if site.kind == DerivativeKind::Jvp {
        1
    } else {
        directions.max(1)
    };
    for k in 0..rounds {
        let d: ArrayD<f64> = match (site.kind, direction_value) {
            (DerivativeKind::Jvp, Some(u)) => u.clone(),
            _ => {
                let mut rng = rng_for(seed, &format!("gradcheck/{index}/{k}"));
                x0.mapv(|_| rng.normal())
            }
        };
        let shifted = |sign: f64| -> Result<ArrayD<f64>, RunError> {
            let x = x0 + &(d.mapv(|v| sign * EPS * v));
            let overrides = HashMap::from([(site.x, Value::Float(x))]);
            Ok(eval(prepared, leaves, &[site.y], &overrides, span)?.remove(0))
        };
        let (plus, minus) = (shifted(1.0)?, shifted(-1.0)?);
        let fd = (&plus - &minus).mapv(|v| v / (2.0 * EPS));
        let (numeric, analytic): (Vec<f64>, Vec<f64>) = match site.kind {
            DerivativeKind::Grad => (vec![fd.sum()], vec![dot(result, &d)]),
            DerivativeKind::Vjp => {
                let v = direction_value.cloned().unwrap_or_else(|| fd.mapv(|_| 1.0));
                (vec![dot(&v, &fd)], vec![dot(result, &d)])
            }
            DerivativeKind::Jvp => (
                fd.iter().copied().collect(),
                result.iter().copied().collect(),
            ),
            // Materialized derivatives are not derivative sites (lowering
            // records grad, vjp and jvp only).
            DerivativeKind::Jacobian | DerivativeKind::Hessian => continue,
        };
        let scale = numeric
            .iter()
            .chain(&analytic)
            .fold(0.0f64, |m, v| m.max(v.abs()));
        // `f64::max` ignores NaN: a NaN error must not vanish into a pass.
        non_finite |= !numeric.iter().chain(&analytic).all(|v| v.is_finite());
        for (n, a) in numeric.iter().zip(&analytic) {
            let abs = (n - a).abs();
            max_abs = max_abs.max(abs);
            max_rel = max_rel.max(if scale > 0.0 { abs / scale } else { 0.0 });
        }
    }
    Ok(CheckedDerivative {
        span,
        kind: site.kind,
        max_rel_error: max_rel,
        max_abs_error: max_abs,
        non_finite,
        passed: !non_finite && (max_rel < REL_TOLERANCE || max_abs < ABS_TOLERANCE),
    })
}
