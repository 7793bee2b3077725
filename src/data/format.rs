//! NumPy-style printing: the text `print(arr)` shows with NumPy's default options
//! (`precision=8`, `floatmode='maxprec'`, `suppress=False`, `linewidth=75`,
//! `threshold=1000`, `edgeitems=3`, `legacy=False`).
//!
//! This follows `numpy/core/arrayprint.py` (`_formatArray`, `FloatingFormat`,
//! `IntegerFormat`) closely:
//! - floats: each element is the shortest round-trip string, cut at 8 fraction digits;
//!   all elements share one layout. Scientific notation is used for all elements when a
//!   nonzero |x| is `>= 1e8` (`>= 1e6` for f32, as NumPy 2 does) or `< 1e-4`, or
//!   max/min of nonzero |x| exceeds 1000.
//!   Positional columns are padded on the left (integer part) and right (fraction);
//!   scientific ones share a fraction length and exponent width (shorter elements get
//!   more real digits of their exact value, as Dragon4's `min_digits` does, so an f32
//!   may show digits beyond its shortest repr).
//!   Whole numbers keep the dot (`1.`); `nan`, `inf`, `-inf` are right-aligned.
//! - arrays with more than 1000 elements are summarized with `...`, keeping the first
//!   and last 3 entries of every axis longer than 6; column widths are computed from
//!   the shown elements only, as NumPy does.
//! - rows wrap at 75 characters with a one-space hanging indent per nesting level;
//!   blocks of dimension `k >= 2` are separated by `k - 1` newlines.
//! - a 0-d array prints as the scalar (`str(np.float64(x))`: `3.5`, `1.0`, `1e+20`).
//! - an array with no elements prints as `[]`.
//!
//! Known differences from NumPy: none for these defaults in the cases tested (see
//! `tests/data_files.rs`). Exact decimal ties when cutting at 8 digits round half to
//! even, as NumPy's Dragon4 does.

use ndarray::ArrayViewD;

use super::array::ArrayRef;
use super::floatfmt::{exponent, positional, scalar_str, scientific, scientific_fixed, NpFloat};

const LINE_WIDTH: usize = 75;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;
const PRECISION: usize = 8;

/// Print any supported array as NumPy would.
pub fn format_array(a: ArrayRef<'_>) -> String {
    match a {
        ArrayRef::F32(v) => format_array_f32(&v),
        ArrayRef::F64(v) => format_array_f64(&v),
        ArrayRef::I32(v) => format_array_i32(&v),
        ArrayRef::I64(v) => format_array_i64(&v),
        ArrayRef::Bool(v) => format_array_bool(&v),
    }
}

/// NumPy's printing of a bool array: `True`/`False` right-aligned to 5
/// characters (`[ True False]`), nested brackets one row per line (no
/// summarization or line wrapping).
pub fn format_array_bool(a: &ArrayViewD<'_, bool>) -> String {
    fn item(b: bool, width: usize) -> String {
        format!("{:>width$}", if b { "True" } else { "False" })
    }
    fn rec(a: &ArrayViewD<'_, bool>, depth: usize, width: usize, out: &mut String) {
        if a.ndim() == 0 {
            out.push_str(&item(*a.first().unwrap_or(&false), 0));
            return;
        }
        out.push('[');
        let n = a.shape()[0];
        for i in 0..n {
            let sub = a.index_axis(ndarray::Axis(0), i);
            if a.ndim() == 1 {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&item(*sub.first().unwrap_or(&false), width));
            } else {
                if i > 0 {
                    out.push_str(&"\n".repeat(a.ndim() - 1));
                    out.push_str(&" ".repeat(depth + 1));
                }
                rec(&sub.into_dyn(), depth + 1, width, out);
            }
        }
        out.push(']');
    }
    let width = if a.iter().any(|b| !b) { 5 } else { 4 };
    let mut out = String::new();
    rec(a, 0, width, &mut out);
    out
}

pub fn format_array_f32(a: &ArrayViewD<'_, f32>) -> String {
    format_float(a)
}

pub fn format_array_f64(a: &ArrayViewD<'_, f64>) -> String {
    format_float(a)
}

pub fn format_array_i32(a: &ArrayViewD<'_, i32>) -> String {
    format_int(a)
}

pub fn format_array_i64(a: &ArrayViewD<'_, i64>) -> String {
    format_int(a)
}

