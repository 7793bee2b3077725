//! Signature help: for a builtin call, its row of the builtin table (positional
//! parameters, then options); for a layer call `fc1(`, the layer's signature;
//! for an instance declaration `Dense[`, its dimension parameters. The active
//! parameter is the argument the cursor is in (by comma count, or by the option
//! being written: `sum(x, keepdims=|`).

use super::analysis::{Analysis, SymbolKind};
use crate::check::BUILTINS;
use lsp_types::Position;
use serde_json::{json, Value};

/// The innermost bracket still open before the cursor, within one statement.
pub struct Enclosing<'t> {
    /// `(` or `[`.
    pub bracket: char,
    /// The name (or member path) written just before the bracket; may be empty.
    pub callee: &'t str,
    /// The text before the bracket, up to the start of the callee.
    pub before: &'t str,
    /// Which argument the cursor is in, counting from 0.
    pub arg_index: usize,
    /// The text of that argument, up to the cursor.
    pub arg_text: &'t str,
    /// Everything after the bracket, up to the cursor.
    pub inside: &'t str,
}

pub fn enclosing(text: &str, offset: usize) -> Option<Enclosing<'_>> {
    let offset = offset.min(text.len());
    let head = text.get(..offset)?;
    let mut depth = 0usize;
    let mut commas = 0usize;
    let mut arg_start = None;
    for (i, c) in head.char_indices().rev() {
        if offset - i > 4096 {
            return None;
        }
        match c {
            ')' | ']' => depth += 1,
            '(' | '[' if depth > 0 => depth -= 1,
            '(' | '[' => {
                let before_bracket = &head[..i];
                let callee_start = before_bracket
                    .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                    .len();
                return Some(Enclosing {
                    bracket: c,
                    callee: &head[callee_start..i],
                    before: &head[..callee_start],
                    arg_index: commas,
                    arg_text: &head[arg_start.unwrap_or(i + 1)..],
                    inside: &head[i + 1..],
                });
            }
            ',' if depth == 0 => {
                if arg_start.is_none() {
                    arg_start = Some(i + 1);
                }
                commas += 1;
            }
            '{' | '}' | ';' => return None,
            // A comment line: nothing before it belongs to this call.
            '#' => return None,
            _ => {}
        }
    }
    None
}

/// The option being written in an argument (`keepdims=tr` gives `keepdims`).
pub fn option_written(arg: &str) -> Option<&str> {
    let (name, rest) = arg.split_once('=')?;
    if rest.starts_with('=') {
        return None;
    }
    let name = name.trim();
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name)
}

fn utf16_len(s: &str) -> u32 {
    s.encode_utf16().count() as u32
}

/// A signature whose parameters are the comma-separated parts of
/// `label[open + 1..close]` (top-level commas only).
fn signature(label: String, open: usize, close: usize, doc: Option<String>) -> Value {
    let mut params = Vec::new();
    let mut depth = 0usize;
    let mut start = open + 1;
    for (i, c) in label[open + 1..close]
        .char_indices()
        .map(|(i, c)| (open + 1 + i, c))
    {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                params.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < close {
        params.push((start, close));
    }
    let params: Vec<Value> = params
        .into_iter()
        .map(|(s, e)| {
            let s = s + (label[s..e].len() - label[s..e].trim_start().len());
            json!({"label": [utf16_len(&label[..s]), utf16_len(&label[..e])]})
        })
        .collect();
    let mut sig = json!({"label": label, "parameters": params});
    if let Some(doc) = doc {
        sig["documentation"] = json!(doc);
    }
    sig
}

/// The matching close bracket of the bracket at `open` in `s`.
fn matching(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

pub fn signature_help(a: &Analysis, pos: Position) -> Option<Value> {
    let offset = a.offset(pos);
    let call = enclosing(&a.text, offset)?;
    let name = call.callee;
    if name.is_empty() {
        return None;
    }
    if call.bracket == '(' {
        if let Some(b) = BUILTINS.iter().find(|b| b.name == name) {
            let label = b.signature();
            let open = b.name.len();
            let close = label.len() - 1;
            let sig = signature(label, open, close, Some(b.doc.to_string()));
            let positional = b.params.len();
            let active = match option_written(call.arg_text) {
                Some(opt) => b
                    .options
                    .iter()
                    .position(|o| o.name == opt)
                    .map(|k| positional + k),
                None => Some(call.arg_index),
            };
            let total = positional + b.options.len();
            let active = active
                .unwrap_or(call.arg_index)
                .min(total.saturating_sub(1));
            return Some(json!({
                "signatures": [sig],
                "activeSignature": 0,
                "activeParameter": active,
            }));
        }
    }
    let visible = super::completion::visible(a, offset);
    let sym = visible.into_iter().find(|s| s.name == name)?;
    let (layer, doc) = match (&sym.kind, call.bracket) {
        (SymbolKind::Instance { layer, decl }, '(') => {
            (layer.clone(), format!("{} = {decl}", sym.name))
        }
        (SymbolKind::Layer(i), '[') => (
            a.checked.layers.get(*i)?.name.clone(),
            "an instance of this layer: one size per dimension parameter".to_string(),
        ),
        _ => return None,
    };
    let i = a.checked.layers.iter().position(|l| l.name == layer)?;
    let label = a.layer_signature(i)?;
    let open = if call.bracket == '(' {
        label
            .find("](")
            .map(|k| k + 1)
            .or_else(|| label.find('('))?
    } else {
        label.find('[')?
    };
    let close = matching(&label, open)?;
    let count = label[open + 1..close].split(',').count();
    let sig = signature(label, open, close, Some(doc));
    Some(json!({
        "signatures": [sig],
        "activeSignature": 0,
        "activeParameter": call.arg_index.min(count.saturating_sub(1)),
    }))
}
