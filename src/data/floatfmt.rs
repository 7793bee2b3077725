//! Decimal digits of floats as NumPy's Dragon4 produces them (`unique=True`, i.e. the
//! shortest string that round-trips, but cut at `precision` digits with exact
//! round-half-even when the shortest string is longer).
//!
//! Rust's `{:e}` gives the shortest round-trip digits and `{:.N}` / `{:.Ne}` give exact
//! round-half-even digits, which together reproduce Dragon4's output.

use std::fmt::{Display, LowerExp};

/// The float types that can be printed NumPy-style.
pub trait NpFloat: Copy + PartialOrd + Display + LowerExp {
    fn is_finite(self) -> bool;
    fn is_nan(self) -> bool;
    fn abs(self) -> Self;
    fn zero() -> Self;
    /// `x` converted to this type (NumPy compares in the array's own precision).
    fn lit(x: f64) -> Self;
    fn div(self, other: Self) -> Self;
    fn to_f64(self) -> f64;
    /// NumPy (>= 2.0) switches to scientific notation at `10**min(8, finfo.precision)`:
    /// 1e8 for float64, 1e6 for float32.
    fn exp_cutoff() -> Self;
    /// Where `str()` of a NumPy scalar switches to scientific notation: 1e16 for
    /// float64, 1e6 for float32 (`str(np.float32(1e6))` is `1e+06`).
    fn scalar_cutoff() -> f64;
}

impl NpFloat for f32 {
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn abs(self) -> Self {
        f32::abs(self)
    }
    fn zero() -> Self {
        0.0
    }
    fn lit(x: f64) -> Self {
        x as f32
    }
    fn div(self, other: Self) -> Self {
        self / other
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn exp_cutoff() -> Self {
        1e6
    }
    fn scalar_cutoff() -> f64 {
        1e6
    }
}

impl NpFloat for f64 {
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn zero() -> Self {
        0.0
    }
    fn lit(x: f64) -> Self {
        x
    }
    fn div(self, other: Self) -> Self {
        self / other
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn exp_cutoff() -> Self {
        1e8
    }
    fn scalar_cutoff() -> f64 {
        1e16
    }
}

/// Shortest round-trip digits: (negative, digits without dot, decimal exponent of the
/// first digit). `x` must be finite.
fn shortest<T: NpFloat>(x: T) -> (bool, String, i32) {
    split_exp(&format!("{x:e}"))
}

/// Parse Rust's `{:e}` output, `-1.25e-3`, into (negative, "125", -3).
fn split_exp(s: &str) -> (bool, String, i32) {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (neg, digits, exp.parse().unwrap_or(0))
}

fn sign(neg: bool) -> &'static str {
    if neg {
        "-"
    } else {
        ""
    }
}

/// Positional digits: (integer part with sign, fraction digits without trailing zeros).
/// At most `precision` fraction digits.
pub fn positional<T: NpFloat>(x: T, precision: usize) -> (String, String) {
    let (neg, digits, exp) = shortest(x);
    let needed = (digits.len() as i64 - 1 - exp as i64).max(0) as usize;
    if needed > precision {
        let s = format!("{:.*}", precision, x);
        let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
        return (int.to_string(), frac.trim_end_matches('0').to_string());
    }
    if exp >= 0 {
        let e = exp as usize;
        let mut int = String::from(sign(neg));
        if digits.len() > e {
            int.push_str(&digits[..=e]);
            (int, digits[e + 1..].to_string())
        } else {
            int.push_str(&digits);
            int.push_str(&"0".repeat(e + 1 - digits.len()));
            (int, String::new())
        }
    } else {
        let zeros = "0".repeat((-exp - 1) as usize);
        (format!("{}0", sign(neg)), format!("{zeros}{digits}"))
    }
}

/// Scientific digits: (leading digit with sign, fraction digits without trailing
/// zeros, exponent). At most `precision` fraction digits.
pub fn scientific<T: NpFloat>(x: T, precision: usize) -> (String, String, i32) {
    let (neg, mut digits, mut exp) = shortest(x);
    if digits.len() - 1 > precision {
        (_, digits, exp) = split_exp(&format!("{:.*e}", precision, x));
        let trimmed = digits.trim_end_matches('0');
        digits = if trimmed.is_empty() {
            "0".into()
        } else {
            trimmed.into()
        };
    }
    let (first, rest) = digits.split_at(1);
    (format!("{}{first}", sign(neg)), rest.to_string(), exp)
}

/// Scientific digits with exactly `digits` fraction digits, as Dragon4 prints them with
/// `unique=True, precision=min_digits=digits`: the shortest digits when they need
/// `digits` or more fraction digits (cut at `digits`), otherwise the exact value
/// rounded (half to even) to `digits` fraction digits.
pub fn scientific_fixed<T: NpFloat>(x: T, digits: usize) -> (String, String, i32) {
    let (neg, shortest_digits, _) = shortest(x);
    if shortest_digits.len() > digits {
        let (int, frac, exp) = scientific(x, digits);
        return (int, format!("{frac:0<digits$}"), exp);
    }
    let (_, d, exp) = split_exp(&format!("{:.*e}", digits, x));
    let (first, rest) = d.split_at(1);
    (format!("{}{first}", sign(neg)), rest.to_string(), exp)
}

/// An exponent as NumPy writes it: `e+05`, `e-12`, `e+100` (at least `digits` digits).
pub fn exponent(exp: i32, digits: usize) -> String {
    format!(
        "e{}{:0>width$}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs(),
        width = digits
    )
}

/// `str()` of a NumPy float scalar (how a 0-d array prints): the full shortest
/// round-trip repr, positional with at least one fraction digit (`1.0`) when
/// `1e-4 <= |x| < 1e16` (`1e6` for f32) or `x == 0`, else scientific without a trailing `.0` (`1e+20`).
pub fn scalar_str<T: NpFloat>(x: T) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if !x.is_finite() {
        return if x < T::zero() {
            "-inf".into()
        } else {
            "inf".into()
        };
    }
    let a = x.abs().to_f64();
    if a == 0.0 || (1e-4..T::scalar_cutoff()).contains(&a) {
        let (int, frac) = positional(x, usize::MAX);
        let frac = if frac.is_empty() {
            "0".to_string()
        } else {
            frac
        };
        format!("{int}.{frac}")
    } else {
        let (first, frac, exp) = scientific(x, usize::MAX);
        let dot = if frac.is_empty() { "" } else { "." };
        format!("{first}{dot}{frac}{}", exponent(exp, 2))
    }
}
