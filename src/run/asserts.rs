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
            super::Precision::F32 => AssertTolerance { rtol: 1e-4, atol: 1e-5 },
            super::Precision::F64 => AssertTolerance { rtol: 1e-7, atol: 1e-9 },
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

fn as_f64<T: Float>(v: &Value<T>) -> (Vec<usize>, Vec<f64>) {
    match v {
        Value::Float(a) => (a.shape().to_vec(), a.iter().map(|x| x.to_f64()).collect()),
        Value::Int(a) => (a.shape().to_vec(), a.iter().map(|x| *x as f64).collect()),
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
    format!("[{}]", idx.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
}

fn check_one<T: Float>(a: &AssertClose, va: &Value<T>, vb: &Value<T>, defaults: AssertTolerance, src: &str) -> Option<Diagnostic> {
    let rtol = a.rtol.unwrap_or(defaults.rtol);
    let atol = a.atol.unwrap_or(defaults.atol);
    let (shape, xa) = as_f64(va);
    let (_, xb) = as_f64(vb);
    let text = |s: crate::diagnostics::Span| src.get(s.start..s.end).unwrap_or("?").to_string();
    let (ta, tb) = (text(a.a_span), text(a.b_span));
    // Non-finite values never compare close (NumPy's allclose without equal_nan).
    if let Some(i) = xa.iter().zip(&xb).position(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return Some(
            Diagnostic::error(Code::E0608, a.span, format!("assert compares non-finite values: `{ta}` is {} and `{tb}` is {} at {}", xa[i], xb[i], index_of(i, &shape)))
                .with_primary_label("non-finite value")
                .with_help("a nan or inf upstream (log of 0? overflow?) makes every comparison fail"),
        );
    }
    let mut worst_abs = (0.0f64, 0usize);
    let mut worst_rel = (0.0f64, 0usize);
    let mut failures = 0usize;
    for (i, (x, y)) in xa.iter().zip(&xb).enumerate() {
        let diff = (x - y).abs();
        if diff > atol + rtol * y.abs() {
            failures += 1;
        }
        if diff > worst_abs.0 {
            worst_abs = (diff, i);
        }
        let rel = if *y != 0.0 { diff / y.abs() } else if diff > 0.0 { f64::INFINITY } else { 0.0 };
        if rel > worst_rel.0 {
            worst_rel = (rel, i);
        }
    }
    if failures == 0 {
        return None;
    }
    let (ia, ir) = (index_of(worst_abs.1, &shape), index_of(worst_rel.1, &shape));
    Some(
        Diagnostic::error(Code::E0607, a.span, format!("assert failed: `{ta}` and `{tb}` are not close ({failures} of {} elements differ)", xa.len()))
            .with_primary_label(format!("largest absolute difference {:.3e} at {ia}", worst_abs.0))
            .with_label(a.a_span, format!("{} at {ia}", fmt_num(xa[worst_abs.1])))
            .with_label(a.b_span, format!("{} at {ia}; largest relative difference {:.3e} at {ir}", fmt_num(xb[worst_abs.1]), worst_rel.0))
            .with_help(format!("close means |a - b| <= atol + rtol * |b| elementwise, here with rtol={rtol:e}, atol={atol:e}")),
    )
}

fn fmt_num(v: f64) -> String {
    format!("{v:.6e}")
}
