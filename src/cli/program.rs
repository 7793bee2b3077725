//! What `run` and `gradcheck` share: read and check the program, set up the
//! thread pool, run the command's body, and turn whatever went wrong into
//! diagnostics and an exit status.

use super::source::read_source;
use super::terminal::Reporter;
use super::{with_big_stack, Format, ProgramArgs};
use crate::check::{check_source, Checked};
use crate::diagnostics::{has_errors, Diagnostic};
use crate::run::RunError;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Why a command stopped: its diagnostics and exit status (2 for misuse of the
/// command line, 1 for a program or run-time error).
pub struct Failure {
    pub status: u8,
    pub diagnostics: Vec<Diagnostic>,
}

impl Failure {
    /// A problem with the command line itself: exit status 2.
    pub fn misuse(d: Diagnostic) -> Self {
        Failure {
            status: 2,
            diagnostics: vec![d],
        }
    }
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        Failure {
            status: 1,
            diagnostics: e.diagnostics,
        }
    }
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Self {
        Failure {
            status: 1,
            diagnostics: vec![d],
        }
    }
}

/// Reads and checks the file, then hands the checked program to `body`;
/// reports whatever goes wrong in `format` and picks the exit status. The
/// check runs `check_runs` times (for `--profile --repeat`); `body` gets the
/// median time. Warnings are rendered on stderr before `body` runs.
pub fn with_checked_program(
    args: &ProgramArgs,
    format: Format,
    check_runs: usize,
    body: impl FnOnce(&Checked, &Reporter<'_>, Duration) -> Result<ExitCode, Failure>,
) -> ExitCode {
    let file = match read_source(&args.file) {
        Ok(f) => f,
        Err(d) => {
            let name = args.file.display().to_string();
            let reporter = Reporter {
                format,
                file: &name,
                text: "",
            };
            return reporter.fail(&[d], 2);
        }
    };
    let reporter = Reporter {
        format,
        file: &file.name,
        text: &file.text,
    };
    if let Some(d) = &file.encoding_error {
        return reporter.fail(std::slice::from_ref(d), 1);
    }
    let text = file.text.clone();
    let (checked, check_time) = with_big_stack(move || {
        let t0 = Instant::now();
        let (_, checked) = check_source(&text);
        let mut times = vec![t0.elapsed()];
        for _ in 1..check_runs {
            let t0 = Instant::now();
            let _ = check_source(&text);
            times.push(t0.elapsed());
        }
        (checked, median(&mut times))
    });
    if has_errors(&checked.diagnostics) {
        return reporter.fail(&checked.diagnostics, 1);
    }
    reporter.render(&checked.diagnostics);
    if let Some(k) = args.threads {
        // Only fails if a global pool already exists (never in the CLI).
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(k.into())
            .build_global();
    }
    match body(&checked, &reporter, check_time) {
        Ok(code) => code,
        Err(f) => reporter.fail(&f.diagnostics, f.status),
    }
}

pub fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}
