//! What `train` and `eval` share: the program's `train` statement, its values
//! split into params, data (inputs with the example dimension first) and
//! constant inputs, and the validation set of `--val`.

use super::program::Failure;
use crate::check::typed::TensorKind;
use crate::check::{Checked, TrainSpec};
use crate::data::read_archive;
use crate::diagnostics::{Code, Diagnostic};
use crate::graph::{Float, Value};
use crate::run::lower::{lower, Leaf, LowerOptions};
use crate::run::{self, bind, Precision, RunError, RunOptions, Supplied, MAX_VALUE_BYTES};
use crate::syntax::ast::BindingRole;
use crate::train::data::Dataset;
use crate::train::fit::{Model, Param};
use crate::train::graphs::Layout;
use crate::train::optim::ParamState;
use std::path::Path;

/// The program's `train` statement, or E0713.
pub fn spec(checked: &Checked) -> Result<&TrainSpec, Failure> {
    checked.train.as_ref().ok_or_else(|| {
        let help = match checked.bindings.iter().find(|b| b.role == BindingRole::Loss) {
            Some(l) => format!(
                "add `train({}, over=N)` with N the dimension of the examples (the first axis of the data)",
                l.name
            ),
            None => "declare a loss (`loss L = mean(...)`) and `train(L, over=N)`".to_string(),
        };
        Failure::from(
            Diagnostic::error_nowhere(Code::E0713, "the program has no `train` statement")
                .with_help(help),
        )
    })
}

/// A program ready for the loop or for evaluation.
pub struct Prepared<'a, T> {
    pub layout: Layout<'a>,
    pub model: Model<T>,
    pub train: Dataset<T>,
    pub val: Option<Dataset<T>>,
}

/// Binds the dimensions (the example dimension from the data), takes every
/// leaf's value (files, `--params`, initializers) and sorts them by role.
pub fn prepare<'a, T: Float>(
    checked: &'a Checked,
    spec: &TrainSpec,
    opts: &mut RunOptions,
    val: Option<&Path>,
    training: bool,
) -> Result<Prepared<'a, T>, Failure> {
    let over = checked.dims.name(spec.over).to_string();
    let is_data = |kind: TensorKind, ty: &crate::check::types::TensorTy| {
        kind == TensorKind::Input && ty.shape.first().and_then(|p| p.as_var()) == Some(spec.over)
    };
    let data_decls: Vec<&crate::check::DeclInfo> = checked
        .decls
        .iter()
        .filter(|d| is_data(d.kind, &d.ty))
        .collect();
    let missing: Vec<String> = data_decls
        .iter()
        .filter(|d| !opts.supplied.iter().any(|s| s.name == d.name))
        .map(|d| format!("`{}`", d.name))
        .collect();
    if let Some(first) = data_decls
        .iter()
        .find(|d| !opts.supplied.iter().any(|s| s.name == d.name))
    {
        return Err(Diagnostic::error(
            Code::E0710,
            first.span,
            format!("no data for {}", missing.join(", ")),
        )
        .with_primary_label(format!("a data input: `{over}` is its first axis"))
        .with_help("supply the data: --inputs DATA.npz (or .safetensors), or --input NAME=PATH.npy")
        .into());
    }
    if opts.dims.iter().any(|(n, _)| *n == over) {
        return Err(Failure::misuse(
            Diagnostic::error_nowhere(
                Code::E0714,
                format!("--dim {over}=..: `{over}` is the example dimension; its value comes from the data"),
            )
            .with_help("choose the batch size with --batch-size"),
        ));
    }
    let bound = bind::bind_dims(checked, &opts.dims, &opts.supplied)?;
    let examples = bound.values.get(&over).copied().unwrap_or(0);
    let mut dims = bound.values.clone();
    dims.remove(&over);
    // The leaves' values come from a graph lowered for one example: nothing
    // of the data's size is built before the loop.
    let mut one = dims.clone();
    one.insert(over.clone(), 1);
    let lowered = lower(
        checked,
        &one,
        &LowerOptions {
            element_bytes: std::mem::size_of::<T>() as u128,
            max_jacobian_bytes: u128::MAX,
            max_value_bytes: MAX_VALUE_BYTES,
            training,
        },
    )?;
    let prepared = run::Prepared {
        lowered,
        dims: one,
        dim_order: Vec::new(),
    };
    let mut values = run::leaf_values::<T>(&prepared, opts)?;
    let mut value_of = |name: &str| {
        prepared
            .lowered
            .leaves
            .iter()
            .find(|l| l.name == name)
            .and_then(|l| values.remove(&l.node))
    };
    let mut params = Vec::new();
    let mut columns = Vec::new();
    let mut constants = Vec::new();
    for d in &checked.decls {
        let Some(v) = value_of(&d.name) else { continue };
        match d.kind {
            TensorKind::Param | TensorKind::InstanceParam => {
                let Value::Float(value) = v else { continue };
                let trained = spec.params.contains(&d.tensor);
                params.push(Param {
                    name: d.name.clone(),
                    value: value.as_standard_layout().into_owned(),
                    trained,
                    decay: trained && spec.decay.contains(&d.tensor),
                    state: ParamState {
                        m: Vec::new(),
                        v: Vec::new(),
                    },
                });
            }
            _ if is_data(d.kind, &d.ty) => columns.push((d.name.clone(), v)),
            _ => constants.push((d.name.clone(), v)),
        }
    }
    let layout = Layout {
        checked,
        dims,
        over,
        loss: checked.tensor(spec.loss).name.clone(),
        metrics: checked
            .bindings
            .iter()
            .filter(|b| b.role == BindingRole::Metric)
            .map(|b| b.name.clone())
            .collect(),
        params: params.iter().map(|p| (p.name.clone(), p.trained)).collect(),
        data: columns.iter().map(|(n, _)| n.clone()).collect(),
        constants: constants.iter().map(|(n, _)| n.clone()).collect(),
        element_bytes: std::mem::size_of::<T>() as u128,
    };
    let val = match val {
        Some(path) => Some(read_val::<T>(
            path,
            checked,
            &prepared.lowered.leaves,
            &columns,
        )?),
        None => None,
    };
    Ok(Prepared {
        layout,
        model: Model { params, constants },
        train: Dataset::new(examples, columns),
        val,
    })
}

