//! The only place that writes to stdout and stderr, and how problems are shown.
//!
//! Writing never panics (`print!` does, on a closed or full stream):
//! - stdout closed by the reader (a broken pipe, `gradlang run f.grad | head`):
//!   the command ends quietly with exit status 1, since its output was not
//!   delivered;
//! - any other failure on stdout (`> /dev/full`): reported on stderr as E0609,
//!   exit status 1;
//! - stderr failing: nothing is left to tell it to; the exit status stays what the
//!   command decided.
//!
//! [`Reporter`] shows diagnostics in the command's `--format`: rendered on stderr
//! (human) or as one `{"diagnostics": [...]}` object on stdout (JSON).

use super::Format;
use crate::diagnostics::{diagnostics_to_json, render_human, Code, Diagnostic};
use std::io::{ErrorKind, IsTerminal, Write};
use std::process::ExitCode;

/// Writes `text` to stdout and flushes. `Err` holds the exit status the
/// command must end with (the failure has been reported, or was a broken pipe).
pub fn write_stdout(text: &str) -> Result<(), ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(ExitCode::from(1)),
        Err(e) => {
            let d = Diagnostic::error_nowhere(
                Code::E0609,
                format!("cannot write to standard output: {e}"),
            );
            write_stderr(&render_human(&[d], "", "", stderr_color()));
            Err(ExitCode::from(1))
        }
    }
}

/// Writes `text` to stderr; a failure is ignored (there is nowhere left to report it).
pub fn write_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Shows the diagnostics of one source file in the chosen format.
pub struct Reporter<'a> {
    pub format: Format,
    /// The file as named on the command line.
    pub file: &'a str,
    pub text: &'a str,
}

impl Reporter<'_> {
    /// Human: rendered on stderr. JSON: `{"diagnostics": [...]}` on stdout.
    /// `Err` when stdout could not be written (see [`write_stdout`]).
    pub fn report(&self, diagnostics: &[Diagnostic]) -> Result<(), ExitCode> {
        match self.format {
            Format::Human => {
                self.render(diagnostics);
                Ok(())
            }
            Format::Json => {
                let value = diagnostics_to_json(diagnostics, self.file, self.text);
                write_stdout(&format!("{value}\n"))
            }
        }
    }

    /// Warnings of a command that goes on to print its results: always rendered
    /// on stderr, so that a JSON stdout holds one object.
    pub fn render(&self, diagnostics: &[Diagnostic]) {
        if !diagnostics.is_empty() {
            write_stderr(&render_human(
                diagnostics,
                self.file,
                self.text,
                stderr_color(),
            ));
        }
    }

    /// Reports `diagnostics` and ends with `status` (or the status of a failed write).
    pub fn fail(&self, diagnostics: &[Diagnostic], status: u8) -> ExitCode {
        match self.report(diagnostics) {
            Ok(()) => ExitCode::from(status),
            Err(code) => code,
        }
    }
}
