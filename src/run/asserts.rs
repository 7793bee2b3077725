//! `assert close(a, b)` at run time: NumPy's `allclose`, and a failure message
//! that says where the largest differences are.

use super::lower::AssertClose;
use crate::diagnostics::{Code, Diagnostic};
use crate::graph::{Float, Value};

/// Default tolerances by precision (SPEC section 5).
#[derive(Clone, Copy, Debug)]
pub struct AssertTolerance {
    pub rtol: f64,
    pub atol: f64,
}

impl AssertTolerance {
    pub fn for_precision(p: super::Precision) -> Self {
        match p {
            super::Precision::F32 => AssertTolerance {
                rtol: 1e-4,
                atol: 1e-5,
            },
            super::Precision::F64 => AssertTolerance {
                rtol: 1e-7,
                atol: 1e-9,
            },
        }
    }
}

/// Checks every assert; returns one diagnostic per failure.
pub fn check_asserts<T: Float>(
    asserts: &[AssertClose],
    values: &[(Value<T>, Value<T>)],
    defaults: AssertTolerance,
    src: &str,
) -> Vec<Diagnostic> {
    asserts
        .iter()
        .zip(values)
        .filter_map(|(a, (va, vb))| check_one(a, va, vb, defaults, src))
        .collect()
}

/// The elements of a value as f64, in row-major order, without copying it.
fn elements<T: Float>(v: &Value<T>) -> Box<dyn Iterator<Item = f64> + '_> {
    match v {
        Value::Float(a) => Box::new(a.iter().map(|x| x.to_f64())),
        Value::Int(a) => Box::new(a.iter().map(|x| *x as f64)),
    }
}

fn index_of(mut flat: usize, shape: &[usize]) -> String {
    let mut idx = vec![0; shape.len()];
    for (i, d) in shape.iter().enumerate().rev() {
        if *d > 0 {
            idx[i] = flat % d;
            flat /= d;
        }
    }
    format!(
        "[{}]",
        idx.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn check_one<T: Float>(
    a: &AssertClose,
    va: &Value<T>,
    vb: &Value<T>,
    defaults: AssertTolerance,
    src: &str,
) -> Option<Diagnostic> {
    let rtol = a.rtol.unwrap_or(defaults.rtol);
    let atol = a.atol.unwrap_or(defaults.atol);
    let shape = va.shape().to_vec();
    let text = |s: crate::diagnostics::Span| src.get(s.start..s.end).unwrap_or("?").to_string();
    let (ta, tb) = (text(a.a_span), text(a.b_span));
    let mut worst_abs = (0.0f64, 0usize, 0.0f64, 0.0f64);
    let mut worst_rel = (0.0f64, 0usize);
    let (mut failures, mut count) = (0usize, 0usize);
    for (i, (x, y)) in elements(va).zip(elements(vb)).enumerate() {
        count += 1;
        // Non-finite values never compare close (NumPy's allclose without equal_nan).
        if !x.is_finite() || !y.is_finite() {
            return Some(
                Diagnostic::error(
                    Code::E0608,
                    a.span,
                    format!(
                        "assert compares non-finite values: `{ta}` is {x} and `{tb}` is {y} at {}",
                        index_of(i, &shape)
                    ),
                )
                .with_primary_label("non-finite value")
                .with_help(
                    "a nan or inf upstream (log of 0? overflow?) makes every comparison fail",
                ),
            );
        }
        let diff = (x - y).abs();
        if diff > atol + rtol * y.abs() {
            failures += 1;
        }
        if diff > worst_abs.0 {
            worst_abs = (diff, i, x, y);
        }
        let rel = if y != 0.0 {
            diff / y.abs()
        } else if diff > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        if rel > worst_rel.0 {
            worst_rel = (rel, i);
        }
    }
    if failures == 0 {
        return None;
    }
    let (ia, ir) = (index_of(worst_abs.1, &shape), index_of(worst_rel.1, &shape));
    let rel = if worst_rel.1 == worst_abs.1 {
        format!("relative {:.3e}", worst_rel.0)
    } else {
        format!("largest relative difference {:.3e} at {ir}", worst_rel.0)
    };
    Some(
        Diagnostic::error(
            Code::E0607,
            a.span,
            format!("assert failed: `{ta}` and `{tb}` are not close ({failures} of {count} elements differ)"),
        )
        .with_primary_label(format!("largest absolute difference {:.3e} at {ia}; {rel}", worst_abs.0))
        .with_label(a.a_span, format!("{} at {ia}", worst_abs.2))
        .with_label(a.b_span, format!("{} at {ia}", worst_abs.3))
        .with_help(format!(
            "close means |a - b| <= atol + rtol * |b| elementwise, here with rtol={rtol:e}, atol={atol:e}"
        )),
    )
}
