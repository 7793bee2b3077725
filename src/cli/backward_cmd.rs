//! `gradlang backward FILE [--of NAME,..] [--dim N=..]`: the program with every
//! derivative replaced by the steps that compute it (SPEC section 12).

use super::source::read_source;
use super::{report, with_big_stack};
use crate::check::{check_source, Checked};
use crate::diagnostics::{has_errors, Code, Diagnostic};
use crate::run::{self, Precision, Prepared, RunOptions};
use std::path::Path;
use std::process::ExitCode;

/// A checked and lowered program, or the exit status after reporting why not.
pub(crate) struct Loaded {
    pub text: String,
    pub checked: Checked,
    pub prepared: Prepared,
}

/// Reads, checks and lowers FILE (f64, dimensions from defaults and `--dim`).
pub(crate) fn load(path: &Path, dims: &[(String, usize)]) -> Result<Loaded, ExitCode> {
    let file = read_source(path).map_err(|message| {
        eprintln!("error: {}", message.message);
        ExitCode::from(2)
    })?;
    if let Some(d) = &file.encoding_error {
        report(std::slice::from_ref(d), &file.name, &file.text);
        return Err(ExitCode::from(1));
    }
    let text = file.text.clone();
    let (_, checked) = with_big_stack(move || check_source(&text));
    report(&checked.diagnostics, &file.name, &file.text);
    if has_errors(&checked.diagnostics) {
        return Err(ExitCode::from(1));
    }
    // The one check of `--dim` names (unknown, or given two values): E0611/E0604.
    if let Err(f) = super::names::validate_dims(dims, &checked) {
        report(&f.diagnostics, &file.name, &file.text);
        return Err(ExitCode::from(f.status));
    }
    let opts = RunOptions {
        dims: with_placeholders(dims, &checked),
        supplied: Vec::new(),
        seed: 0,
        precision: Precision::F64,
        max_jacobian_bytes: crate::check::DEFAULT_MAX_JACOBIAN_BYTES,
    };
    let prepared = match run::prepare(&checked, &opts) {
        Ok(p) => p,
        Err(e) => {
            report(&e.diagnostics, &file.name, &file.text);
            return Err(ExitCode::from(1));
        }
    };
    Ok(Loaded {
        text: file.text,
        checked,
        prepared,
    })
}

/// `--dim` values, plus a placeholder for every free dimension nobody gave a
/// value (`dim N` of a trained program): the printed program and the drawing
/// name dimensions, so any value shows the same, and each placeholder is a
/// distinct prime far from the sizes programs write (a concrete size is shown
/// by the name of the dimension with that value).
fn with_placeholders(
    dims: &[(String, usize)],
    checked: &crate::check::Checked,
) -> Vec<(String, usize)> {
    const PLACEHOLDERS: [usize; 12] = [
        1009, 1013, 1019, 1021, 1031, 1033, 1039, 1049, 1051, 1061, 1063, 1069,
    ];
    let mut out = dims.to_vec();
    let mut next = PLACEHOLDERS.iter();
    for (_, info) in checked.dims.iter() {
        let free = matches!(
            info.kind,
            crate::check::dims::DimKind::Global { default: None }
        );
        if free && !out.iter().any(|(n, _)| *n == info.name) {
            match next.next() {
                Some(v) => out.push((info.name.clone(), *v)),
                None => break,
            }
        }
    }
    out
}

/// E0611 on the command line: an unknown name, exit status 2.
pub(crate) fn misuse_unknown(what: &str, name: &str, suggestion: Option<&str>) {
    // A command-line name has no place in the source.
    let mut d = Diagnostic::error_nowhere(
        Code::E0611,
        format!("--of names no {what} `{name}` of the program"),
    );
    if let Some(s) = suggestion {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    report(&[d], "", "");
}

pub fn run(file: &Path, of: Option<Vec<String>>, dims: &[(String, usize)]) -> ExitCode {
    let loaded = match load(file, dims) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let printed = crate::show::print_backward(
        &loaded.text,
        &loaded.checked,
        &loaded.prepared.lowered,
        &loaded.prepared.dims,
        of.as_deref(),
    );
    match printed {
        Ok(text) => {
            use std::io::Write;
            // In the canonical layout (trailing comments aligned), as `gradlang
            // fmt` would write it.
            let text = crate::fmt::format_source(&text).unwrap_or(text);
            let mut out = std::io::stdout().lock();
            if out.write_all(text.as_bytes()).is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(u) => {
            misuse_unknown("binding", &u.name, u.suggestion.as_deref());
            ExitCode::from(2)
        }
    }
}
