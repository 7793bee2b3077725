//! One epoch's numbers, as every output (stdout JSON, JSON lines, CSV, the
//! chart, the epoch line) receives them, and their JSON form (SPEC section 11).

use serde_json::{Map, Value};

use crate::data::json_f64;

/// What one epoch produced. The training loop builds one per epoch and hands
/// the same value to every output, so they cannot disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Optimizer steps done since the start of training (across resumes).
    pub step: u64,
    /// The learning rate used for this epoch's last step.
    pub lr: f64,
    /// Training values over the epoch: `"loss"` first, then each metric by its
    /// name, in program order.
    pub train: Vec<(String, f64)>,
    /// The same names over the validation data; `None` when there is none.
    pub val: Option<Vec<(String, f64)>>,
    /// Wall time of the epoch, validation included.
    pub time_s: f64,
}

impl EpochRecord {
    /// `{"epoch": 3, "step": 1407, "lr": .., "train": {"loss": .., "acc": ..},
    /// "val": {..} | null, "time_s": ..}`. Keys keep the record's order; a
    /// non-finite number is the string `"nan"`, `"inf"` or `"-inf"`, as in the
    /// rest of gradlang's JSON. `val` is `null` rather than absent, so every
    /// record has the same keys.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("epoch".into(), Value::from(self.epoch));
        o.insert("step".into(), Value::from(self.step));
        o.insert("lr".into(), json_f64(self.lr));
        o.insert("train".into(), values_object(&self.train));
        o.insert(
            "val".into(),
            self.val.as_deref().map_or(Value::Null, values_object),
        );
        o.insert("time_s".into(), json_f64(self.time_s));
        Value::Object(o)
    }
}

/// `[("loss", 0.1), ("acc", 0.9)]` as `{"loss": 0.1, "acc": 0.9}`, in order.
pub(crate) fn values_object(values: &[(String, f64)]) -> Value {
    Value::Object(
        values
            .iter()
            .map(|(name, x)| (name.clone(), json_f64(*x)))
            .collect(),
    )
}

/// A float as text in a data file: the shortest decimal that round-trips (as
/// in the JSON), or `nan`, `inf`, `-inf` (which CSV readers such as pandas
/// parse as floats).
pub(crate) fn number_text(x: f64) -> String {
    match serde_json::Number::from_f64(x) {
        Some(n) => n.to_string(),
        None if x.is_nan() => "nan".into(),
        None if x > 0.0 => "inf".into(),
        None => "-inf".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(val: Option<Vec<(String, f64)>>) -> EpochRecord {
        EpochRecord {
            epoch: 3,
            step: 1407,
            lr: 0.01,
            train: vec![("loss".into(), 0.25), ("acc".into(), f64::NAN)],
            val,
            time_s: 2.5,
        }
    }

    #[test]
    fn json_keys_in_order_with_non_finite_as_strings() {
        let r = record(Some(vec![
            ("loss".into(), f64::INFINITY),
            ("acc".into(), f64::NEG_INFINITY),
        ]));
        assert_eq!(
            r.to_json().to_string(),
            r#"{"epoch":3,"step":1407,"lr":0.01,"train":{"loss":0.25,"acc":"nan"},"val":{"loss":"inf","acc":"-inf"},"time_s":2.5}"#
        );
    }

    #[test]
    fn json_val_is_null_without_validation_data() {
        let v = record(None).to_json();
        assert_eq!(v["val"], Value::Null);
        assert!(v.as_object().is_some_and(|o| o.contains_key("val")));
    }

    #[test]
    fn number_text_round_trips_and_spells_non_finite() {
        assert_eq!(number_text(0.1), "0.1");
        assert_eq!(number_text(1e-300), "1e-300");
        assert_eq!(number_text(f64::NAN), "nan");
        assert_eq!(number_text(f64::INFINITY), "inf");
        assert_eq!(number_text(f64::NEG_INFINITY), "-inf");
        assert_eq!(number_text(0.1).parse::<f64>(), Ok(0.1));
    }
}
