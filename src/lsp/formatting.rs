//! Formatting: `gradlang fmt`'s layout ([`crate::fmt::format_source`]), sent as
//! one edit covering only the lines that change (the cursor and folds elsewhere
//! stay put). A text with syntax errors is not formatted: the request fails with
//! the first error, and the text is left as it is.

use super::analysis::Analysis;
use crate::diagnostics::Span;
use serde_json::{json, Value};

pub fn formatting(a: &Analysis) -> Result<Value, String> {
    let formatted = crate::fmt::format_source(&a.text).map_err(|errors| {
        let map = a.map();
        match errors.first() {
            Some(e) => format!(
                "not formatted: line {}: {} ({})",
                map.utf16_position(e.span.map_or(0, |s| s.start)).0 + 1,
                e.message,
                e.code.as_str()
            ),
            None => "not formatted: the text has syntax errors".to_string(),
        }
    })?;
    if formatted == a.text {
        return Ok(json!([]));
    }
    let (old, new) = (a.text.as_str(), formatted.as_str());
    // The common prefix and suffix, in whole lines.
    let mut prefix = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(x, y)| x == y)
        .count();
    prefix = old[..prefix].rfind('\n').map_or(0, |i| i + 1);
    let max_suffix = (old.len() - prefix).min(new.len() - prefix);
    let mut suffix = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    // Keep the suffix starting at a line start in both texts.
    while suffix > 0 && !old[..old.len() - suffix].ends_with('\n') {
        suffix -= 1;
    }
    let span = Span::new(prefix, old.len() - suffix);
    Ok(json!([{
        "range": a.range(span),
        "newText": &new[prefix..new.len() - suffix],
    }]))
}
