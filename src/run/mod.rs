//! Running a checked program: bind dimensions and values, lower to a graph,
//! evaluate it, check the asserts (SPEC sections 3-5, 8, 9).
//!
//! Run trusts the checker: shapes were proven symbolically, so the only
//! run-time shape checks are where values enter (files, literals, `--dim`),
//! once, with a diagnostic pointing at the declaration.

mod asserts;
pub mod bind;
pub mod gradcheck;
pub mod init;
pub mod lower;
pub mod memory;

pub use asserts::{check_asserts, AssertTolerance};
pub use bind::Supplied;
pub use lower::{LowerOptions, Lowered};

use crate::check::Checked;
use crate::diagnostics::{Code, Diagnostic};
use crate::graph::{EvalError, Float, NodeId, Profile, Schedule, Value};
use std::collections::HashMap;

/// One or more run-time diagnostics (E06xx).
#[derive(Debug)]
pub struct RunError {
    pub diagnostics: Vec<Diagnostic>,
}

impl From<Diagnostic> for RunError {
    fn from(d: Diagnostic) -> Self {
        RunError {
            diagnostics: vec![d],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    pub fn bytes(self) -> u128 {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

pub struct RunOptions {
    pub dims: Vec<(String, usize)>,
    pub supplied: Vec<Supplied>,
    pub seed: u64,
    pub precision: Precision,
    pub max_jacobian_bytes: u128,
}

/// Largest single value a run may create (a guard against exhausting memory).
pub const MAX_VALUE_BYTES: u128 = 16 << 30;

/// A program ready to evaluate: its graph and the dimension values.
pub struct Prepared {
    pub lowered: Lowered,
    pub dims: HashMap<String, usize>,
    /// Dimension names in declaration order (for output).
    pub dim_order: Vec<String>,
}

/// Binds dimensions and lowers the program to a graph.
pub fn prepare(checked: &Checked, opts: &RunOptions) -> Result<Prepared, RunError> {
    let bound = bind::bind_dims(checked, &opts.dims, &opts.supplied)?;
    let lowered = lower::lower(
        checked,
        &bound.values,
        &LowerOptions {
            element_bytes: opts.precision.bytes(),
            max_jacobian_bytes: opts.max_jacobian_bytes,
            max_value_bytes: MAX_VALUE_BYTES,
            training: false,
        },
    )?;
    let mut dim_order: Vec<(usize, String)> = bound
        .spans
        .iter()
        .map(|(n, s)| (s.start, n.clone()))
        .collect();
    dim_order.sort();
    Ok(Prepared {
        lowered,
        dims: bound.values,
        dim_order: dim_order.into_iter().map(|(_, n)| n).collect(),
    })
}

/// The value of every leaf: from the command line, else from its initializer.
///
/// The supplied values are moved out of `opts` (a file's array becomes the
/// leaf's value without a copy when the types agree), so memory holds each
/// value once.
pub fn leaf_values<T: Float>(
    prepared: &Prepared,
    opts: &mut RunOptions,
) -> Result<HashMap<NodeId, Value<T>>, RunError> {
    let mut values = HashMap::new();
    let mut errors = Vec::new();
    for leaf in &prepared.lowered.leaves {
        let numel: usize = leaf.shape.iter().product();
        let supplied = opts
            .supplied
            .iter()
            .position(|s| s.name == leaf.name)
            .map(|i| opts.supplied.swap_remove(i));
        let value = if let Some(s) = supplied {
            supplied_value::<T>(s, leaf)
        } else if let Err(d) = reservable::<T>(leaf, numel) {
            Err(d)
        } else if leaf.init == init::Init::None {
            Err(Diagnostic::error(Code::E0601, leaf.span, format!("input `{}` has no value", leaf.name))
                .with_primary_label("declared without a default")
                .with_help(format!(
                    "supply one: --input {}=PATH.npy (or --inputs PATH.npz), or give it a default (`= zeros`)",
                    leaf.name
                )))
        } else if leaf.is_int {
            to_array(leaf, leaf.init.ints(numel)).map(Value::Int)
        } else {
            to_array(leaf, leaf.init.floats::<T>(&leaf.name, opts.seed, numel)).map(Value::Float)
        };
        match value {
            Ok(v) => {
                values.insert(leaf.node, v);
            }
            Err(d) => errors.push(d),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(RunError {
            diagnostics: errors,
        })
    }
}

/// E0610 when memory for `numel` values of `leaf` cannot be had: checked with a
/// fallible reservation before the initializer allocates (an allocation failure
/// would abort the process).
fn reservable<T>(leaf: &lower::Leaf, numel: usize) -> Result<(), Diagnostic> {
    let mut probe: Vec<T> = Vec::new();
    probe.try_reserve_exact(numel).map_err(|_| {
        Diagnostic::error(
            Code::E0610,
            leaf.span,
            format!(
                "cannot allocate {} bytes for `{}`: not enough memory",
                numel.saturating_mul(std::mem::size_of::<T>()),
                leaf.name
            ),
        )
        .with_primary_label(format!("shape {:?}", leaf.shape))
        .with_help("choose smaller dimensions (--dim) or run where more memory is available")
    })
}

fn to_array<E>(leaf: &lower::Leaf, data: Vec<E>) -> Result<ndarray::ArrayD<E>, Diagnostic> {
    let len = data.len();
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&leaf.shape), data).map_err(|_| {
        Diagnostic::error(
            Code::E0603,
            leaf.span,
            format!(
                "the initializer of `{}` has {len} values, but its shape {:?} needs {}",
                leaf.name,
                leaf.shape,
                leaf.shape.iter().product::<usize>()
            ),
        )
        .with_primary_label("declared here")
    })
}

/// `a` as an array of `U` without copying when `T` is `U`; `None` otherwise.
fn same_type<T: 'static, U: 'static>(
    a: ndarray::ArrayD<T>,
) -> Result<ndarray::ArrayD<U>, ndarray::ArrayD<T>> {
    let boxed: Box<dyn std::any::Any> = Box::new(a);
    match boxed.downcast::<ndarray::ArrayD<U>>() {
        Ok(b) => Ok(*b),
        Err(b) => Err(*b
            .downcast::<ndarray::ArrayD<T>>()
            .expect("the array just boxed")),
    }
}

/// A file's value as the value of `leaf`: moved when the types agree,
/// converted otherwise, E0603 for the wrong kind (ints for floats, ...).
pub(crate) fn supplied_value<T: Float>(
    s: Supplied,
    leaf: &lower::Leaf,
) -> Result<Value<T>, Diagnostic> {
    use crate::data::ArrayData;
    let file = s.path.display();
    let dtype = s.data.dtype_name();
    if leaf.is_bool {
        return s
            .data
            .to_bool()
            .map(|a| Value::Float(a.mapv(|b| if b { T::one() } else { T::zero() })))
            .ok_or_else(|| {
                Diagnostic::error(
                    Code::E0603,
                    leaf.span,
                    format!(
                        "`{file}` holds {} values, but `{}` is a bool tensor",
                        s.data.dtype_name(),
                        leaf.name
                    ),
                )
                .with_primary_label("declared bool")
                .with_help("masks are NumPy bool arrays (`|b1`): save `x > 0`, not its 0/1 floats")
            });
    }
    if leaf.is_int {
        let ints = match s.data {
            ArrayData::I64(a) => Some(a),
            ArrayData::I32(a) => Some(a.mapv(i64::from)),
            ArrayData::F32(_) | ArrayData::F64(_) | ArrayData::Bool(_) => None,
        };
        return ints.map(Value::Int).ok_or_else(|| {
            Diagnostic::error(
                Code::E0603,
                leaf.span,
                format!(
                    "`{file}` holds {dtype} values, but `{}` is an int tensor",
                    leaf.name
                ),
            )
            .with_primary_label("declared int")
            .with_help("labels are int32 or int64 arrays")
        });
    }
    // One pass at most: moved when the file's type is the run's, converted
    // otherwise (f64 values rounded to f32 as NumPy's `astype` does).
    let converted = match s.data {
        ArrayData::F32(a) => {
            Some(same_type::<f32, T>(a).unwrap_or_else(|a| a.mapv(|v| T::from_f64(v as f64))))
        }
        ArrayData::F64(a) => Some(same_type::<f64, T>(a).unwrap_or_else(|a| a.mapv(T::from_f64))),
        ArrayData::I32(_) | ArrayData::I64(_) | ArrayData::Bool(_) => None,
    };
    converted.map(Value::Float).ok_or_else(|| {
        Diagnostic::error(
            Code::E0603,
            leaf.span,
            format!(
                "`{file}` holds {dtype} values, but `{}` is a float tensor",
                leaf.name
            ),
        )
        .with_primary_label("declared float")
        .with_help(
            "int arrays are accepted only for `int` tensors; save floats (float32 or float64)",
        )
    })
}

/// Evaluates `outputs`, mapping engine errors to diagnostics; refused (E0610)
/// when its values would not fit in the memory available.
pub fn evaluate_nodes<T: Float>(
    prepared: &Prepared,
    leaves: &HashMap<NodeId, Value<T>>,
    outputs: &[NodeId],
) -> Result<Vec<Value<T>>, RunError> {
    let plan = schedule::<T>(prepared, outputs)?;
    evaluate_scheduled(prepared, &plan, leaves, None)
}

/// A schedule for evaluating `outputs` (repeatedly with `--repeat`) in `T`;
/// refused (E0610) when its values would not fit in the memory available.
pub fn schedule<T: Float>(prepared: &Prepared, outputs: &[NodeId]) -> Result<Schedule, RunError> {
    let plan =
        Schedule::new(&prepared.lowered.graph, outputs).map_err(|e| eval_error(prepared, e))?;
    memory::check_fits(
        plan.peak_bytes(&prepared.lowered.graph, std::mem::size_of::<T>() as u128),
        "the program",
    )?;
    Ok(plan)
}

/// Runs a schedule, mapping engine errors to diagnostics; with `profile`, adds the
/// run's phase and kernel times to it.
pub fn evaluate_scheduled<T: Float>(
    prepared: &Prepared,
    schedule: &Schedule,
    leaves: &HashMap<NodeId, Value<T>>,
    profile: Option<&mut Profile>,
) -> Result<Vec<Value<T>>, RunError> {
    schedule
        .run(&prepared.lowered.graph, leaves, profile)
        .map_err(|e| eval_error(prepared, e))
}

fn eval_error(prepared: &Prepared, e: EvalError) -> RunError {
    let leaf_of = |node: NodeId| prepared.lowered.leaves.iter().find(|l| l.node == node);
    match e {
        EvalError::LabelOutOfRange {
            node,
            label,
            classes,
        } => {
            let span = leaf_of(node).map(|l| l.span);
            Diagnostic::error_at(
                Code::E0603,
                span,
                format!(
                    "label {label} is out of range: there are {classes} classes (0..{})",
                    classes.saturating_sub(1)
                ),
            )
            .with_primary_label("labels come from here")
            .with_help("each label must be a class index in 0..C")
            .into()
        }
        other => Diagnostic::error_nowhere(
            Code::E0699,
            format!("internal error while evaluating: {other}"),
        )
        .with_help("this is a bug in gradlang; please report it with the program")
        .into(),
    }
}
