//! `gradlang fmt [--check] FILE..`: rewrites files in the canonical layout, or
//! with `--check` only lists those that would change.

use super::source::read_source;
use super::{report, with_big_stack};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(files: Vec<PathBuf>, check: bool) -> ExitCode {
    let mut status = 0u8;
    let mut out = std::io::stdout().lock();
    for path in files {
        let file = match read_source(&path) {
            Ok(f) if f.encoding_error.is_none() => f,
            Ok(f) => {
                report(
                    &f.encoding_error.into_iter().collect::<Vec<_>>(),
                    &f.name,
                    &f.text,
                );
                status = status.max(1);
                continue;
            }
            Err(message) => {
                eprintln!("error: {}", message.message);
                status = 2;
                continue;
            }
        };
        let text = file.text.clone();
        match with_big_stack(move || crate::fmt::format_source(&text)) {
            Err(errors) => {
                report(&errors, &file.name, &file.text);
                eprintln!("{}: not formatted: it has syntax errors", file.name);
                status = status.max(1);
            }
            Ok(formatted) if formatted == file.text => {}
            Ok(_) if check => {
                if writeln!(out, "{}: would be reformatted", file.name).is_err() {
                    return ExitCode::from(1);
                }
                status = status.max(1);
            }
            Ok(formatted) => {
                if let Err(e) = crate::data::write_atomic(&path, formatted.as_bytes()) {
                    eprintln!("error: cannot write `{}`: {e}", file.name);
                    status = status.max(1);
                    continue;
                }
                if writeln!(out, "{}: formatted", file.name).is_err() {
                    return ExitCode::from(1);
                }
            }
        }
    }
    ExitCode::from(status)
}
