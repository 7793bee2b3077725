//! What `gradlang eval` prints: the loss and every metric over a data set.

use serde_json::{Map, Value};

use super::human::sig4;
use crate::data::json_f64;

/// `{"examples": 360, "L": 0.071, "acc": 0.983}`: the count, then the loss by
/// its binding name and each metric by name, in the order given. Non-finite
/// values are `"nan"`, `"inf"`, `"-inf"`. A value named `examples` cannot sit
/// beside the count under the same key: the count is kept and that value left
/// out (the human table shows both).
pub fn eval_json(examples: usize, values: &[(String, f64)]) -> Value {
    let mut o = Map::new();
    o.insert("examples".into(), Value::from(examples));
    for (name, x) in values {
        if name != "examples" {
            o.insert(name.clone(), json_f64(*x));
        }
    }
    Value::Object(o)
}

/// A short aligned table, names left and values (four significant digits)
/// after them, one per line:
///
/// ```text
/// examples  360
/// L         0.07100
/// acc       0.9830
/// ```
pub fn eval_human(examples: usize, values: &[(String, f64)]) -> String {
    let width = values
        .iter()
        .map(|(name, _)| name.chars().count())
        .chain(std::iter::once("examples".len()))
        .max()
        .unwrap_or(0);
    let mut out = format!("{:<width$}  {examples}\n", "examples");
    for (name, x) in values {
        out.push_str(&format!("{name:<width$}  {}\n", sig4(*x)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Vec<(String, f64)> {
        vec![("L".into(), 0.071), ("acc".into(), 0.983_33)]
    }

    #[test]
    fn json_shape_in_order() {
        assert_eq!(
            eval_json(360, &values()).to_string(),
            r#"{"examples":360,"L":0.071,"acc":0.98333}"#
        );
        let odd = vec![("L".into(), f64::NAN), ("examples".into(), 1.0)];
        assert_eq!(
            eval_json(5, &odd).to_string(),
            r#"{"examples":5,"L":"nan"}"#
        );
    }

    #[test]
    fn human_table_is_aligned() {
        assert_eq!(
            eval_human(360, &values()),
            "examples  360\nL         0.07100\nacc       0.9833\n"
        );
        let long = vec![("cross_entropy".into(), f64::INFINITY)];
        assert_eq!(
            eval_human(2, &long),
            "examples       2\ncross_entropy  inf\n"
        );
    }
}
