//! The graphs a training run evaluates: per batch size, a training step
//! (dropout masks, the loss, the metrics and the gradient of the loss for
//! each trained param, one reverse sweep) and an evaluation pass (loss and
//! metrics, dropout off). Each is lowered from the typed program with the
//! example dimension bound to the batch size, scheduled once and reused.

use crate::check::Checked;
use crate::diagnostics::{Code, Diagnostic};
use crate::graph::{Float, Graph, NodeId, Schedule, Value};
use crate::run::lower::{lower, DropoutMask, LowerOptions};
use crate::run::{RunError, MAX_VALUE_BYTES};
use std::collections::HashMap;

/// Where a leaf of a compiled graph takes its value from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The param with this index in the model.
    Param(usize),
    /// The data column with this index (sliced per batch).
    Data(usize),
    /// The constant input with this index (the same every step).
    Constant(usize),
}

/// One lowered, scheduled graph.
pub struct Compiled {
    pub graph: Graph,
    pub schedule: Schedule,
    pub leaves: Vec<(Slot, NodeId)>,
    pub dropout: Vec<DropoutMask>,
    /// Evaluated outputs: the loss, then the metrics, then (training) the
    /// gradients of the trained params in model order.
    pub outputs: Vec<NodeId>,
    pub metrics: usize,
}

/// What the graphs are built from: the names of every leaf by role.
pub struct Layout<'a> {
    pub checked: &'a Checked,
    /// Global dimension values, the example dimension excluded.
    pub dims: HashMap<String, usize>,
    pub over: String,
    pub loss: String,
    pub metrics: Vec<String>,
    /// Every param in model order, and whether it is trained.
    pub params: Vec<(String, bool)>,
    pub data: Vec<String>,
    pub constants: Vec<String>,
    pub element_bytes: u128,
}

/// Compiled graphs by (batch size, training).
#[derive(Default)]
pub struct Graphs {
    cache: HashMap<(usize, bool), Compiled>,
}

impl Graphs {
    pub fn get(
        &mut self,
        layout: &Layout<'_>,
        batch: usize,
        training: bool,
    ) -> Result<&Compiled, RunError> {
        use std::collections::hash_map::Entry;
        match self.cache.entry((batch, training)) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => Ok(e.insert(compile(layout, batch, training)?)),
        }
    }
}

fn compile(layout: &Layout<'_>, batch: usize, training: bool) -> Result<Compiled, RunError> {
    let mut dims = layout.dims.clone();
    dims.insert(layout.over.clone(), batch);
    let mut lowered = lower(
        layout.checked,
        &dims,
        &LowerOptions {
            element_bytes: layout.element_bytes,
            max_jacobian_bytes: u128::MAX,
            max_value_bytes: MAX_VALUE_BYTES,
            training,
        },
    )?;
    let node = |name: &str| {
        lowered.named.get(name).copied().ok_or_else(|| {
            RunError::from(Diagnostic::error_nowhere(
                Code::E0699,
                format!("internal error: `{name}` has no node in the training graph"),
            ))
        })
    };
    let mut outputs = vec![node(&layout.loss)?];
    for m in &layout.metrics {
        outputs.push(node(m)?);
    }
    let mut leaves = Vec::new();
    for leaf in &lowered.leaves {
        let slot = if let Some(i) = layout.params.iter().position(|(n, _)| *n == leaf.name) {
            Slot::Param(i)
        } else if let Some(i) = layout.data.iter().position(|n| *n == leaf.name) {
            Slot::Data(i)
        } else if let Some(i) = layout.constants.iter().position(|n| *n == leaf.name) {
            Slot::Constant(i)
        } else {
            return Err(Diagnostic::error_nowhere(
                Code::E0699,
                format!(
                    "internal error: the leaf `{}` has no value in training",
                    leaf.name
                ),
            )
            .into());
        };
        leaves.push((slot, leaf.node));
    }
    if training {
        let loss = outputs[0];
        for (name, trained) in &layout.params {
            if !trained {
                continue;
            }
            let x = node(name)?;
            let g = lowered.graph.grad(loss, x).map_err(|e| {
                RunError::from(Diagnostic::error_nowhere(
                    Code::E0699,
                    format!("internal error while building the gradient of `{name}`: {e}"),
                ))
            })?;
            outputs.push(g);
        }
    }
    let schedule = Schedule::new(&lowered.graph, &outputs).map_err(|e| {
        RunError::from(Diagnostic::error_nowhere(
            Code::E0699,
            format!("internal error while scheduling the training step: {e}"),
        ))
    })?;
    super::super::run::memory::check_fits(
        schedule.peak_bytes(&lowered.graph, layout.element_bytes),
        if training {
            "a training step"
        } else {
            "an evaluation batch"
        },
    )?;
    Ok(Compiled {
        graph: lowered.graph,
        schedule,
        leaves,
        dropout: std::mem::take(&mut lowered.dropout_masks),
        outputs,
        metrics: layout.metrics.len(),
    })
}

/// A scalar output as f64 (metrics may be int or bool valued).
pub fn scalar<T: Float>(v: &Value<T>) -> f64 {
    match v {
        Value::Float(a) => a.iter().next().map_or(f64::NAN, |x| x.to_f64()),
        Value::Int(a) => a.iter().next().map_or(f64::NAN, |x| *x as f64),
    }
}
