//! `gradlang gradcheck FILE ...`: every grad, vjp and jvp against central
//! finite differences, as a table on stdout.

use super::inputs::run_options;
use super::program::with_checked_program;
use super::terminal::write_stdout;
use super::{Format, ProgramArgs};
use crate::diagnostics::SourceMap;
use crate::run::gradcheck::{CheckedDerivative, ABS_TOLERANCE, EPS, REL_TOLERANCE};
use crate::run::{self, Precision};
use std::process::ExitCode;

pub fn run(args: ProgramArgs, directions: usize) -> ExitCode {
    with_checked_program(&args, Format::Human, 1, |checked, reporter, _| {
        let mut opts = run_options(&args, checked, Precision::F64)?;
        let prepared = run::prepare(checked, &opts)?;
        let leaves = run::leaf_values::<f64>(&prepared, &mut opts)?;
        let mut results = run::gradcheck::gradcheck(&prepared, &leaves, args.seed, directions)?;
        // A layer called twice checks its derivatives twice; show each place once, in order.
        results.sort_by_key(|r| (r.span.start, r.span.end));
        let table = if results.is_empty() {
            format!("{}: no grad, vjp or jvp to check\n", args.file.display())
        } else {
            table(&results, reporter.text)
        };
        if let Err(code) = write_stdout(&table) {
            return Ok(code);
        }
        Ok(if results.iter().all(|r| r.passed) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

/// One row per derivative (place, text, largest relative error, verdict) and a summary.
fn table(results: &[CheckedDerivative], src: &str) -> String {
    let map = SourceMap::new(src);
    let rows: Vec<(String, String, String, &str)> = results
        .iter()
        .map(|r| {
            let lc = map.line_col(r.span.start);
            let text = src
                .get(r.span.start..r.span.end)
                .unwrap_or("?")
                .replace('\n', " ");
            let text = if text.chars().count() > 48 {
                format!("{}...", text.chars().take(45).collect::<String>())
            } else {
                text
            };
            let error = if r.non_finite {
                "non-finite".to_string()
            } else {
                format!("{:.2e}", r.max_rel_error)
            };
            (
                format!("{}:{}", lc.line, lc.column),
                text,
                error,
                if r.passed { "ok" } else { "FAILED" },
            )
        })
        .collect();
    let w = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(10)
        .max(10);
    let mut out = format!(
        "{:<8} {:<w$}  {:>13}  result\n",
        "line", "derivative", "max rel error"
    );
    for (at, text, err, verdict) in &rows {
        out.push_str(&format!("{at:<8} {text:<w$}  {err:>13}  {verdict}\n"));
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    out.push_str(&format!(
        "{} derivative{} checked: {} ok, {failed} failed (central differences in f64, eps {EPS:e}, tolerance {REL_TOLERANCE:e} relative or {ABS_TOLERANCE:e} absolute)\n",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        results.len() - failed,
    ));
    if results.iter().any(|r| r.non_finite) {
        out.push_str(
            "non-finite: a finite difference or the derivative is NaN or infinite there\n",
        );
    }
    out
}
