//! `gradlang eval FILE --params PARAMS --inputs TEST ...` (SPEC section 11):
//! the loss and every metric over a whole data set, in batches, dropout off.

use super::inputs::run_options;
use super::program::{with_checked_program, Failure};
use super::terminal::write_stdout;
use super::train_setup;
use super::{Format, ProgramArgs};
use crate::check::Checked;
use crate::diagnostics::{Code, Diagnostic};
use crate::graph::Float;
use crate::run::Precision;
use crate::train::fit;
use crate::train::graphs::Graphs;
use crate::train::report::{eval_human, eval_json};
use std::process::ExitCode;

pub struct EvalArgs {
    pub program: ProgramArgs,
    pub precision: Precision,
    pub batch_size: Option<u64>,
    pub format: Format,
}

pub fn run(args: EvalArgs) -> ExitCode {
    with_checked_program(&args.program, args.format, 1, |checked, _, _| {
        match args.precision {
            Precision::F32 => eval::<f32>(&args, checked),
            Precision::F64 => eval::<f64>(&args, checked),
        }
    })
}

fn eval<T: Float>(args: &EvalArgs, checked: &Checked) -> Result<ExitCode, Failure> {
    if args.program.params.is_none() {
        return Err(Failure::misuse(
            Diagnostic::error_nowhere(Code::E0714, "eval needs the trained params: --params FILE")
                .with_help("the params gradlang train wrote, such as runs/NAME/params.safetensors"),
        ));
    }
    let spec = train_setup::spec(checked)?;
    let mut opts = run_options(&args.program, checked, args.precision)?;
    let mut prepared = train_setup::prepare::<T>(checked, spec, &mut opts, None, false)?;
    let batch = args.batch_size.or(spec.batch_size).unwrap_or(32) as usize;
    let values = fit::evaluate(
        &prepared.layout,
        &mut Graphs::default(),
        &mut prepared.model,
        &prepared.train,
        batch,
    )?;
    // The loss by its binding's name, then each metric.
    let named: Vec<(String, f64)> = std::iter::once(prepared.layout.loss.clone())
        .chain(prepared.layout.metrics.iter().cloned())
        .zip(values)
        .collect();
    let examples = prepared.train.examples;
    let text = match args.format {
        Format::Human => eval_human(examples, &named),
        Format::Json => format!("{}\n", eval_json(examples, &named)),
    };
    match write_stdout(&text) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(code) => Ok(code),
    }
}