fn format_int<T: Copy + ToString + Ord>(a: &ArrayViewD<'_, T>) -> String {
    if a.ndim() == 0 {
        return a.iter().next().map(|x| x.to_string()).unwrap_or_default();
    }
    if a.is_empty() {
        return "[]".into();
    }
    let summarize = a.len() > THRESHOLD;
    let shown = shown_values(a, summarize);
    let width = match (shown.iter().max(), shown.iter().min()) {
        (Some(max), Some(min)) => max.to_string().len().max(min.to_string().len()),
        _ => 0,
    };
    layout(a, summarize, &|x: T| format!("{:>width$}", x.to_string()))
}

fn format_float<T: NpFloat>(a: &ArrayViewD<'_, T>) -> String {
    if a.ndim() == 0 {
        return a.iter().next().map(|&x| scalar_str(x)).unwrap_or_default();
    }
    if a.is_empty() {
        return "[]".into();
    }
    let summarize = a.len() > THRESHOLD;
    let shown = shown_values(a, summarize);
    let fmt = FloatFormat::new(&shown);
    layout(a, summarize, &|x: T| fmt.format(x))
}

/// The elements NumPy looks at to choose the format (`_leading_trailing`).
fn shown_values<T: Copy>(a: &ArrayViewD<'_, T>, summarize: bool) -> Vec<T> {
    if !summarize {
        return a.iter().copied().collect();
    }
    let axes: Vec<Vec<usize>> = a
        .shape()
        .iter()
        .map(|&n| {
            if n > 2 * EDGE_ITEMS {
                (0..EDGE_ITEMS).chain(n - EDGE_ITEMS..n).collect()
            } else {
                (0..n).collect()
            }
        })
        .collect();
    let mut out = Vec::new();
    let mut index = vec![0usize; a.ndim()];
    collect(a, &axes, 0, &mut index, &mut out);
    out
}

fn collect<T: Copy>(
    a: &ArrayViewD<'_, T>,
    axes: &[Vec<usize>],
    axis: usize,
    index: &mut Vec<usize>,
    out: &mut Vec<T>,
) {
    if axis == axes.len() {
        if let Some(&x) = a.get(index.as_slice()) {
            out.push(x);
        }
        return;
    }
    for &i in &axes[axis] {
        index[axis] = i;
        collect(a, axes, axis + 1, index, out);
    }
}

/// NumPy's `FloatingFormat` with default options.
struct FloatFormat {
    scientific: bool,
    pad_left: usize,
    pad_right: usize,
    precision: usize,
    exp_size: usize,
}

impl FloatFormat {
    fn new<T: NpFloat>(shown: &[T]) -> Self {
        let finite: Vec<T> = shown.iter().copied().filter(|x| x.is_finite()).collect();
        let nonzero: Vec<T> = finite
            .iter()
            .map(|x| x.abs())
            .filter(|&x| x != T::zero())
            .collect();
        let mut sci = false;
        if let (Some(&first), true) = (nonzero.first(), !nonzero.is_empty()) {
            let (mut max, mut min) = (first, first);
            for &x in &nonzero {
                if x > max {
                    max = x;
                }
                if x < min {
                    min = x;
                }
            }
            sci = max >= T::exp_cutoff() || min < T::lit(1e-4) || max.div(min) > T::lit(1000.0);
        }
        let mut f = FloatFormat {
            scientific: sci,
            pad_left: 0,
            pad_right: 0,
            precision: PRECISION,
            exp_size: 0,
        };
        if finite.is_empty() {
            f.scientific = false;
        } else if sci {
            let parts: Vec<_> = finite.iter().map(|&x| scientific(x, PRECISION)).collect();
            f.exp_size = parts
                .iter()
                .map(|(_, _, e)| e.unsigned_abs().to_string().len().max(2))
                .max()
                .unwrap_or(2);
            f.precision = parts.iter().map(|(_, fr, _)| fr.len()).max().unwrap_or(0);
            f.pad_left = parts.iter().map(|(i, _, _)| i.len()).max().unwrap_or(0);
            f.pad_right = f.exp_size + 2 + f.precision;
        } else {
            let parts: Vec<_> = finite.iter().map(|&x| positional(x, PRECISION)).collect();
            f.pad_left = parts.iter().map(|(i, _)| i.len()).max().unwrap_or(0);
            f.pad_right = parts.iter().map(|(_, fr)| fr.len()).max().unwrap_or(0);
        }
        if finite.len() != shown.len() {
            let neginf = shown
                .iter()
                .any(|&x| !x.is_finite() && !x.is_nan() && x < T::zero());
            let offset = f.pad_right + 1;
            let need = (3 + usize::from(neginf)).saturating_sub(offset);
            f.pad_left = f.pad_left.max(need);
        }
        f
    }

