//! Inlay hints: the shape of every binding after its name (`y: [N, M] = x @ W`),
//! except where the line already says it in a `# : [N, M]` comment.

use super::analysis::{Analysis, SymbolKind, TensorKind};
use lsp_types::Range;
use serde_json::{json, Value};

pub fn inlay_hints(a: &Analysis, range: Range) -> Vec<Value> {
    let map = a.map();
    let mut hints = Vec::new();
    for s in &a.symbols {
        let SymbolKind::Tensor {
            role: TensorKind::Binding | TensorKind::Loss | TensorKind::Metric,
            ty: Some(ty),
            ..
        } = &s.kind
        else {
            continue;
        };
        let shown = a.checked.display(ty);
        let (line, col) = map.utf16_position(s.span.end);
        if line < range.start.line || line > range.end.line {
            continue;
        }
        if comment_says(a, s.full, &shown) {
            continue;
        }
        hints.push(json!({
            "position": {"line": line, "character": col},
            "label": format!(": {shown}"),
            "kind": 1,
            "paddingLeft": false,
            "paddingRight": false,
        }));
    }
    hints
}

/// True when a comment on the statement's lines mentions the shape (spaces
/// ignored): `y = x @ W  # : [N, M]`.
fn comment_says(a: &Analysis, stmt: crate::diagnostics::Span, shown: &str) -> bool {
    let squash = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let want = squash(shown);
    let start = a.text[..stmt.start.min(a.text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let end = a.text[stmt.end.min(a.text.len())..]
        .find('\n')
        .map_or(a.text.len(), |i| stmt.end + i);
    a.text[start..end]
        .lines()
        .filter_map(|l| l.split_once('#').map(|(_, c)| c))
        .any(|c| squash(c).contains(&want))
}
