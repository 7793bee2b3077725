//! The safetensors header: a JSON object mapping each tensor's name to its
//! `dtype`, `shape` and `data_offsets` (into the data section after the
//! header), plus an optional `__metadata__` object of strings.
//!
//! Parsing is ours, so that every problem names the tensor it is about and a
//! name given twice is refused (a JSON map would silently keep the last one);
//! the layout rules are then confirmed by the `safetensors` crate's own
//! validator (`Metadata::new`), so what this module accepts is what Hugging
//! Face's readers accept. Writing keeps the caller's order and is
//! deterministic (`__metadata__` first, sorted), padded with spaces to a
//! multiple of 8 bytes as the crate pads.

use std::collections::BTreeMap;
use std::fmt;

use ::safetensors::tensor::{Metadata, TensorInfo};
use ::safetensors::Dtype as StDtype;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{json, Value};

use super::error::{DataError, DataErrorKind};
use super::header::Dtype;

/// The largest header accepted: the `safetensors` crate's own limit.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The key of the free-form string metadata.
pub const METADATA_KEY: &str = "__metadata__";

fn format_err(msg: impl Into<String>) -> DataError {
    DataError::new(DataErrorKind::Format, msg)
}

/// One tensor of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Byte range in the data section.
    pub start: usize,
    pub end: usize,
}

impl Entry {
    pub fn count(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A validated header: the tensors in data order, and the metadata.
#[derive(Debug)]
pub struct Header {
    pub entries: Vec<Entry>,
    pub metadata: BTreeMap<String, String>,
}

/// The format's name of each dtype read and written here.
pub fn dtype_name(d: Dtype) -> &'static str {
    match d {
        Dtype::F32 => "F32",
        Dtype::F64 => "F64",
        Dtype::I32 => "I32",
        Dtype::I64 => "I64",
        Dtype::Bool => "BOOL",
    }
}

/// `[2, 3]` (the format writes shapes as JSON lists).
pub fn shape_list(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

fn to_crate(d: Dtype) -> StDtype {
    match d {
        Dtype::F32 => StDtype::F32,
        Dtype::F64 => StDtype::F64,
        Dtype::I32 => StDtype::I32,
        Dtype::I64 => StDtype::I64,
        Dtype::Bool => StDtype::BOOL,
    }
}

/// The top-level object with every key kept, in file order (duplicates too).
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object mapping tensor names to their dtype, shape and offsets")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses and validates `text` for a data section of `data_len` bytes.
pub fn parse(text: &str, data_len: u64) -> Result<Header, DataError> {
    let Entries(raw) = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            format_err(format!("the header is not a safetensors header: {e}"))
        }
        _ => format_err(format!("the header is not valid JSON: {e}")),
    })?;
    let mut seen = std::collections::HashSet::new();
    let mut metadata = BTreeMap::new();
    let mut entries = Vec::new();
    for (name, value) in raw {
        if !seen.insert(name.clone()) {
            return Err(format_err(format!(
                "'{name}' appears twice in the header; each tensor needs its own name"
            )));
        }
        if name == METADATA_KEY {
            metadata = parse_metadata(value)?;
        } else {
            entries.push(parse_entry(name, &value)?);
        }
    }
    check_layout(&mut entries, data_len)?;
    Ok(Header { entries, metadata })
}

fn parse_metadata(value: Value) -> Result<BTreeMap<String, String>, DataError> {
    let Value::Object(map) = value else {
        return Err(format_err(format!(
            "'{METADATA_KEY}' must be an object of strings, not {}",
            describe(&value)
        )));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(format_err(format!(
                "'{METADATA_KEY}' must map names to strings, but '{k}' is {}",
                describe(&other)
            ))),
        })
        .collect()
}

fn describe(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(37).collect::<String>())
    } else {
        text
    }
}

fn parse_entry(name: String, value: &Value) -> Result<Entry, DataError> {
    let bad = |what: String| format_err(format!("tensor '{name}': {what}"));
    let Value::Object(fields) = value else {
        return Err(bad(format!(
            "expected an object with dtype, shape and data_offsets, found {}",
            describe(value)
        )));
    };
    let field = |key: &str| {
        fields
            .get(key)
            .ok_or_else(|| bad(format!("the header gives no '{key}'")))
    };
    let dtype = match field("dtype")? {
        Value::String(s) => dtype_of(&name, s)?,
        other => {
            return Err(bad(format!(
                "'dtype' must be a string, not {}",
                describe(other)
            )))
        }
    };
    let index = |v: &Value, what: &str| {
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                bad(format!(
                    "{what} must be non-negative integers, found {}",
                    describe(v)
                ))
            })
    };
    let shape = match field("shape")? {
        Value::Array(dims) => dims
            .iter()
            .map(|d| index(d, "'shape' entries"))
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(bad(format!(
                "'shape' must be a list, not {}",
                describe(other)
            )))
        }
    };
    let (start, end) = match field("data_offsets")? {
        Value::Array(pair) if pair.len() == 2 => (
            index(&pair[0], "'data_offsets'")?,
            index(&pair[1], "'data_offsets'")?,
        ),
        other => {
            return Err(bad(format!(
                "'data_offsets' must be [begin, end], not {}",
                describe(other)
            )))
        }
    };
    Ok(Entry {
        name,
        dtype,
        shape,
        start,
        end,
    })
}

const SUPPORTED: &str = "F32, F64, I32, I64 and BOOL";

