//! Checkpoints (SPEC section 11): one safetensors file holding the params by
//! full name (`fc1.W`), the optimizer state (`optimizer.m.fc1.W`), with early
//! stopping the best params so far (`best.fc1.W`), and as metadata where the
//! run stands: epoch, step, seed, the resolved hyperparameters, a fingerprint
//! of the program's params and shapes, the epoch in progress and the history.
//! A resumed run continues from exactly that state; files are written
//! atomically, so an interrupted write leaves the previous checkpoint.

use super::fit::{Model, Param, Position};
use super::report::EpochRecord;
use crate::data::{read_safetensors, write_safetensors, ArrayData, ArrayRef, DataError};
use crate::graph::Float;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::path::Path;

/// The `format` metadata of a gradlang checkpoint.
pub const FORMAT: &str = "gradlang-checkpoint-1";

/// What a run is, for the metadata and the comparison on `--resume`.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub seed: u64,
    /// `f32` or `f64`.
    pub dtype: &'static str,
    /// The resolved hyperparameters (optimizer, schedule, batch size, ...).
    pub hyperparameters: Json,
}

/// FNV-1a of every param's name and shape, in order: equal for programs whose
/// params a checkpoint can fill.
pub fn fingerprint<T>(params: &[Param<T>]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in params {
        let text = format!("{}:{:?};", p.name, p.value.shape());
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn shapes<T>(params: &[Param<T>]) -> Json {
    Json::Array(
        params
            .iter()
            .map(|p| json!([p.name, p.value.shape()]))
            .collect(),
    )
}

/// Writes the checkpoint of `model` at `position` to `path` (atomically).
pub fn save<T: Float>(
    path: &Path,
    model: &Model<T>,
    position: &Position<T>,
    info: &RunInfo,
    optimizer: &crate::check::train::spec::Optimizer,
) -> Result<(), DataError>
where
    for<'a> ArrayRef<'a>: From<ArrayViewD<'a, T>>,
{
    let mut tensors: Vec<(String, ArrayRef<'_>)> = Vec::new();
    for p in &model.params {
        tensors.push((p.name.clone(), p.value.view().into()));
    }
    let mut state_views = Vec::new();
    for p in model.params.iter().filter(|p| p.trained) {
        for (kind, buffer) in p.state.named(optimizer) {
            let view = ArrayViewD::from_shape(IxDyn(p.value.shape()), buffer)
                .expect("a state buffer has its param's size");
            state_views.push((format!("optimizer.{kind}.{}", p.name), view));
        }
    }
    for (name, view) in state_views {
        tensors.push((name, view.into()));
    }
    if let Some(best) = &position.best_params {
        for (p, v) in model.params.iter().zip(best) {
            tensors.push((format!("best.{}", p.name), v.view().into()));
        }
    }
    let history: Vec<Json> = position.history.iter().map(EpochRecord::to_json).collect();
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("epoch".to_string(), position.epoch.to_string());
    meta.insert("step".to_string(), position.step.to_string());
    meta.insert(
        "step_in_epoch".to_string(),
        position.step_in_epoch.to_string(),
    );
    meta.insert("seed".to_string(), info.seed.to_string());
    meta.insert("dtype".to_string(), info.dtype.to_string());
    meta.insert(
        "hyperparameters".to_string(),
        info.hyperparameters.to_string(),
    );
    meta.insert("fingerprint".to_string(), fingerprint(&model.params));
    meta.insert("params".to_string(), shapes(&model.params).to_string());
    meta.insert("epoch_sums".to_string(), floats(&position.sums).to_string());
    meta.insert(
        "epoch_time".to_string(),
        float(position.epoch_time).to_string(),
    );
    meta.insert("history".to_string(), Json::Array(history).to_string());
    meta.insert(
        "early_stop".to_string(),
        json!({
            "best": position.best.map(|(v, _)| float(v)),
            "best_epoch": position.best.map(|(_, e)| e),
            "bad_epochs": position.bad_epochs,
        })
        .to_string(),
    );
    write_safetensors(path, &tensors, &meta)
}

/// Floats as their bit patterns' shortest round-trip text (exact on reload).
fn float(v: f64) -> Json {
    match serde_json::Number::from_f64(v) {
        Some(n) => Json::Number(n),
        None => Json::String(v.to_string()),
    }
}

fn floats(v: &[f64]) -> Json {
    Json::Array(v.iter().map(|x| float(*x)).collect())
}

fn json_float(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Why a checkpoint cannot continue this run.
#[derive(Debug)]
pub enum LoadError {
    Read(DataError),
    /// Not a gradlang checkpoint, or its metadata is damaged.
    Format(String),
    /// A checkpoint of another program or shape: what differs.
    Mismatch(Vec<String>),
}

/// Loads `path` into `model` (params and optimizer state) and returns where
/// the run stood; `metrics` is the program's number of metrics.
pub fn load<T: Float>(
    path: &Path,
    model: &mut Model<T>,
    info: &RunInfo,
    optimizer: &crate::check::train::spec::Optimizer,
    metrics: usize,
) -> Result<Position<T>, LoadError> {
    let file = read_safetensors(path).map_err(LoadError::Read)?;
    let meta = &file.metadata;
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| LoadError::Format(format!("its metadata has no `{k}`")))
    };
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(LoadError::Format(
            "it is not a gradlang checkpoint (no `format` metadata); to start from saved params use --init".into(),
        ));
    }
    let mut differences = Vec::new();
    if get("fingerprint")? != &fingerprint(&model.params) {
        let saved: Vec<(String, Vec<usize>)> = serde_json::from_str(get("params")?)
            .map_err(|_| LoadError::Format("its `params` metadata is damaged".into()))?;
        for p in &model.params {
            match saved.iter().find(|(n, _)| *n == p.name) {
                None => differences.push(format!("`{}` is not in the checkpoint", p.name)),
                Some((_, s)) if s.as_slice() != p.value.shape() => differences.push(format!(
                    "`{}` has shape {:?} in the checkpoint but {:?} in the program",
                    p.name,
                    s,
                    p.value.shape()
                )),
                Some(_) => {}
            }
        }
        for (n, _) in &saved {
            if !model.params.iter().any(|p| p.name == *n) {
                differences.push(format!(
                    "the checkpoint has `{n}`, which the program does not declare"
                ));
            }
        }
        if differences.is_empty() {
            differences.push("the params are declared in another order".into());
        }
    }
    if get("dtype")? != info.dtype {
        differences.push(format!(
            "it was trained in {} and this run is {} (--dtype)",
            get("dtype")?,
            info.dtype
        ));
    }
    if !differences.is_empty() {
        return Err(LoadError::Mismatch(differences));
    }
    let mut tensors: BTreeMap<String, ArrayData> = file.tensors.into_iter().collect();
    let has_best = tensors.keys().any(|k| k.starts_with("best."));
    let mut take = |name: &str, shape: &[usize]| -> Result<ArrayD<T>, LoadError> {
        let data = tensors
            .remove(name)
            .ok_or_else(|| LoadError::Format(format!("it has no tensor `{name}`")))?;
        let a = to_float::<T>(&data).ok_or_else(|| {
            LoadError::Format(format!("`{name}` holds {} values", data.dtype_name()))
        })?;
        if a.shape() != shape {
            return Err(LoadError::Format(format!(
                "`{name}` has shape {:?}",
                a.shape()
            )));
        }
        Ok(a)
    };
    for i in 0..model.params.len() {
        let shape = model.params[i].value.shape().to_vec();
        model.params[i].value = take(&model.params[i].name.clone(), &shape)?;
        if model.params[i].trained {
            let name = model.params[i].name.clone();
            let mut loaded = Vec::new();
            for kind in optimizer.state_names() {
                let a = take(&format!("optimizer.{kind}.{name}"), &shape)?;
                loaded.push(a.into_raw_vec_and_offset().0);
            }
            let p = &mut model.params[i];
            for ((_, buffer), data) in p.state.named_mut(optimizer).into_iter().zip(loaded) {
                *buffer = data;
            }
        }
    }
    let number = |k: &str| -> Result<u64, LoadError> {
        get(k)?
            .parse()
            .map_err(|_| LoadError::Format(format!("its `{k}` metadata is not a number")))
    };
    let parse = |k: &str| -> Result<Json, LoadError> {
        serde_json::from_str(get(k)?)
            .map_err(|_| LoadError::Format(format!("its `{k}` metadata is damaged")))
    };
    // The examples, the loss and each metric: what `Position::start` makes.
    let sums: Vec<f64> = match parse("epoch_sums")? {
        Json::Array(v) => v.iter().filter_map(json_float).collect(),
        _ => Vec::new(),
    };
    if sums.len() != metrics + 2 {
        return Err(LoadError::Format(
            "its `epoch_sums` metadata is damaged".into(),
        ));
    }
    let history = match parse("history")? {
        Json::Array(v) => v.iter().map(record_from_json).collect::<Option<Vec<_>>>(),
        _ => None,
    }
    .ok_or_else(|| LoadError::Format("its `history` metadata is damaged".into()))?;
    let early = parse("early_stop")?;
    let best = match (
        early.get("best").and_then(json_float),
        early["best_epoch"].as_u64(),
    ) {
        (Some(v), Some(e)) => Some((v, e as usize)),
        _ => None,
    };
    let mut best_params = None;
    if best.is_some() && has_best {
        let mut values = Vec::new();
        for p in model.params.iter() {
            values.push(take(&format!("best.{}", p.name), p.value.shape())?);
        }
        best_params = Some(values);
    }
    Ok(Position {
        epoch: number("epoch")? as usize,
        step: number("step")?,
        step_in_epoch: number("step_in_epoch")?,
        sums,
        epoch_time: parse("epoch_time")
            .ok()
            .as_ref()
            .and_then(json_float)
            .unwrap_or(0.0),
        history,
        best,
        bad_epochs: early["bad_epochs"].as_u64().unwrap_or(0) as usize,
        best_params,
    })
}

/// The hyperparameters a checkpoint was trained with.
pub fn saved_hyperparameters(path: &Path) -> Option<Json> {
    let file = read_safetensors(path).ok()?;
    serde_json::from_str(file.metadata.get("hyperparameters")?).ok()
}

/// A float array of the run's type from a file's array (ints refused).
pub fn to_float<T: Float>(d: &ArrayData) -> Option<ArrayD<T>> {
    match d {
        ArrayData::F32(a) => Some(a.mapv(|v| T::from_f64(f64::from(v)))),
        ArrayData::F64(a) => Some(a.mapv(T::from_f64)),
        _ => None,
    }
}

fn record_from_json(v: &Json) -> Option<EpochRecord> {
    let values = |o: &Json| -> Option<Vec<(String, f64)>> {
        o.as_object()?
            .iter()
            .map(|(k, v)| Some((k.clone(), json_float(v).or_else(|| special(v))?)))
            .collect()
    };
    Some(EpochRecord {
        epoch: v.get("epoch")?.as_u64()? as usize,
        step: v.get("step")?.as_u64()?,
        lr: json_float(v.get("lr")?).or_else(|| special(&v["lr"]))?,
        train: values(v.get("train")?)?,
        val: match v.get("val") {
            None | Some(Json::Null) => None,
            Some(o) => Some(values(o)?),
        },
        time_s: json_float(v.get("time_s")?).unwrap_or(0.0),
    })
}

/// `"nan"`, `"inf"`, `"-inf"` as gradlang's JSON writes non-finite numbers.
fn special(v: &Json) -> Option<f64> {
    match v.as_str()? {
        "nan" => Some(f64::NAN),
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}
