//! `gradlang check FILE [--format human|json]`.

use super::source::read_source;
use super::{with_big_stack, Format};
use crate::diagnostics::{diagnostics_to_json, has_errors, render_human};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path, format: Format) -> ExitCode {
    let file = match read_source(path) {
        Ok(f) => f,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let text = file.text.clone();
    let mut diagnostics = with_big_stack(move || crate::check::check_source(&text).1.diagnostics);
    if let Some(d) = file.encoding_error {
        diagnostics.insert(0, d);
    }
    match format {
        Format::Human => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let text = render_human(&diagnostics, &file.name, &file.text, color);
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes());
            let (errors, warnings) = count(&diagnostics);
            if errors + warnings > 0 {
                let _ = writeln!(
                    err,
                    "{}: {errors} error{}, {warnings} warning{}",
                    file.name,
                    plural(errors),
                    plural(warnings)
                );
            }
        }
        Format::Json => {
            let value = diagnostics_to_json(&diagnostics, &file.name, &file.text);
            println!("{value}");
        }
    }
    if has_errors(&diagnostics) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn count(diagnostics: &[crate::diagnostics::Diagnostic]) -> (usize, usize) {
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
