//! `--params FILE` (`.safetensors` or `.npz`): the values of every param of
//! the program, instance params by full name (`fc1.W`), e.g. a checkpoint.
//!
//! The file must fit the program exactly: every param present, of its element
//! kind and declared shape, and nothing else (inputs are given with `--input`
//! or `--inputs`). Whatever does not fit is reported in ONE diagnostic, E0615,
//! listing the missing, extra and mismatched names, because a checkpoint of
//! another program version usually has several problems at once and fixing
//! them one run at a time would be tedious.
//!
//! A value given explicitly (`--input NAME=PATH`, or a member of `--inputs`)
//! wins over the file's value of the same name; the file must still fit.
//! Like any file, the params' shapes bind dimensions not bound otherwise.

use super::program::Failure;
use crate::check::dims::{DimId, DimKind};
use crate::check::typed::TensorKind;
use crate::check::types::Elem;
use crate::check::{Checked, DeclInfo};
use crate::data::{read_archive, ArrayData, Convert, DataError, DataErrorKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::run::bind::{bind_shapes, shape_with_values, Bound, SuppliedShape};
use crate::run::{RunError, Supplied};
use std::collections::HashMap;
use std::path::Path;

/// Reads `path` and adds its values to `supplied` (after the explicit ones,
/// which win), or fails with E0602/E0610 (unreadable) or E0615 (does not fit).
pub fn add_params(
    path: &Path,
    checked: &Checked,
    dims: &[(String, usize)],
    supplied: &mut Vec<Supplied>,
    convert: &dyn Fn(&str) -> Convert,
) -> Result<(), Failure> {
    let arrays = read_archive(path, convert).map_err(|e| unreadable(path, &e))?;
    let params: Vec<&DeclInfo> = checked
        .decls
        .iter()
        .filter(|d| matches!(d.kind, TensorKind::Param | TensorKind::InstanceParam))
        .collect();
    let mut misfit = Misfit::default();
    for (name, _) in &arrays {
        if !params.iter().any(|d| d.name == *name) {
            let is_input = checked
                .decls
                .iter()
                .any(|d| d.name == *name && d.kind == TensorKind::Input);
            misfit.extra.push(if is_input {
                format!("`{name}` (an input)")
            } else {
                format!("`{name}`")
            });
        }
    }
    let file_value = |d: &DeclInfo| arrays.iter().find(|(n, _)| *n == d.name).map(|(_, a)| a);
    // The file's values of the right kind, in declaration order.
    let mut candidates: Vec<(&DeclInfo, &ArrayData)> = Vec::new();
    for d in &params {
        match file_value(d) {
            None => misfit.missing.push(d),
            Some(a) if !kind_fits(d.ty.elem, a) => misfit.mismatched.push((
                d,
                format!(
                    "{} param, the file holds {}",
                    kind_name(d.ty.elem),
                    a.dtype_name()
                ),
            )),
            Some(a) => candidates.push((d, a)),
        }
    }
    mismatched_shapes(path, checked, dims, supplied, &candidates, &mut misfit);
    misfit
        .mismatched
        .sort_by_key(|(d, _)| params.iter().position(|p| p.name == d.name));
    if !misfit.is_empty() {
        return Err(RunError::from(misfit.diagnostic(path)).into());
    }
    for (name, data) in arrays {
        if !supplied.iter().any(|s| s.name == name) {
            supplied.push(Supplied {
                name,
                path: path.to_path_buf(),
                data,
            });
        }
    }
    Ok(())
}

/// What does not fit, each with the text the diagnostic shows.
#[derive(Default)]
struct Misfit<'a> {
    missing: Vec<&'a DeclInfo>,
    extra: Vec<String>,
    /// Each with what differs: "declared [H=32], the file has [31]".
    mismatched: Vec<(&'a DeclInfo, String)>,
}

impl Misfit<'_> {
    fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.mismatched.is_empty()
    }

    /// E0615: one line listing everything, a label at each declaration concerned.
    fn diagnostic(&self, path: &Path) -> Diagnostic {
        let list = |items: Vec<String>| items.join(", ");
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "missing {}",
                list(
                    self.missing
                        .iter()
                        .map(|d| format!("`{}`", d.name))
                        .collect()
                )
            ));
        }
        if !self.extra.is_empty() {
            parts.push(format!("extra {}", list(self.extra.clone())));
        }
        if !self.mismatched.is_empty() {
            parts.push(format!(
                "mismatched {}",
                self.mismatched
                    .iter()
                    .map(|(d, t)| format!("`{}` ({t})", d.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut d = Diagnostic::error_nowhere(
            Code::E0615,
            format!(
                "`{}` does not fit the program's params: {}",
                path.display(),
                parts.join("; ")
            ),
        );
        for decl in &self.missing {
            d = d.with_label(decl.span, format!("`{}` is not in the file", decl.name));
        }
        for (decl, text) in &self.mismatched {
            d = d.with_label(decl.span, format!("`{}`: {text}", decl.name));
        }
        d.with_help(
            "--params needs every param of the program (instance params by full name, \
             such as `fc1.W`) with its declared shape, and nothing else; inputs are given \
             with --input or --inputs",
        )
    }
}

fn kind_fits(elem: Elem, a: &ArrayData) -> bool {
    match elem {
        Elem::Float => a.is_float(),
        Elem::Int => matches!(a, ArrayData::I32(_) | ArrayData::I64(_)),
        Elem::Bool => matches!(a, ArrayData::Bool(_)),
    }
}

fn kind_name(elem: Elem) -> &'static str {
    match elem {
        Elem::Float => "a float",
        Elem::Int => "an int",
        Elem::Bool => "a bool",
    }
}

/// The candidates whose shapes do not fit. When all of them bind together
/// there are none. Otherwise each is tried on top of the explicit values and
/// the candidates accepted so far: first, in declaration order, those that
/// have the shape the program has without the file (dimensions from `--dim`,
/// the explicit values and defaults), then the others, so the values reported
/// are those that contradict the program (a constant axis, the rank, a
/// dimension bound otherwise), not the values that happened to come after
/// them. Binding reads shapes only: nothing is copied.
fn mismatched_shapes<'a>(
    path: &'a Path,
    checked: &Checked,
    dims: &[(String, usize)],
    supplied: &'a [Supplied],
    candidates: &[(&'a DeclInfo, &'a ArrayData)],
    misfit: &mut Misfit<'a>,
) {
    let mut accepted: Vec<SuppliedShape<'_>> = supplied.iter().map(SuppliedShape::from).collect();
    // Explicit values that do not bind are not the file's fault: the run
    // reports them (E0603/E0604) once the params are in.
    let Ok(without_file) = bind_shapes(checked, dims, &accepted) else {
        return;
    };
    let shape_of = |decl: &'a DeclInfo, data: &'a ArrayData| SuppliedShape {
        name: &decl.name,
        shape: data.shape(),
        path,
    };
    let mut all = accepted.clone();
    all.extend(candidates.iter().map(|(d, a)| shape_of(d, a)));
    if bind_shapes(checked, dims, &all).is_ok() {
        return;
    }
    let names = dim_names(checked);
    let as_declared = |decl: &DeclInfo, shape: &[usize]| {
        let value_of = |id| {
            names
                .get(&id)
                .and_then(|n| without_file.values.get(*n))
                .map(|v| *v as i64)
        };
        decl.ty.shape.len() == shape.len()
            && decl
                .ty
                .shape
                .iter()
                .zip(shape)
                .all(|(p, &n)| p.eval(&value_of) == Some(n as i128))
    };
    let (first, then): (Vec<_>, Vec<_>) = candidates
        .iter()
        .copied()
        .partition(|&(d, a)| as_declared(d, a.shape()));
    let mut rejected: Vec<(&'a DeclInfo, &'a [usize])> = Vec::new();
    for (decl, data) in first.into_iter().chain(then) {
        accepted.push(shape_of(decl, data));
        if bind_shapes(checked, dims, &accepted).is_err() {
            accepted.pop();
            rejected.push((decl, data.shape()));
        }
    }
    let Ok(bound) = bind_shapes(checked, dims, &accepted) else {
        return;
    };
    for (decl, shape) in rejected {
        misfit.mismatched.push((
            decl,
            format!(
                "declared {}, the file has {}",
                declared(decl, checked, &bound, &names),
                shape_text(shape)
            ),
        ));
    }
}

/// The names of the program's dimensions, by id.
fn dim_names(checked: &Checked) -> HashMap<DimId, &str> {
    checked
        .dims
        .iter()
        .filter(|(_, i)| matches!(i.kind, DimKind::Global { .. }))
        .map(|(id, i)| (id, i.name.as_str()))
        .collect()
}

/// `[D=16, H=32]`: the declaration's shape with the bound dimension values.
fn declared(
    decl: &DeclInfo,
    checked: &Checked,
    bound: &Bound,
    names: &HashMap<DimId, &str>,
) -> String {
    let value_of = |id| {
        names
            .get(&id)
            .and_then(|n| bound.values.get(*n))
            .map(|v| *v as i64)
    };
    shape_with_values(&decl.ty.shape, checked, &value_of)
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// E0602 (E0610 when memory ran out) for a params file that cannot be read.
fn unreadable(path: &Path, e: &DataError) -> Failure {
    let code = if e.kind() == DataErrorKind::OutOfMemory {
        Code::E0610
    } else {
        Code::E0602
    };
    let d = Diagnostic::error_nowhere(code, format!("cannot read `{}`: {e}", path.display()))
        .with_help("--params takes a .safetensors file or a .npz archive of the program's params");
    RunError::from(d).into()
}
