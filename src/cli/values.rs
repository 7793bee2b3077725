//! Printing a run's values: NumPy-style text with symbolic shapes, or the JSON
//! object of SPEC section 8.

use crate::check::Checked;
use crate::data::{array_to_json, format_array, ArrayRef};
use crate::graph::{Float, Value};
use crate::run::{self, Prepared};

/// The run's float type, viewed for printing and writing through the data
/// module's own `ArrayViewD -> ArrayRef` conversions.
pub trait OutputFloat: Float {
    fn array_ref(a: &ndarray::ArrayD<Self>) -> ArrayRef<'_>;
}

impl<T: Float> OutputFloat for T
where
    for<'a> ArrayRef<'a>: From<ndarray::ArrayViewD<'a, T>>,
{
    fn array_ref(a: &ndarray::ArrayD<T>) -> ArrayRef<'_> {
        a.view().into()
    }
}

/// A bool-typed value (a 0/1 float mask in the engine) as `bool`s.
pub fn as_bool<T: OutputFloat>(
    name: &str,
    v: &Value<T>,
    checked: &Checked,
) -> Option<ndarray::ArrayD<bool>> {
    let ty = checked
        .bindings
        .iter()
        .find(|b| b.name == name)
        .map(|b| &b.ty)
        .or_else(|| checked.decls.iter().find(|d| d.name == name).map(|d| &d.ty))?;
    if ty.elem != crate::check::types::Elem::Bool {
        return None;
    }
    v.as_float().map(|a| a.mapv(|x| x != T::zero()))
}

pub fn array_ref<T: OutputFloat>(v: &Value<T>) -> ArrayRef<'_> {
    match v {
        Value::Int(a) => ArrayRef::I64(a.view()),
        Value::Float(a) => T::array_ref(a),
    }
}

/// `name: [N=2, D=3] f32 =` and the array, for each value.
pub fn human_output<T: OutputFloat>(
    named: &[(&str, &Value<T>)],
    prepared: &Prepared,
    checked: &Checked,
) -> String {
    let mut out = String::new();
    for (name, value) in named {
        let bools = as_bool(name, value, checked);
        let dtype = match value {
            _ if bools.is_some() => "bool",
            Value::Float(_) => T::NAME,
            Value::Int(_) => "int",
        };
        let shape = symbolic_shape(name, checked, prepared)
            .unwrap_or_else(|| format!("{:?}", value.shape()));
        let body = match &bools {
            Some(b) => format_array(ArrayRef::Bool(b.view())),
            None => format_array(array_ref(value)),
        };
        if value.shape().is_empty() {
            out.push_str(&format!("{name}: {shape} {dtype} = {body}\n"));
        } else {
            out.push_str(&format!("{name}: {shape} {dtype} =\n{body}\n"));
        }
    }
    out
}

/// `[N=64, D=4096]` for a named value, from its checked type.
fn symbolic_shape(name: &str, checked: &Checked, prepared: &Prepared) -> Option<String> {
    let ty = checked
        .bindings
        .iter()
        .find(|b| b.name == name)
        .map(|b| &b.ty)
        .or_else(|| checked.decls.iter().find(|d| d.name == name).map(|d| &d.ty))?;
    let value_of = |id| prepared.dims.get(checked.dims.name(id)).map(|v| *v as i64);
    Some(run::bind::shape_with_values(&ty.shape, checked, &value_of))
}

/// `{"dims": {...}, "values": [{"name", "dtype", "shape", "data"}, ...]}`.
pub fn json_output<T: OutputFloat>(
    named: &[(&str, &Value<T>)],
    prepared: &Prepared,
    checked: &Checked,
) -> serde_json::Value {
    let mut dims = serde_json::Map::new();
    for name in &prepared.dim_order {
        if let Some(v) = prepared.dims.get(name) {
            dims.insert(name.clone(), serde_json::json!(v));
        }
    }
    let values: Vec<serde_json::Value> = named
        .iter()
        .map(|(name, value)| {
            // `name` first, then dtype, shape and data (SPEC section 8).
            let mut entry = serde_json::Map::new();
            entry.insert("name".into(), serde_json::json!(name));
            let bools = as_bool(name, value, checked);
            let array = match &bools {
                Some(b) => array_to_json(ArrayRef::Bool(b.view())),
                None => array_to_json(array_ref(value)),
            };
            if let serde_json::Value::Object(fields) = array {
                entry.extend(fields);
            }
            serde_json::Value::Object(entry)
        })
        .collect();
    serde_json::json!({ "dims": dims, "values": values })
}
