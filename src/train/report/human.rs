//! Numbers and lines for people: four significant digits, fixed column
//! widths, durations and rates in units one can read at a glance. Files and
//! JSON carry the full values; these are for stderr and `gradlang eval`.

use super::record::EpochRecord;

/// Width every value occupies in an epoch line, so that the columns of
/// successive lines stay aligned: `0.01234` to `99999` and `-0.1234` fit.
const VALUE_WIDTH: usize = 7;

/// `x` with four significant digits: positional when the rounded value is
/// from 0.001 to below 1e5 (`0.001234`, `0.1234`, `2.303`, `1234`, `12345`:
/// integer digits are never dropped), scientific outside (`1.234e-5`,
/// `1.000e5`); `nan`, `inf`, `-inf`.
pub(crate) fn sig4(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return "0.000".into();
    }
    // The exponent after rounding to four digits (9.9996 is 1.000e1), which
    // decides how many decimals keep four significant ones.
    let sci = format!("{x:.3e}");
    let exp: i32 = sci
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if (-3..5).contains(&exp) {
        let decimals = usize::try_from(3 - exp).unwrap_or(0);
        format!("{x:.decimals$}")
    } else {
        sci
    }
}

/// A duration for the end of an epoch line: `0.84 s`, `2.1 s`, `1m 05s`,
/// `2h 07m`.
pub(crate) fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "? s".into();
    }
    if seconds < 1.0 {
        return format!("{seconds:.2} s");
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    // Whole seconds from here; `as` saturates, and 2^64 s is not a training run.
    let s = seconds.round() as u64;
    if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Examples per second: `8.5`, `512`, `12.3k`, `1.2M`.
pub(crate) fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second < 0.0 {
        "?".into()
    } else if per_second < 10.0 {
        format!("{per_second:.1}")
    } else if per_second < 10_000.0 {
        format!("{per_second:.0}")
    } else if per_second < 10_000_000.0 {
        format!("{:.1}k", per_second / 1e3)
    } else {
        format!("{:.1}M", per_second / 1e6)
    }
}

/// Decimal digits of `n`, the width that keeps counts up to `n` aligned.
pub(crate) fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// `name value` pairs separated by two spaces, each value padded to
/// [`VALUE_WIDTH`], `prefix` before each name (`val_`).
fn push_values(line: &mut String, prefix: &str, values: &[(String, f64)]) {
    for (name, x) in values {
        line.push_str(&format!("  {prefix}{name} {:<VALUE_WIDTH$}", sig4(*x)));
    }
}

/// The human line for one finished epoch:
/// `epoch  3/10  step 1407  loss 0.1234   acc 0.9612   val_loss 0.2101   val_acc 0.9417    2.1 s`.
/// The epoch is padded to the width of `epochs`, the step to the width of
/// `total_steps`, so successive lines line up.
pub(crate) fn epoch_line(record: &EpochRecord, epochs: usize, total_steps: u64) -> String {
    let ew = digits(epochs as u64);
    let sw = digits(total_steps);
    let mut line = format!(
        "epoch {:>ew$}/{epochs}  step {:>sw$}",
        record.epoch, record.step
    );
    push_values(&mut line, "", &record.train);
    if let Some(val) = &record.val {
        push_values(&mut line, "val_", val);
    }
    line.push_str(&format!("  {:>6}", duration(record.time_s)));
    line
}

/// The bar's message while an epoch runs:
/// `step 1407/4690  loss 0.1234  5210 ex/s`.
pub(crate) fn bar_message(
    step: u64,
    total_steps: u64,
    loss: f64,
    per_second: Option<f64>,
) -> String {
    let sw = digits(total_steps);
    let mut msg = format!(
        "step {step:>sw$}/{total_steps}  loss {:<VALUE_WIDTH$}",
        sig4(loss)
    );
    if let Some(r) = per_second {
        msg.push_str(&format!("  {:>6} ex/s", rate(r)));
    }
    msg.truncate(msg.trim_end().len());
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_significant_digits() {
        let cases = [
            (0.123_44, "0.1234"),
            (0.123_46, "0.1235"),
            (2.303_4, "2.303"),
            (9.999_6, "10.00"),
            (12.345_6, "12.35"),
            (1234.4, "1234"),
            (12_345.0, "12345"),
            (99_999.0, "1.000e5"),
            (0.001_234_4, "0.001234"),
            (0.000_999_96, "0.001000"),
            (0.000_123_4, "1.234e-4"),
            (-0.5, "-0.5000"),
            (1.0, "1.000"),
            (0.0, "0.000"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::MAX, "1.798e308"),
            (f64::MIN_POSITIVE / 4.0, "5.563e-309"),
        ];
        for (x, want) in cases {
            assert_eq!(sig4(x), want, "sig4({x:e})");
        }
    }

    #[test]
    fn durations_and_rates() {
        assert_eq!(duration(0.842), "0.84 s");
        assert_eq!(duration(2.14), "2.1 s");
        assert_eq!(duration(65.2), "1m 05s");
        assert_eq!(duration(7625.0), "2h 07m");
        assert_eq!(duration(f64::NAN), "? s");
        assert_eq!(duration(-1.0), "? s");
        assert!(duration(1e300).ends_with('m'));
        assert_eq!(rate(8.54), "8.5");
        assert_eq!(rate(512.4), "512");
        assert_eq!(rate(12_345.0), "12.3k");
        assert_eq!(rate(1.25e7), "12.5M");
        assert_eq!(rate(f64::INFINITY), "?");
    }

    #[test]
    fn digit_counts() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
        assert_eq!(digits(4690), 4);
        assert_eq!(digits(u64::MAX), 20);
    }

    fn record(epoch: usize, step: u64, loss: f64, val: bool) -> EpochRecord {
        EpochRecord {
            epoch,
            step,
            lr: 0.1,
            train: vec![("loss".into(), loss), ("acc".into(), 0.961_23)],
            val: val.then(|| vec![("loss".into(), 0.210_09), ("acc".into(), 0.941_7)]),
            time_s: 2.14,
        }
    }

    #[test]
    fn epoch_line_layout() {
        assert_eq!(
            epoch_line(&record(3, 1407, 0.123_44, true), 10, 4690),
            "epoch  3/10  step 1407  loss 0.1234   acc 0.9612   val_loss 0.2101   val_acc 0.9417    2.1 s"
        );
        assert_eq!(
            epoch_line(&record(1, 7, 2.303_4, false), 3, 21),
            "epoch 1/3  step  7  loss 2.303    acc 0.9612    2.1 s"
        );
    }

    #[test]
    fn epoch_lines_align_as_values_shrink() {
        let a = epoch_line(&record(9, 900, 0.123_4, true), 10, 1000);
        let b = epoch_line(&record(10, 1000, 0.098_76, true), 10, 1000);
        assert_eq!(a.len(), b.len());
        assert_eq!(a.find("acc"), b.find("acc"));
        assert_eq!(a.find("val_loss"), b.find("val_loss"));
    }

    #[test]
    fn bar_message_layout() {
        assert_eq!(
            bar_message(42, 4690, 0.5, Some(5210.4)),
            "step   42/4690  loss 0.5000     5210 ex/s"
        );
        assert_eq!(bar_message(1, 9, f64::NAN, None), "step 1/9  loss nan");
    }
}
