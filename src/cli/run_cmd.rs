//! `gradlang run FILE ...`: check, bind, evaluate, print (SPEC section 8).
//! The parts live beside it: [`super::program`] (read, check, report),
//! [`super::inputs`] (files and `--dim`), [`super::names`] (command-line
//! names), [`super::profile`] (`--repeat`, `--profile`), [`super::values`]
//! (printing) and [`super::out_dir`] (`--out`).

use super::inputs::run_options;
use super::names::printed_names;
use super::out_dir::write_outputs;
use super::profile::{evaluate_timed, Timing};
use super::program::{with_checked_program, Failure};
use super::terminal::{write_stdout, Reporter};
use super::values::{human_output, json_output, OutputFloat};
use super::{Format, ProgramArgs};
use crate::check::Checked;
use crate::graph::{NodeId, Value};
use crate::run::{self, AssertTolerance, Precision, Prepared, RunError, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub struct RunArgs {
    pub program: ProgramArgs,
    pub precision: Precision,
    pub print: Option<Vec<String>>,
    pub format: Format,
    pub out: Option<PathBuf>,
    /// `--repeat N`: evaluate N times after one warm-up.
    pub repeat: Option<u32>,
    /// `--profile`: phase and per-primitive times on stderr.
    pub profile: bool,
}

pub fn run(args: RunArgs) -> ExitCode {
    let check_runs = if args.profile {
        args.repeat.unwrap_or(1) as usize
    } else {
        1
    };
    with_checked_program(
        &args.program,
        args.format,
        check_runs,
        |checked, reporter, t| execute(&args, checked, reporter, t),
    )
}

fn execute(
    args: &RunArgs,
    checked: &Checked,
    reporter: &Reporter<'_>,
    check_time: Duration,
) -> Result<ExitCode, Failure> {
    let t0 = Instant::now();
    let mut opts = run_options(&args.program, checked, args.precision)?;
    let prepared = run::prepare(checked, &opts)?;
    let printed = printed_names(&prepared, args.print.as_deref())?;
    let timing = Timing {
        check: check_time,
        bind_start: t0,
    };
    let run = Evaluation {
        args,
        prepared: &prepared,
        checked,
        printed: &printed,
        src: reporter.text,
    };
    match args.precision {
        Precision::F32 => run.finish::<f32>(&mut opts, timing),
        Precision::F64 => run.finish::<f64>(&mut opts, timing),
    }
}

/// A prepared run and what it prints.
struct Evaluation<'a> {
    args: &'a RunArgs,
    prepared: &'a Prepared,
    checked: &'a Checked,
    printed: &'a [(String, NodeId)],
    src: &'a str,
}

impl Evaluation<'_> {
    /// Evaluates, writes `--out`, prints, then checks the asserts (values are
    /// printed before assert failures are reported).
    fn finish<T: OutputFloat>(
        &self,
        opts: &mut RunOptions,
        timing: Timing,
    ) -> Result<ExitCode, Failure> {
        let (args, prepared) = (self.args, self.prepared);
        let mut nodes: Vec<NodeId> = self.printed.iter().map(|(_, n)| *n).collect();
        for a in &prepared.lowered.asserts {
            nodes.push(a.a);
            nodes.push(a.b);
        }
        let mut values = evaluate_timed::<T>(args, opts, prepared, &nodes, timing)?;
        let assert_values: Vec<(Value<T>, Value<T>)> = {
            let mut rest = values.split_off(self.printed.len()).into_iter();
            let mut pairs = Vec::new();
            while let (Some(a), Some(b)) = (rest.next(), rest.next()) {
                pairs.push((a, b));
            }
            pairs
        };
        let named: Vec<(&str, &Value<T>)> = self
            .printed
            .iter()
            .map(|(n, _)| n.as_str())
            .zip(values.iter())
            .collect();
        if let Some(dir) = &args.out {
            write_outputs(dir, &named, self.checked)?;
        }
        let failures = run::check_asserts(
            &prepared.lowered.asserts,
            &assert_values,
            AssertTolerance::for_precision(args.precision),
            self.src,
        );
        // With `--format json` a failed assert is reported in the diagnostics
        // schema instead of the values (stdout holds one object).
        if args.format == Format::Json && !failures.is_empty() {
            return Err(RunError {
                diagnostics: failures,
            }
            .into());
        }
        let text = match args.format {
            Format::Human => human_output(&named, prepared, self.checked),
            Format::Json => json_output(&named, prepared, self.checked).to_string() + "\n",
        };
        if let Err(code) = write_stdout(&text) {
            return Ok(code);
        }
        if failures.is_empty() {
            Ok(ExitCode::SUCCESS)
        } else {
            Err(RunError {
                diagnostics: failures,
            }
            .into())
        }
    }
}
