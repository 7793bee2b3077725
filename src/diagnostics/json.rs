//! The `--format json` schema of SPEC section 8.

use super::{Diagnostic, SourceMap, Span};
use serde_json::{json, Value};

pub fn span_to_json(span: Span, map: &SourceMap<'_>) -> Value {
    let lc = map.line_col(span.start);
    json!({ "start": span.start, "end": span.end, "line": lc.line, "column": lc.column })
}

/// `{"diagnostics": [...]}` for one file; a diagnostic without a place has
/// `"span": null`.
pub fn diagnostics_to_json(diagnostics: &[Diagnostic], file_name: &str, text: &str) -> Value {
    let map = SourceMap::new(text);
    let list: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let mut labels: Vec<Value> = Vec::new();
            let span = d.span.map(|s| span_to_json(s, &map));
            if !d.primary_label.is_empty() {
                labels.push(json!({ "message": d.primary_label, "span": span }));
            }
            labels.extend(
                d.labels
                    .iter()
                    .map(|l| json!({ "message": l.message, "span": span_to_json(l.span, &map) })),
            );
            json!({
                "severity": d.severity.as_str(),
                "code": d.code.as_str(),
                "message": d.message,
                "file": file_name,
                "span": span,
                "labels": labels,
                "help": d.help,
            })
        })
        .collect();
    json!({ "diagnostics": list })
}