/// A dtype name the format defines and this reader supports.
fn dtype_of(name: &str, s: &str) -> Result<Dtype, DataError> {
    match serde_json::from_value::<StDtype>(Value::String(s.to_string())) {
        Ok(StDtype::F32) => Ok(Dtype::F32),
        Ok(StDtype::F64) => Ok(Dtype::F64),
        Ok(StDtype::I32) => Ok(Dtype::I32),
        Ok(StDtype::I64) => Ok(Dtype::I64),
        Ok(StDtype::BOOL) => Ok(Dtype::Bool),
        Ok(other) => Err(DataError::new(
            DataErrorKind::Unsupported,
            format!("tensor '{name}' has dtype {other}, which is not supported (supported: {SUPPORTED})"),
        )),
        Err(_) => Err(format_err(format!(
            "tensor '{name}' has dtype '{s}', which is not a safetensors dtype \
             (supported: {SUPPORTED})"
        ))),
    }
}

/// Every tensor's byte count fits its dtype and shape, and the tensors cover
/// the data section exactly, without overlap or gap (the format's rule, which
/// the crate's validator confirms). Sorts `entries` into data order.
fn check_layout(entries: &mut [Entry], data_len: u64) -> Result<(), DataError> {
    for e in entries.iter() {
        let Some(len) = e.end.checked_sub(e.start) else {
            return Err(format_err(format!(
                "tensor '{}': data_offsets [{}, {}] end before they begin",
                e.name, e.start, e.end
            )));
        };
        let needed = e
            .shape
            .iter()
            .try_fold(e.dtype.item_size(), |acc, &d| acc.checked_mul(d));
        let Some(needed) = needed else {
            return Err(DataError::new(
                DataErrorKind::TooLarge,
                format!(
                    "tensor '{}': shape {} of {} has more elements than can be addressed",
                    e.name,
                    shape_list(&e.shape),
                    dtype_name(e.dtype)
                ),
            ));
        };
        if needed != len {
            return Err(format_err(format!(
                "tensor '{}': shape {} of {} needs {needed} bytes, but its data_offsets \
                 [{}, {}] hold {len}",
                e.name,
                shape_list(&e.shape),
                dtype_name(e.dtype),
                e.start,
                e.end
            )));
        }
        if e.end as u64 > data_len {
            return Err(DataError::new(
                DataErrorKind::TooLarge,
                format!(
                    "truncated data: tensor '{}' has data_offsets [{}, {}], but the file holds \
                     only {data_len} bytes of data",
                    e.name, e.start, e.end
                ),
            ));
        }
    }
    entries.sort_by_key(|e| (e.start, e.end));
    let mut at = 0usize;
    let mut previous: Option<&Entry> = None;
    for e in entries.iter() {
        if e.start < at {
            let other = previous.map_or(String::new(), |p| format!(" and '{}'", p.name));
            return Err(format_err(format!(
                "tensors '{}'{other} overlap (bytes {}..{at} belong to both)",
                e.name, e.start
            )));
        }
        if e.start > at {
            return Err(format_err(format!(
                "bytes {at}..{} of the data belong to no tensor (the format allows no gaps)",
                e.start
            )));
        }
        at = e.end;
        previous = Some(e);
    }
    if (at as u64) < data_len {
        return Err(format_err(format!(
            "{} unexpected bytes after the data: the tensors end at byte {at} of {data_len}",
            data_len - at as u64
        )));
    }
    confirm(entries)
}

/// The `safetensors` crate's validator on the same layout: a file accepted
/// here is one Hugging Face's readers accept.
fn confirm(entries: &[Entry]) -> Result<(), DataError> {
    let infos = entries
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                TensorInfo {
                    dtype: to_crate(e.dtype),
                    shape: e.shape.clone(),
                    data_offsets: (e.start, e.end),
                },
            )
        })
        .collect();
    Metadata::new(None, infos)
        .map(|_| ())
        .map_err(|e| format_err(format!("the safetensors layout is invalid: {e}")))
}

/// The header for tensors written in the given order, with the 8-byte length
/// prefix, padded to a multiple of 8; and the data section's length.
pub fn encode(
    tensors: &[(&str, Dtype, &[usize])],
    metadata: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, u64), DataError> {
    let mut object = serde_json::Map::new();
    if !metadata.is_empty() {
        object.insert(METADATA_KEY.to_string(), json!(metadata));
    }
    let mut entries = Vec::with_capacity(tensors.len());
    let mut offset = 0usize;
    for &(name, dtype, shape) in tensors {
        if name == METADATA_KEY {
            return Err(format_err(format!(
                "'{METADATA_KEY}' is reserved for the metadata and cannot name a tensor"
            )));
        }
        let end = shape
            .iter()
            .try_fold(dtype.item_size(), |acc, &d| acc.checked_mul(d))
            .and_then(|bytes| offset.checked_add(bytes));
        let Some(end) = end else {
            return Err(DataError::new(
                DataErrorKind::TooLarge,
                format!("tensor '{name}' is too large to write"),
            ));
        };
        let entry = json!({
            "dtype": dtype_name(dtype),
            "shape": shape,
            "data_offsets": [offset, end],
        });
        if object.insert(name.to_string(), entry).is_some() {
            return Err(format_err(format!(
                "'{name}' is given twice; each tensor needs its own name"
            )));
        }
        entries.push(Entry {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            start: offset,
            end,
        });
        offset = end;
    }
    confirm(&entries)?;
    let mut text = serde_json::to_vec(&Value::Object(object))
        .map_err(|e| format_err(format!("cannot encode the header: {e}")))?;
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + text.len());
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    Ok((out, offset as u64))
}
