//! JSON encoding of values (SPEC section 8):
//! `{"dtype": "f32"|"f64"|"int", "shape": [..], "data": [..flat row-major..]}`.

use serde_json::{json, Number, Value};

use super::array::ArrayRef;

/// A float as a JSON value: a number, or the string `"nan"`, `"inf"`, `"-inf"`.
pub fn json_f64(x: f64) -> Value {
    match Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None if x.is_nan() => Value::String("nan".into()),
        None if x > 0.0 => Value::String("inf".into()),
        None => Value::String("-inf".into()),
    }
}

/// An f32 as a JSON value, written as the shortest decimal that round-trips the f32
/// (so `0.1f32` is `0.1`, not `0.10000000149011612`).
pub fn json_f32(x: f32) -> Value {
    if !x.is_finite() {
        return json_f64(f64::from(x));
    }
    // Rust's Display gives the shortest round-trip digits of the f32; the f64 nearest to
    // that decimal prints back as the same decimal.
    let shortest: f64 = x.to_string().parse().unwrap_or(f64::from(x));
    json_f64(shortest)
}

/// Encode an array: `dtype` is `"f32"`, `"f64"` or `"int"` (for i32 and i64), `shape` a
/// list of integers (`[]` for a scalar), `data` the elements flat in row-major order.
pub fn array_to_json(a: ArrayRef<'_>) -> Value {
    let (dtype, data): (&str, Vec<Value>) = match &a {
        ArrayRef::F32(v) => ("f32", v.iter().map(|&x| json_f32(x)).collect()),
        ArrayRef::F64(v) => ("f64", v.iter().map(|&x| json_f64(x)).collect()),
        ArrayRef::I32(v) => ("int", v.iter().map(|&x| Value::from(x)).collect()),
        ArrayRef::I64(v) => ("int", v.iter().map(|&x| Value::from(x)).collect()),
        ArrayRef::Bool(v) => ("bool", v.iter().map(|&x| Value::from(x)).collect()),
    };
    json!({
        "dtype": dtype,
        "shape": a.shape(),
        "data": data,
    })
}
