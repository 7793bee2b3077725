//! The training loop (SPEC section 11): epochs of seeded minibatches, one
//! reverse sweep per step for the trained params, clipping, the optimizer,
//! validation after each epoch, early stopping. Everything it does is a
//! function of (program, data, seed, settings), so a run repeats bit for bit,
//! whatever the thread count, and a resumed run ends where an uninterrupted
//! one would.
//!
//! The loop never touches the terminal or files: it reports to an
//! [`Observer`] (progress, logs, checkpoints are the command's business).

use super::data::{batches, epoch_order, steps_per_epoch, Dataset};
use super::graphs::{scalar, Compiled, Graphs, Layout, Slot};
use super::optim::{self, ParamState};
use super::profile::{LoopProfile, Phase};
use super::report::EpochRecord;
use crate::check::train::spec::{Optimizer, Schedule};
use crate::diagnostics::{Code, Diagnostic};
use crate::graph::{EvalError, Float, NodeId, Value};
use crate::run::init::sample;
use crate::run::RunError;
use ndarray::{ArrayD, IxDyn};
use std::collections::HashMap;
use std::time::Instant;

/// A param and, when trained, its optimizer state.
#[derive(Clone, Debug)]
pub struct Param<T> {
    /// The full name (`fc1.W`).
    pub name: String,
    pub value: ArrayD<T>,
    pub trained: bool,
    pub decay: bool,
    pub state: ParamState<T>,
}

/// The values a step reads besides the data: params and constant inputs.
pub struct Model<T> {
    pub params: Vec<Param<T>>,
    pub constants: Vec<(String, Value<T>)>,
}

/// `--early-stop METRIC,patience=P,min-delta=D`.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStop {
    /// `loss`, `val_loss`, `acc`, `val_acc`, ...
    pub metric: String,
    pub patience: usize,
    pub min_delta: f64,
}

impl EarlyStop {
    /// Names ending in `loss` are minimized, every other metric maximized.
    pub fn minimize(&self) -> bool {
        self.metric.ends_with("loss")
    }
}

/// How the run goes (the program's `train` statement with the command line's
/// overrides applied).
#[derive(Clone, Debug)]
pub struct Settings {
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub shuffle: bool,
    pub drop_last: bool,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub clip_norm: Option<f64>,
    pub early_stop: Option<EarlyStop>,
}

/// Where a run stands: everything besides the values that a checkpoint must
/// hold for a resumed run to continue exactly.
#[derive(Clone, Debug)]
pub struct Position<T> {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps done, over the whole run.
    pub step: u64,
    /// Steps done in the epoch in progress (0 at an epoch boundary).
    pub step_in_epoch: u64,
    /// Running sums of the epoch in progress: examples, then the loss and
    /// each metric times its batch's size.
    pub sums: Vec<f64>,
    /// Wall time already spent in the epoch in progress.
    pub epoch_time: f64,
    pub history: Vec<EpochRecord>,
    /// Early stopping: the best value, its epoch, epochs since, its params.
    pub best: Option<(f64, usize)>,
    pub bad_epochs: usize,
    pub best_params: Option<Vec<ArrayD<T>>>,
}

impl<T> Position<T> {
    pub fn start(metrics: usize) -> Self {
        Position {
            epoch: 0,
            step: 0,
            step_in_epoch: 0,
            sums: vec![0.0; metrics + 2],
            epoch_time: 0.0,
            history: Vec::new(),
            best: None,
            bad_epochs: 0,
            best_params: None,
        }
    }
}

/// What the loop tells the command as it goes.
pub trait Observer<T> {
    /// After each optimizer step.
    fn step(&mut self, epoch: usize, step_in_epoch: u64, loss: f64, examples: usize);
    /// After each epoch (and its validation), with the state to checkpoint.
    fn epoch_end(
        &mut self,
        record: &EpochRecord,
        model: &Model<T>,
        position: &Position<T>,
    ) -> Result<(), RunError>;
    /// Whether the run should stop after the current step (Ctrl-C).
    fn interrupted(&self) -> bool;
    /// Whether the loop should time its phases (`--profile`).
    fn profiling(&self) -> bool {
        false
    }
    /// Once, when the loop ends (however it ends), with its phase times.
    fn loop_profile(&mut self, _profile: &LoopProfile) {}
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every epoch ran; with early stopping, the params are those of
    /// `best_epoch`.
    Completed { best_epoch: Option<usize> },
    /// Early stopping ended the run; the params are those of `best_epoch`.
    EarlyStopped { best_epoch: usize },
    /// Stopped after a step on request; the position is mid-epoch.
    Interrupted,
}

