//! `gradlang check FILE [--format human|json]`.

use super::source::read_source;
use super::terminal::{write_stderr, Reporter};
use super::{with_big_stack, Format};
use crate::diagnostics::{has_errors, Diagnostic};
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path, format: Format) -> ExitCode {
    let file = match read_source(path) {
        Ok(f) => f,
        Err(d) => {
            let name = path.display().to_string();
            let reporter = Reporter {
                format,
                file: &name,
                text: "",
            };
            return reporter.fail(&[d], 2);
        }
    };
    let text = file.text.clone();
    let mut diagnostics = with_big_stack(move || crate::check::check_source(&text).1.diagnostics);
    if let Some(d) = file.encoding_error {
        diagnostics.insert(0, d);
    }
    let reporter = Reporter {
        format,
        file: &file.name,
        text: &file.text,
    };
    if let Err(code) = reporter.report(&diagnostics) {
        return code;
    }
    if format == Format::Human {
        let (errors, warnings) = count(&diagnostics);
        if errors + warnings > 0 {
            write_stderr(&format!(
                "{}: {errors} error{}, {warnings} warning{}\n",
                file.name,
                plural(errors),
                plural(warnings)
            ));
        }
    }
    if has_errors(&diagnostics) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn count(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    (errors, diagnostics.len() - errors)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
