//! Code actions: a quick fix for every diagnostic whose help names a
//! machine-applicable fix ([`crate::diagnostics::Diagnostic::suggestion`]):
//! "did you mean `W.T`?", "did you mean `relu`?", "write C instead of 10".

use super::analysis::{range_in, Analysis};
use crate::diagnostics::{Code, Diagnostic, Span};
use lsp_types::{Range, Uri};
use serde_json::{json, Value};

/// The fixes of the diagnostics overlapping `range`.
pub fn code_actions(a: &Analysis, uri: &Uri, range: Range) -> Vec<Value> {
    let map = a.map();
    let start = a.offset(range.start);
    let end = a.offset(range.end);
    let overlaps = |s: Span| s.start <= end && start <= s.end;
    let mut actions = Vec::new();
    for d in a
        .checked
        .diagnostics
        .iter()
        .filter(|d| d.span.is_some_and(overlaps))
    {
        for (span, replacement) in fixes(a, d) {
            let old = a.text.get(span.start..span.end).unwrap_or_default();
            let line = map.utf16_position(span.start).0;
            let mut title = format!("Replace `{old}` with `{replacement}`");
            if line != map.utf16_position(d.span.map_or(0, |s| s.start)).0 {
                title.push_str(&format!(" (line {})", line + 1));
            }
            actions.push(json!({
                "title": title,
                "kind": "quickfix",
                "diagnostics": [super::diagnostics::convert(d, &map, uri)],
                "isPreferred": true,
                "edit": {"changes": {uri.as_str(): [{
                    "range": range_in(&map, span),
                    "newText": replacement,
                }]}},
            }));
        }
    }
    actions
}

/// The fix of one diagnostic. A shape clash whose help says "write C instead
/// of 10" is fixed where the literal is written: the W0004 warnings that
/// replace a literal 10 with `C`.
fn fixes(a: &Analysis, d: &Diagnostic) -> Vec<(Span, String)> {
    if let Some(s) = &d.suggestion {
        return vec![s.clone()];
    }
    let Some(rest) = d.help.as_deref().and_then(|h| h.strip_prefix("write ")) else {
        return Vec::new();
    };
    let Some((name, rest)) = rest.split_once(" instead of ") else {
        return Vec::new();
    };
    let lit = rest.split(':').next().unwrap_or_default();
    a.checked
        .diagnostics
        .iter()
        .filter(|w| w.code == Code::W0004)
        .filter_map(|w| w.suggestion.clone())
        .filter(|(span, r)| r == name && a.text.get(span.start..span.end) == Some(lit))
        .collect()
}