/// `--val FILE`: the data inputs' values for validation, read in the run's
/// type like any input, each with the training data's shape apart from the
/// number of examples.
fn read_val<T: Float>(
    path: &Path,
    checked: &Checked,
    leaves: &[Leaf],
    columns: &[(String, Value<T>)],
) -> Result<Dataset<T>, Failure> {
    let shown = path.display();
    let fail = |message: String, help: &str| -> Failure {
        RunError::from(Diagnostic::error_nowhere(Code::E0710, message).with_help(help)).into()
    };
    let precision = if std::mem::size_of::<T>() == 4 {
        Precision::F32
    } else {
        Precision::F64
    };
    let convert = |name: &str| super::inputs::conversion(checked, precision, name);
    let mut arrays = read_archive(path, &convert).map_err(|e| {
        fail(
            format!("cannot read the validation data {shown}: {e}"),
            "--val takes a .npz or .safetensors file of the data inputs",
        )
    })?;
    if let Some((name, _)) = arrays
        .iter()
        .find(|(n, _)| !columns.iter().any(|(c, _)| c == n))
    {
        return Err(fail(
            format!("the validation data {shown} has `{name}`, which is not a data input"),
            "it holds the data inputs only (those with the example dimension first)",
        ));
    }
    let mut out = Vec::new();
    let mut examples = None;
    for (name, train_value) in columns {
        let Some(i) = arrays.iter().position(|(n, _)| n == name) else {
            return Err(fail(
                format!("the validation data {shown} has no `{name}`"),
                "it needs every data input the training data has",
            ));
        };
        let (_, data) = arrays.swap_remove(i);
        let leaf = leaves
            .iter()
            .find(|l| l.name == *name)
            .expect("every data column is a leaf");
        let supplied = Supplied {
            name: name.clone(),
            path: path.to_path_buf(),
            data,
        };
        let value = run::supplied_value::<T>(supplied, leaf).map_err(RunError::from)?;
        if value.shape().get(1..) != train_value.shape().get(1..) || value.shape().is_empty() {
            return Err(fail(
                format!(
                    "`{name}` in {shown} has shape {:?}, but the training data's is {:?}",
                    value.shape(),
                    train_value.shape()
                ),
                "only the number of examples (the first axis) may differ",
            ));
        }
        let n = value.shape()[0];
        if *examples.get_or_insert(n) != n || n == 0 {
            return Err(fail(
                format!("the arrays of {shown} hold different numbers of examples (or none)"),
                "every data input has one row per example",
            ));
        }
        out.push((name.clone(), value));
    }
    Ok(Dataset::new(examples.unwrap_or(0), out))
}