    fn format<T: NpFloat>(&self, x: T) -> String {
        if !x.is_finite() {
            let s = if x.is_nan() {
                "nan"
            } else if x < T::zero() {
                "-inf"
            } else {
                "inf"
            };
            let width = self.pad_left + self.pad_right + 1;
            return format!("{s:>width$}");
        }
        if self.scientific {
            let (int, frac, exp) = scientific_fixed(x, self.precision);
            format!(
                "{int:>pl$}.{frac}{}",
                exponent(exp, self.exp_size),
                pl = self.pad_left
            )
        } else {
            let (int, frac) = positional(x, PRECISION);
            format!(
                "{int:>pl$}.{frac:<pr$}",
                pl = self.pad_left,
                pr = self.pad_right
            )
        }
    }
}

/// NumPy's `_formatArray` with separator `' '`, for arrays with at least one axis and
/// one element.
fn layout<T: Copy>(a: &ArrayViewD<'_, T>, summarize: bool, f: &dyn Fn(T) -> String) -> String {
    let mut index = Vec::with_capacity(a.ndim());
    recurse(a, summarize, f, &mut index, " ", LINE_WIDTH)
}

fn recurse<T: Copy>(
    a: &ArrayViewD<'_, T>,
    summarize: bool,
    f: &dyn Fn(T) -> String,
    index: &mut Vec<usize>,
    hanging: &str,
    width: usize,
) -> String {
    let axis = index.len();
    if axis == a.ndim() {
        return a.get(index.as_slice()).map(|&x| f(x)).unwrap_or_default();
    }
    let axes_left = a.ndim() - axis;
    let next_hanging = format!("{hanging} ");
    let next_width = width.saturating_sub(1);
    let len = a.shape()[axis];
    let show_summary = summarize && 2 * EDGE_ITEMS < len;
    let (leading, trailing) = if show_summary {
        (EDGE_ITEMS, EDGE_ITEMS)
    } else {
        (0, len)
    };
    let child = |i: usize, index: &mut Vec<usize>| {
        index.push(i);
        let s = recurse(a, summarize, f, index, &next_hanging, next_width);
        index.pop();
        s
    };
    let mut s = String::new();
    if axes_left == 1 {
        let elem_width = width.saturating_sub(1);
        let mut line = hanging.to_string();
        for i in 0..leading {
            let word = child(i, index);
            extend_line(&mut s, &mut line, &word, elem_width, hanging);
            line.push(' ');
        }
        if show_summary {
            extend_line(&mut s, &mut line, "...", elem_width, hanging);
            line.push(' ');
        }
        for i in (2..=trailing).rev() {
            let word = child(len - i, index);
            extend_line(&mut s, &mut line, &word, elem_width, hanging);
            line.push(' ');
        }
        let word = child(len - 1, index);
        extend_line(&mut s, &mut line, &word, elem_width, hanging);
        s.push_str(&line);
    } else {
        let line_sep = "\n".repeat(axes_left - 1);
        for i in 0..leading {
            s.push_str(hanging);
            s.push_str(&child(i, index));
            s.push_str(&line_sep);
        }
        if show_summary {
            s.push_str(hanging);
            s.push_str("...");
            s.push_str(&line_sep);
        }
        for i in (2..=trailing).rev() {
            s.push_str(hanging);
            s.push_str(&child(len - i, index));
            s.push_str(&line_sep);
        }
        s.push_str(hanging);
        s.push_str(&child(len - 1, index));
    }
    format!("[{}]", &s[hanging.len()..])
}

/// NumPy's `_extendLine`: wrap before `word` if it would pass `width`, unless the line
/// holds nothing but the indent.
fn extend_line(s: &mut String, line: &mut String, word: &str, width: usize, hanging: &str) {
    let needs_wrap = line.len() + word.len() > width && line.len() > hanging.len();
    if needs_wrap {
        s.push_str(line.trim_end());
        s.push('\n');
        *line = hanging.to_string();
    }
    line.push_str(word);
}