/// Trains `model` on `train` from `position` until `settings.epochs`.
#[allow(clippy::too_many_arguments)]
pub fn fit<T: Float>(
    layout: &Layout<'_>,
    graphs: &mut Graphs,
    model: &mut Model<T>,
    train: &Dataset<T>,
    val: Option<&Dataset<T>>,
    settings: &Settings,
    position: &mut Position<T>,
    observer: &mut dyn Observer<T>,
) -> Result<Outcome, RunError> {
    let mut prof = LoopProfile::new(observer.profiling());
    let outcome = fit_epochs(
        layout, graphs, model, train, val, settings, position, observer, &mut prof,
    );
    prof.lap(Phase::Other);
    observer.loop_profile(&prof);
    outcome
}

#[allow(clippy::too_many_arguments)]
fn fit_epochs<T: Float>(
    layout: &Layout<'_>,
    graphs: &mut Graphs,
    model: &mut Model<T>,
    train: &Dataset<T>,
    val: Option<&Dataset<T>>,
    settings: &Settings,
    position: &mut Position<T>,
    observer: &mut dyn Observer<T>,
    prof: &mut LoopProfile,
) -> Result<Outcome, RunError> {
    let per_epoch = steps_per_epoch(train.examples, settings.batch_size, settings.drop_last);
    let total = per_epoch * settings.epochs as u64;
    for epoch in position.epoch + 1..=settings.epochs {
        let started = Instant::now()
            .checked_sub(std::time::Duration::from_secs_f64(position.epoch_time))
            .unwrap_or_else(Instant::now);
        let order = epoch_order(train.examples, settings.seed, epoch, settings.shuffle);
        let mut lr = settings.optimizer.lr;
        for batch in batches(&order, settings.batch_size, settings.drop_last)
            .into_iter()
            .skip(position.step_in_epoch as usize)
        {
            lr = settings.optimizer.lr * settings.schedule.factor(position.step, total);
            let values = train_step(
                layout, graphs, model, train, batch, settings, position, lr, prof,
            )?;
            position.step += 1;
            position.step_in_epoch += 1;
            position.sums[0] += batch.len() as f64;
            for (sum, v) in position.sums[1..].iter_mut().zip(&values) {
                *sum += v * batch.len() as f64;
            }
            position.epoch_time = started.elapsed().as_secs_f64();
            observer.step(epoch, position.step_in_epoch, values[0], batch.len());
            if observer.interrupted() {
                return Ok(Outcome::Interrupted);
            }
        }
        let examples = position.sums[0].max(1.0);
        let names = value_names(layout);
        let train_values: Vec<(String, f64)> = names
            .iter()
            .cloned()
            .zip(position.sums[1..].iter().map(|s| s / examples))
            .collect();
        prof.lap(Phase::Other);
        let val_values = match val {
            Some(v) => Some(
                names
                    .iter()
                    .cloned()
                    .zip(evaluate(layout, graphs, model, v, settings.batch_size)?)
                    .collect(),
            ),
            None => None,
        };
        prof.lap(Phase::Validation);
        if position.step_in_epoch > 0 {
            // The lr of the epoch's last step.
            lr = settings.optimizer.lr
                * settings
                    .schedule
                    .factor(position.step.saturating_sub(1), total);
        }
        let record = EpochRecord {
            epoch,
            step: position.step,
            lr,
            train: train_values,
            val: val_values,
            time_s: started.elapsed().as_secs_f64(),
        };
        position.history.push(record.clone());
        position.epoch = epoch;
        position.step_in_epoch = 0;
        position.sums.iter_mut().for_each(|s| *s = 0.0);
        position.epoch_time = 0.0;
        let stop = match &settings.early_stop {
            Some(es) => early_stop(es, &record, model, position),
            None => false,
        };
        observer.epoch_end(&record, model, position)?;
        if stop && epoch < settings.epochs {
            let best_epoch = position.best.map_or(epoch, |(_, e)| e);
            restore_best(model, position);
            return Ok(Outcome::EarlyStopped { best_epoch });
        }
    }
    if settings.early_stop.is_some() {
        restore_best(model, position);
    }
    Ok(Outcome::Completed {
        best_epoch: position.best.map(|(_, e)| e),
    })
}

/// "loss" then each metric's name: the keys of an epoch record.
pub fn value_names(layout: &Layout<'_>) -> Vec<String> {
    std::iter::once("loss".to_string())
        .chain(layout.metrics.iter().cloned())
        .collect()
}

