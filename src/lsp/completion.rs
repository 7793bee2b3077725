//! Completion by context: names in scope at the cursor (dimensions, tensors,
//! layers, instances), built-in functions and keywords; only the instance's
//! parameters after `fc1.` and only `T` after a tensor (`fc1.W.`); only
//! dimensions inside a shape (`[N, `); a builtin's options in an option
//! position (`sum(x, `); nothing where a new name is being declared (`dim `).

use super::analysis::{Analysis, Symbol, SymbolKind};
use super::signature::{enclosing, option_written, Enclosing};
use crate::check::dims::DimKind;
use crate::check::{Param, BUILTINS};
use crate::syntax::KEYWORDS;
use lsp_types::{CompletionItem, CompletionItemKind, Position};

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub fn completion(a: &Analysis, pos: Position) -> Vec<CompletionItem> {
    let offset = a.offset(pos);
    let Some(before) = a.text.get(..offset) else {
        return Vec::new();
    };
    let line = before.rsplit('\n').next().unwrap_or("");
    if line.contains('#') {
        return Vec::new(); // in a comment
    }
    let word_start = before.trim_end_matches(is_ident_char).len();
    let head = &before[..word_start];
    if let Some(base) = head.strip_suffix('.') {
        let path_start = base
            .trim_end_matches(|c: char| is_ident_char(c) || c == '.')
            .len();
        let path: Vec<&str> = base[path_start..].split('.').collect();
        return member_items(a, &path, offset);
    }
    // A name being declared: nothing in scope can be meant.
    let statement = line.trim_start();
    if statement.starts_with("dim ")
        || declares_name(&line[..line.len() - (before.len() - word_start)])
    {
        return Vec::new();
    }
    match enclosing(&a.text, word_start) {
        Some(call) if call.bracket == '(' => {
            if let Some(items) = option_items(&call) {
                return items;
            }
        }
        Some(call) if call.bracket == '[' && in_shape(a, &call, word_start) => {
            return visible(a, offset)
                .into_iter()
                .filter(|s| matches!(s.kind, SymbolKind::Dim(_)))
                .map(|s| symbol_item(a, s))
                .collect();
        }
        _ => {}
    }
    let mut items: Vec<CompletionItem> = visible(a, offset)
        .into_iter()
        .map(|s| symbol_item(a, s))
        .collect();
    items.extend(BUILTINS.iter().map(|b| CompletionItem {
        label: b.name.to_string(),
        kind: Some(CompletionItemKind::FUNCTION),
        detail: Some(b.signature()),
        documentation: Some(lsp_types::Documentation::String(b.doc.to_string())),
        sort_text: Some(format!("1{}", b.name)),
        ..Default::default()
    }));
    items.extend(KEYWORDS.iter().map(|kw| CompletionItem {
        label: kw.to_string(),
        kind: Some(CompletionItemKind::KEYWORD),
        sort_text: Some(format!("2{kw}")),
        ..Default::default()
    }));
    items
}

/// True when the line so far is `input `, `param `, `loss ` or `layer `
/// followed by at most the name being typed.
fn declares_name(line_head: &str) -> bool {
    let t = line_head.trim_start();
    ["input", "param", "loss", "layer"].iter().any(|kw| {
        t.strip_prefix(kw)
            .is_some_and(|r| r.starts_with(' ') && r.trim().is_empty())
    })
}

/// In `sum(x, |`: the builtin's options not written yet (`axis=`,
/// `keepdims=`). `None` where a positional argument or an option's value goes.
fn option_items(call: &Enclosing<'_>) -> Option<Vec<CompletionItem>> {
    let b = BUILTINS.iter().find(|b| b.name == call.callee)?;
    if call.arg_index < b.params.len()
        || b.options.is_empty()
        || option_written(call.arg_text).is_some()
    {
        return None;
    }
    let given: Vec<&str> = call.inside.split(',').filter_map(option_written).collect();
    Some(
        b.options
            .iter()
            .filter(|o| !given.contains(&o.name))
            .map(|o| CompletionItem {
                label: format!("{}=", o.name),
                kind: Some(CompletionItemKind::PROPERTY),
                detail: Some(format!("{}={} (default)", o.name, o.default)),
                documentation: Some(lsp_types::Documentation::String(b.signature())),
                insert_text: Some(format!("{}=", o.name)),
                filter_text: Some(o.name.to_string()),
                ..Default::default()
            })
            .collect(),
    )
}

