//! The values a run starts from: `--dim`, `--input NAME=PATH` files, the
//! `--inputs` archive (`.npz` or `.safetensors`) and the `--params` file, read
//! and turned into [`RunOptions`].
//!
//! Each file's values are read in the type the run uses (floats in the run's
//! precision, ints as i64), converted while reading: a file of the other
//! float width never costs memory for both.

use super::names::{unknown_name, validate_dims};
use super::params::add_params;
use super::program::Failure;
use super::ProgramArgs;
use crate::check::types::Elem;
use crate::check::Checked;
use crate::data::{read_archive, read_npy_as, Convert, DataError, DataErrorKind};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::run::{Precision, RunError, RunOptions, Supplied};
use std::path::{Path, PathBuf};

/// Validates the command line's names and reads every supplied file. An
/// explicit `--input` wins over an `--inputs` member, which wins over a
/// `--params` value of the same name.
pub fn run_options(
    args: &ProgramArgs,
    checked: &Checked,
    precision: Precision,
) -> Result<RunOptions, Failure> {
    validate_dims(&args.dims, checked)?;
    let convert = |name: &str| conversion(checked, precision, name);
    let mut supplied = read_supplied(&args.inputs, args.archive.as_deref(), checked, &convert)?;
    if let Some(path) = &args.params {
        add_params(path, checked, &args.dims, &mut supplied, &convert)?;
    }
    Ok(RunOptions {
        dims: args.dims.clone(),
        supplied,
        seed: args.seed,
        precision,
        max_jacobian_bytes: args.max_jacobian_bytes,
    })
}

/// The type the value of `name` is read in: a float declaration's in the
/// run's precision, an int declaration's as i64; anything else as stored (a
/// value of the wrong kind is reported with its file's own dtype).
pub(super) fn conversion(checked: &Checked, precision: Precision, name: &str) -> Convert {
    match checked
        .decls
        .iter()
        .find(|d| d.name == name)
        .map(|d| d.ty.elem)
    {
        Some(Elem::Float) => match precision {
            Precision::F32 => Convert::FloatsToF32,
            Precision::F64 => Convert::FloatsToF64,
        },
        Some(Elem::Int) => Convert::IntsToI64,
        Some(Elem::Bool) | None => Convert::Stored,
    }
}

/// E0602 (E0610 when memory ran out) for a data file that cannot be read,
/// at the declaration it was meant for when there is one.
fn unreadable(span: Option<Span>, message: String, e: &DataError, help: &str) -> Diagnostic {
    let code = if e.kind() == DataErrorKind::OutOfMemory {
        Code::E0610
    } else {
        Code::E0602
    };
    Diagnostic::error_at(code, span, message).with_help(help)
}

/// Reads `--input NAME=PATH` files and the `--inputs` archive (a file given
/// with `--input` takes precedence over an archive member of the same name).
fn read_supplied(
    inputs: &[(String, PathBuf)],
    archive: Option<&Path>,
    checked: &Checked,
    convert: &dyn Fn(&str) -> Convert,
) -> Result<Vec<Supplied>, Failure> {
    let known: Vec<&str> = checked.decls.iter().map(|d| d.name.as_str()).collect();
    let decl_span = |name: &str| {
        checked
            .decls
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.span)
    };
    let mut out: Vec<Supplied> = Vec::new();
    let mut errors = Vec::new();
    for (name, path) in inputs {
        if !known.contains(&name.as_str()) {
            return Err(Failure::misuse(unknown_name(
                "--input",
                name,
                "input or param",
                &known,
            )));
        }
        match read_npy_as(path, convert(name)) {
            Ok(data) => out.push(Supplied {
                name: name.clone(),
                path: path.clone(),
                data,
            }),
            Err(e) => errors.push(
                unreadable(
                    decl_span(name),
                    format!("cannot read the value of `{name}`: {e}"),
                    &e,
                    "--input NAME=PATH takes a .npy file (f32, f64, i32 or i64)",
                )
                .with_primary_label(format!("`{name}` is declared here")),
            ),
        }
    }
    if let Some(path) = archive {
        match read_archive(path, convert) {
            Ok(members) => {
                for (name, data) in members {
                    if !known.contains(&name.as_str()) {
                        return Err(Failure::misuse(unknown_name(
                            &format!("--inputs {}", path.display()),
                            &name,
                            "input or param",
                            &known,
                        )));
                    }
                    if !out.iter().any(|s| s.name == name) {
                        out.push(Supplied {
                            name,
                            path: path.to_path_buf(),
                            data,
                        });
                    }
                }
            }
            Err(e) => errors.push(unreadable(
                e.member().and_then(decl_span),
                format!("cannot read `{}`: {e}", path.display()),
                &e,
                "--inputs takes a .npz archive or a .safetensors file of named arrays",
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(RunError {
            diagnostics: errors,
        }
        .into())
    }
}