/// The value `es.metric` names in a record (`val_` prefix: validation).
pub fn record_value(record: &EpochRecord, metric: &str) -> Option<f64> {
    let (set, name) = match metric.strip_prefix("val_") {
        Some(name) => (record.val.as_deref()?, name),
        None => (record.train.as_slice(), metric),
    };
    set.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

/// Updates the early-stopping state; true when the run should stop.
fn early_stop<T: Float>(
    es: &EarlyStop,
    record: &EpochRecord,
    model: &Model<T>,
    position: &mut Position<T>,
) -> bool {
    let Some(value) = record_value(record, &es.metric) else {
        return false;
    };
    let improved = match position.best {
        None => value.is_finite(),
        Some((best, _)) if es.minimize() => value < best - es.min_delta,
        Some((best, _)) => value > best + es.min_delta,
    };
    if improved {
        position.best = Some((value, record.epoch));
        position.bad_epochs = 0;
        position.best_params = Some(model.params.iter().map(|p| p.value.clone()).collect());
        false
    } else {
        position.bad_epochs += 1;
        position.bad_epochs >= es.patience
    }
}

fn restore_best<T: Float>(model: &mut Model<T>, position: &Position<T>) {
    if let Some(best) = &position.best_params {
        for (p, v) in model.params.iter_mut().zip(best) {
            p.value = v.clone();
        }
    }
}

/// One optimizer step on `batch`: the loss and metrics it measured.
#[allow(clippy::too_many_arguments)]
fn train_step<T: Float>(
    layout: &Layout<'_>,
    graphs: &mut Graphs,
    model: &mut Model<T>,
    data: &Dataset<T>,
    batch: &[usize],
    settings: &Settings,
    position: &Position<T>,
    lr: f64,
    prof: &mut LoopProfile,
) -> Result<Vec<f64>, RunError> {
    prof.lap(Phase::Other);
    let compiled = graphs.get(layout, batch.len(), true)?;
    prof.lap(Phase::Build);
    let masks = dropout_masks::<T>(compiled, settings.seed, position.step + 1);
    let rows = data.gather(batch);
    prof.lap(Phase::Gather);
    let mut outputs = run_graph(layout, compiled, model, rows, masks, prof.eval_profile())?;
    prof.lap(Phase::Graph);
    let metrics = compiled.metrics;
    let values: Vec<f64> = outputs[..=metrics].iter().map(scalar).collect();
    let where_ = || {
        format!(
            "at step {} (epoch {}, batch {} of the epoch)",
            position.step + 1,
            position.epoch + 1,
            position.step_in_epoch + 1
        )
    };
    if !values[0].is_finite() {
        return Err(non_finite(format!(
            "the loss `{}` is {} {}",
            layout.loss,
            values[0],
            where_()
        )));
    }
    let mut grads: Vec<ArrayD<T>> = outputs
        .drain(metrics + 1..)
        .map(|v| match v {
            Value::Float(a) if a.is_standard_layout() => a,
            Value::Float(a) => a.as_standard_layout().into_owned(),
            Value::Int(a) => a.mapv(|x| T::from_f64(x as f64)),
        })
        .collect();
    let trained: Vec<usize> = (0..model.params.len())
        .filter(|&i| model.params[i].trained)
        .collect();
    let slices: Vec<&[T]> = grads
        .iter()
        .map(|g| g.as_slice().expect("standard layout"))
        .collect();
    if let Some((k, at, v)) = optim::first_non_finite_of(&slices) {
        let p = &model.params[trained[k]];
        return Err(non_finite(format!(
            "the gradient of `{}` is {v} at {:?} {}",
            p.name,
            unravel(at, p.value.shape()),
            where_()
        )));
    }
    if let Some(c) = settings.clip_norm {
        let slices: Vec<&[T]> = grads
            .iter()
            .map(|g| g.as_slice().expect("standard"))
            .collect();
        let factor = optim::clip_factor(c, optim::global_norm(&slices));
        if factor < 1.0 {
            for g in &mut grads {
                optim::scale(g.as_slice_mut().expect("standard"), factor);
            }
        }
    }
    let mut steps: Vec<optim::ParamStep<'_, T>> = model
        .params
        .iter_mut()
        .filter(|p| p.trained)
        .zip(&grads)
        .map(|(p, g)| optim::ParamStep {
            theta: p
                .value
                .as_slice_mut()
                .expect("params are kept in standard layout"),
            grad: g.as_slice().expect("standard"),
            state: &mut p.state,
            decay: p.decay,
        })
        .collect();
    optim::update_all(&settings.optimizer, lr, position.step + 1, &mut steps);
    drop(steps);
    // The gradients' buffers serve the next step's.
    compiled
        .schedule
        .recycle(grads.into_iter().map(Value::Float).collect());
    prof.step(batch.len());
    prof.lap(Phase::Optimizer);
    Ok(values)
}

/// The loss and each metric over a whole data set, in batches of
/// `batch_size` (the last one smaller), weighted by batch size; dropout off.
pub fn evaluate<T: Float>(
    layout: &Layout<'_>,
    graphs: &mut Graphs,
    model: &mut Model<T>,
    data: &Dataset<T>,
    batch_size: usize,
) -> Result<Vec<f64>, RunError> {
    let order: Vec<usize> = (0..data.examples).collect();
    let mut sums = vec![0.0; layout.metrics.len() + 1];
    for batch in batches(&order, batch_size, false) {
        let compiled = graphs.get(layout, batch.len(), false)?;
        let outputs = run_graph(
            layout,
            compiled,
            model,
            data.gather(batch),
            Vec::new(),
            None,
        )?;
        for (s, v) in sums.iter_mut().zip(&outputs) {
            *s += scalar(v) * batch.len() as f64;
        }
    }
    let n = data.examples.max(1) as f64;
    Ok(sums.into_iter().map(|s| s / n).collect())
}

/// Evaluates a compiled graph with the model's values (moved in and back
/// out, never copied), a batch of data and dropout masks.
fn run_graph<T: Float>(
    layout: &Layout<'_>,
    c: &Compiled,
    model: &mut Model<T>,
    batch: Vec<(String, Value<T>)>,
    masks: Vec<(NodeId, Value<T>)>,
    profile: Option<&mut crate::graph::Profile>,
) -> Result<Vec<Value<T>>, RunError> {
    let mut leaves: HashMap<NodeId, Value<T>> = masks.into_iter().collect();
    let mut batch: Vec<Option<Value<T>>> = batch.into_iter().map(|(_, v)| Some(v)).collect();
    let empty = || ArrayD::<T>::zeros(IxDyn(&[0]));
    for &(slot, node) in &c.leaves {
        let v = match slot {
            Slot::Param(i) => Value::Float(std::mem::replace(&mut model.params[i].value, empty())),
            Slot::Data(i) => batch[i].take().unwrap_or(Value::Float(empty())),
            Slot::Constant(i) => {
                std::mem::replace(&mut model.constants[i].1, Value::Float(empty()))
            }
        };
        leaves.insert(node, v);
    }
    let result = c.schedule.run(&c.graph, &leaves, profile);
    for &(slot, node) in &c.leaves {
        let v = leaves.remove(&node);
        match (slot, v) {
            (Slot::Param(i), Some(Value::Float(a))) => model.params[i].value = a,
            (Slot::Constant(i), Some(v)) => model.constants[i].1 = v,
            _ => {}
        }
    }
    result.map_err(|e| eval_error(layout, c, e))
}

fn eval_error(layout: &Layout<'_>, c: &Compiled, e: EvalError) -> RunError {
    match e {
        EvalError::LabelOutOfRange {
            node,
            label,
            classes,
        } => {
            let name = c.graph.leaf_name(node).unwrap_or("labels");
            let span = layout
                .checked
                .decls
                .iter()
                .find(|d| d.name == name)
                .map(|d| d.span);
            Diagnostic::error_at(
                Code::E0603,
                span,
                format!(
                    "label {label} in `{name}` is out of range: there are {classes} classes (0..{})",
                    classes.saturating_sub(1)
                ),
            )
            .with_primary_label("labels come from here")
            .with_help("each label must be a class index in 0..C")
            .into()
        }
        other => Diagnostic::error_nowhere(
            Code::E0699,
            format!("internal error while training: {other}"),
        )
        .with_help("this is a bug in gradlang; please report it with the program")
        .into(),
    }
}

fn non_finite(message: String) -> RunError {
    Diagnostic::error_nowhere(Code::E0712, message)
        .with_help(
            "lower the learning rate (--lr), clip gradients (`clip_norm=1.0`), or check the data \
             for NaN or infinite values; the last checkpoint, if any, is intact",
        )
        .into()
}

/// A flat index as a multi-index of `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut out = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            out[k] = i % d;
            i /= d;
        }
    }
    out
}

/// Fresh dropout masks for `step` (from 1): each element kept with
/// probability 1 - p and scaled by 1/(1-p), drawn as the initializers are
/// ([`sample`]) from streams keyed by (seed, step, the mask's place in the
/// program), so the masks never depend on the thread count.
fn dropout_masks<T: Float>(c: &Compiled, seed: u64, step: u64) -> Vec<(NodeId, Value<T>)> {
    c.dropout
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let numel: usize = m.shape.iter().product();
            let keep = T::from_f64(1.0 / (1.0 - m.p));
            // `uniform() >= p`, with uniform() = (u >> 11) / 2^53, compared
            // as integers (exact: p * 2^53 is exact, and the draw an integer).
            let threshold = (m.p * (1u64 << 53) as f64).ceil() as u64;
            let stream = format!("dropout#{k}/step-{step}");
            let data = sample::<T>(&stream, seed, numel, |rng| {
                if rng.next_u64() >> 11 >= threshold {
                    keep
                } else {
                    T::zero()
                }
            });
            let a = ArrayD::from_shape_vec(IxDyn(&m.shape), data).expect("numel of the shape");
            (m.node, Value::Float(a))
        })
        .collect()
}