/// True when the open `[` is a shape: after `:` or `->` (declarations and
/// layer signatures), after a layer name (`Dense[`, its dimension parameters),
/// or as a builtin's shape argument (`reshape(x, [`, `zeros([`).
fn in_shape(a: &Analysis, call: &Enclosing<'_>, offset: usize) -> bool {
    if !call.callee.is_empty() {
        return a
            .symbols
            .iter()
            .any(|s| s.name == call.callee && matches!(s.kind, SymbolKind::Layer(_)));
    }
    let before = call.before.trim_end();
    if before.ends_with(':') || before.ends_with("->") {
        return true;
    }
    if before.ends_with('(') || before.ends_with(',') {
        let bracket = before.len();
        if let Some(outer) = enclosing(&a.text, bracket.min(offset)) {
            if let Some(b) = BUILTINS.iter().find(|b| b.name == outer.callee) {
                return b.params.get(outer.arg_index) == Some(&Param::Shape);
            }
        }
    }
    false
}

/// Names visible at `offset`: dimensions and layers anywhere; tensors and
/// instances of the same scope (top level or one layer body) declared before
/// the statement being edited.
pub fn visible(a: &Analysis, offset: usize) -> Vec<&Symbol> {
    let layer = a.layer_at(offset);
    let mut seen = std::collections::HashSet::new();
    a.symbols
        .iter()
        .filter(|s| match s.kind {
            SymbolKind::Dim(_) | SymbolKind::Layer(_) if s.layer.is_none() => true,
            SymbolKind::Dim(_) | SymbolKind::LayerArg { .. } => s.layer == layer,
            _ => s.layer == layer && s.full.end < offset,
        })
        .filter(|s| seen.insert(s.name.as_str()))
        .collect()
}

fn symbol_item(a: &Analysis, s: &Symbol) -> CompletionItem {
    let c = &a.checked;
    let (kind, detail) = match &s.kind {
        SymbolKind::Dim(id) => (
            CompletionItemKind::CONSTANT,
            match &c.dims.info(*id).kind {
                DimKind::Global { default: Some(v) } => format!("dim {} = {v}", s.name),
                DimKind::Global { default: None } => format!("dim {} (free)", s.name),
                DimKind::LayerParam => format!("dim {} (layer parameter)", s.name),
                DimKind::Generic => format!("dim {} (per call)", s.name),
                DimKind::Derived { def: Some(def) } => {
                    format!("dim {} = {}", s.name, def.display_definition(&c.dims))
                }
                DimKind::Derived { def: None } => format!("dim {} (derived)", s.name),
            },
        ),
        SymbolKind::Layer(i) => (
            CompletionItemKind::CLASS,
            format!(
                "layer {}",
                a.layer_signature(*i).unwrap_or_else(|| s.name.clone())
            ),
        ),
        SymbolKind::Instance { decl, .. } => {
            (CompletionItemKind::MODULE, format!("{} = {decl}", s.name))
        }
        SymbolKind::Tensor { ty, .. } | SymbolKind::LayerArg { ty } => (
            CompletionItemKind::VARIABLE,
            ty.as_ref().map(|t| c.display(t)).unwrap_or_default(),
        ),
    };
    CompletionItem {
        label: s.name.clone(),
        kind: Some(kind),
        detail: Some(detail),
        sort_text: Some(format!("0{}", s.name)),
        ..Default::default()
    }
}

/// After `fc1.` (or `fc1.inner.`): the instance's parameters and nested
/// instances; after a tensor and `.`: the transpose `T`.
fn member_items(a: &Analysis, path: &[&str], offset: usize) -> Vec<CompletionItem> {
    let Some(root) = path.first().filter(|r| !r.is_empty()) else {
        return Vec::new();
    };
    let Some(sym) = visible(a, offset).into_iter().find(|s| s.name == *root) else {
        return Vec::new();
    };
    let transpose = || {
        vec![CompletionItem {
            label: "T".to_string(),
            kind: Some(CompletionItemKind::PROPERTY),
            detail: Some("transpose (reverses all axes)".to_string()),
            ..Default::default()
        }]
    };
    if !matches!(sym.kind, SymbolKind::Instance { .. }) {
        return transpose();
    }
    // `fc1.W.`: a parameter is a tensor, whose only member is `T`.
    let whole = path[1..].join(".");
    if !whole.is_empty() && a.instance_params(sym).iter().any(|(p, _)| *p == whole) {
        return transpose();
    }
    let rel: String = path[1..].iter().map(|p| format!("{p}.")).collect();
    let mut items: Vec<CompletionItem> = Vec::new();
    for (param, ty) in a.instance_params(sym) {
        let Some(rest) = param.strip_prefix(&rel) else {
            continue;
        };
        let (label, kind, detail) = match rest.split_once('.') {
            Some((inner, _)) => (
                inner.to_string(),
                CompletionItemKind::MODULE,
                "nested instance".to_string(),
            ),
            None => (rest.to_string(), CompletionItemKind::FIELD, ty),
        };
        if items.iter().any(|i| i.label == label) {
            continue;
        }
        items.push(CompletionItem {
            label,
            kind: Some(kind),
            detail: Some(detail),
            ..Default::default()
        });
    }
    items
}
