//! Semantic tokens (full and delta): every name classified by what the checker
//! resolved it to (dimension, tensor by role, layer, instance, layer argument,
//! instance parameter), builtins, keywords, numbers and comments. Editors
//! without a grammar for gradlang get highlighting from this alone.

use super::analysis::Analysis;
use crate::check::typed::{Def, TensorKind};
use crate::check::BUILTINS;
use crate::syntax::KEYWORDS;
use lsp_types::{SemanticTokenModifier, SemanticTokenType, SemanticTokensLegend};
use serde_json::{json, Value};
use std::collections::HashMap;

// Token types, by index into the legend.
const KEYWORD: u32 = 0;
const NUMBER: u32 = 1;
const COMMENT: u32 = 2;
const DIMENSION: u32 = 3;
const TENSOR: u32 = 4;
const LAYER: u32 = 5;
const INSTANCE: u32 = 6;
const BUILTIN: u32 = 7;
const MEMBER: u32 = 8;
const ARGUMENT: u32 = 9;

// Modifier bits.
const DECLARATION: u32 = 1;
const DEFAULT_LIBRARY: u32 = 2;
const INPUT: u32 = 4;
const PARAM: u32 = 8;
const LOSS: u32 = 16;

pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: vec![
            SemanticTokenType::KEYWORD,
            SemanticTokenType::NUMBER,
            SemanticTokenType::COMMENT,
            // Dimensions are the type-level names of the language.
            SemanticTokenType::TYPE_PARAMETER,
            SemanticTokenType::VARIABLE,
            SemanticTokenType::CLASS,
            SemanticTokenType::NAMESPACE,
            SemanticTokenType::FUNCTION,
            SemanticTokenType::PROPERTY,
            SemanticTokenType::PARAMETER,
        ],
        token_modifiers: vec![
            SemanticTokenModifier::DECLARATION,
            SemanticTokenModifier::DEFAULT_LIBRARY,
            SemanticTokenModifier::new("input"),
            SemanticTokenModifier::new("param"),
            SemanticTokenModifier::new("loss"),
        ],
    }
}

/// The tokens of the whole document, LSP-encoded (5 integers per token,
/// positions relative to the previous token, UTF-16 columns).
pub fn semantic_tokens(a: &Analysis) -> Vec<u32> {
    let mut by_start: HashMap<usize, (usize, Def)> = HashMap::new();
    for (span, def) in &a.checked.references {
        let e = by_start.entry(span.start).or_insert((span.end, *def));
        if span.end < e.0 {
            *e = (span.end, *def);
        }
    }
    let text = a.text.as_str();
    let bytes = text.as_bytes();
    let mut raw: Vec<(usize, usize, u32, u32)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'#' {
            let end = text[i..].find('\n').map_or(text.len(), |k| i + k);
            raw.push((i, end, COMMENT, 0));
            i = end;
        } else if c.is_ascii_digit() {
            let mut j = i;
            while j < bytes.len() {
                let d = bytes[j];
                let exp_sign = (d == b'-' || d == b'+') && matches!(bytes[j - 1], b'e' | b'E');
                if d.is_ascii_digit()
                    || d == b'_'
                    || d == b'e'
                    || d == b'E'
                    || exp_sign
                    || (d == b'.' && bytes.get(j + 1).is_some_and(u8::is_ascii_digit))
                {
                    j += 1;
                } else {
                    break;
                }
            }
            raw.push((i, j, NUMBER, 0));
            i = j;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            let word = &text[i..j];
            let after_dot = i > 0 && bytes[i - 1] == b'.';
            let kind = match by_start.get(&i) {
                Some(&(end, def)) if end == j => Some(classify(a, def, i, after_dot)),
                _ if after_dot && word == "T" => Some((MEMBER, 0)),
                _ if KEYWORDS.contains(&word) => Some((KEYWORD, 0)),
                _ if BUILTINS.iter().any(|b| b.name == word) && !after_dot => {
                    Some((BUILTIN, DEFAULT_LIBRARY))
                }
                _ => None,
            };
            if let Some((ty, mods)) = kind {
                raw.push((i, j, ty, mods));
            }
            i = j;
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    encode(a, &raw)
}

fn classify(a: &Analysis, def: Def, start: usize, after_dot: bool) -> (u32, u32) {
    let c = &a.checked;
    let decl = if c.def_site(def).1.start == start {
        DECLARATION
    } else {
        0
    };
    let (ty, mods) = match def {
        Def::Dim(_) => (DIMENSION, 0),
        Def::Layer(_) => (LAYER, 0),
        Def::Instance(_) => (INSTANCE, 0),
        Def::Tensor(_) if after_dot => (MEMBER, PARAM),
        Def::Tensor(id) => match c.tensor(id).kind {
            TensorKind::Input => (TENSOR, INPUT),
            TensorKind::Param => (TENSOR, PARAM),
            TensorKind::Loss => (TENSOR, LOSS),
            TensorKind::Metric => (TENSOR, 0),
            TensorKind::Binding => (TENSOR, 0),
            TensorKind::LayerArg => (ARGUMENT, 0),
            TensorKind::InstanceParam => (MEMBER, PARAM),
        },
    };
    (ty, mods | decl)
}

fn encode(a: &Analysis, raw: &[(usize, usize, u32, u32)]) -> Vec<u32> {
    let map = a.map();
    let mut data = Vec::with_capacity(raw.len() * 5);
    let (mut prev_line, mut prev_col) = (0u32, 0u32);
    for &(start, end, ty, mods) in raw {
        let (line, col) = map.utf16_position(start);
        let len = a.text[start..end].encode_utf16().count() as u32;
        let delta_col = if line == prev_line {
            col - prev_col
        } else {
            col
        };
        data.extend([line - prev_line, delta_col, len, ty, mods]);
        (prev_line, prev_col) = (line, col);
    }
    data
}

/// One edit turning `old` into `new` (common prefix and suffix kept, whole
/// tokens only); empty when they are equal.
pub fn delta(old: &[u32], new: &[u32]) -> Vec<Value> {
    if old == new {
        return Vec::new();
    }
    let mut prefix = old.iter().zip(new).take_while(|(x, y)| x == y).count();
    prefix -= prefix % 5;
    let max_suffix = (old.len() - prefix).min(new.len() - prefix);
    let mut suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    suffix -= suffix % 5;
    vec![json!({
        "start": prefix,
        "deleteCount": old.len() - prefix - suffix,
        "data": &new[prefix..new.len() - suffix],
    })]
}
