//! References, document highlight and rename, all from the checker's
//! references (`Checked::references`) grouped by what they resolve to: a
//! declaration is recorded as a reference to itself, and `W` in `fc1.W` as a
//! reference to the `param W` in the layer body.

use super::analysis::Analysis;
use crate::check::typed::Def;
use crate::check::BUILTINS;
use crate::diagnostics::Span;
use crate::syntax::KEYWORDS;
use lsp_types::{Position, Uri};
use serde_json::{json, Value};

/// Every use of the name at `pos` (and its declaration if asked).
pub fn references(a: &Analysis, uri: &Uri, pos: Position, include_declaration: bool) -> Vec<Value> {
    let Some((_, def)) = a.def_at(a.offset(pos)) else {
        return Vec::new();
    };
    let decl = a.checked.def_site(def).1;
    a.references_to(def)
        .into_iter()
        .filter(|s| include_declaration || *s != decl)
        .map(|s| json!({"uri": uri.as_str(), "range": a.range(s)}))
        .collect()
}

/// The uses of the name at `pos` in this document: the declaration as a write,
/// the others as reads.
pub fn highlight(a: &Analysis, pos: Position) -> Vec<Value> {
    let Some((_, def)) = a.def_at(a.offset(pos)) else {
        return Vec::new();
    };
    let decl = a.checked.def_site(def).1;
    a.references_to(def)
        .into_iter()
        .map(|s| json!({"range": a.range(s), "kind": if s == decl { 3 } else { 2 }}))
        .collect()
}

/// The name under the cursor and what it refers to, or why it cannot be renamed.
fn target(a: &Analysis, pos: Position) -> Result<(Span, Def, String), String> {
    let offset = a.offset(pos);
    if let Some((span, def)) = a.def_at(offset) {
        let name = a.checked.def_site(def).0.to_string();
        return Ok((span, def, name));
    }
    let word = word_at(&a.text, offset);
    Err(if KEYWORDS.contains(&word) {
        format!("`{word}` is a keyword and cannot be renamed")
    } else if BUILTINS.iter().any(|b| b.name == word) {
        format!("`{word}` is a builtin function and cannot be renamed")
    } else if word == "T" {
        "`.T` is the transpose and cannot be renamed".to_string()
    } else {
        "no name to rename here".to_string()
    })
}

pub fn prepare_rename(a: &Analysis, pos: Position) -> Result<Value, String> {
    let (span, _, name) = target(a, pos)?;
    Ok(json!({"range": a.range(span), "placeholder": name}))
}

/// Renames every reference of the name at `pos`. Refuses keywords, builtin
/// names, invalid identifiers and names already taken in the same scope.
pub fn rename(a: &Analysis, uri: &Uri, pos: Position, new_name: &str) -> Result<Value, String> {
    let (_, def, old) = target(a, pos)?;
    if !is_identifier(new_name) {
        return Err(format!("`{new_name}` is not a valid name"));
    }
    if KEYWORDS.contains(&new_name) {
        return Err(format!("`{new_name}` is a keyword"));
    }
    if BUILTINS.iter().any(|b| b.name == new_name) {
        return Err(format!("`{new_name}` is the name of a builtin function"));
    }
    if new_name == "T" && matches!(def, Def::Tensor(_) | Def::Instance(_)) {
        return Err("`T` would read as the transpose (`.T`)".to_string());
    }
    if new_name != old {
        if let Some(clash) = clash(a, def, new_name) {
            return Err(clash);
        }
    }
    let edits: Vec<Value> = a
        .references_to(def)
        .into_iter()
        .filter(|s| a.text.get(s.start..s.end) == Some(old.as_str()))
        .map(|s| json!({"range": a.range(s), "newText": new_name}))
        .collect();
    Ok(json!({"changes": {uri.as_str(): edits}}))
}

/// A declaration named `new_name` that the renamed one would collide with:
/// dimensions and layers are global; other names collide within their scope
/// (top level or one layer body).
fn clash(a: &Analysis, def: Def, new_name: &str) -> Option<String> {
    let me = a.symbol_of(def);
    let scope = me.and_then(|s| s.layer);
    let global = matches!(def, Def::Dim(_) | Def::Layer(_)) && scope.is_none();
    let other = a.symbols.iter().find(|s| {
        s.name == new_name
            && s.def != def
            && (global
                || s.layer == scope
                || (s.layer.is_none() && matches!(s.def, Def::Dim(_) | Def::Layer(_))))
    })?;
    let (line, _) = a.map().utf16_position(other.span.start);
    Some(format!(
        "`{new_name}` is already declared on line {}",
        line + 1
    ))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The identifier around `offset` (possibly empty).
fn word_at(text: &str, offset: usize) -> &str {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let offset = offset.min(text.len());
    let start = text[..offset].trim_end_matches(is_ident).len();
    let end = text[offset..]
        .find(|c: char| !is_ident(c))
        .map_or(text.len(), |i| offset + i);
    &text[start..end]
}
