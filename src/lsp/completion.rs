//! Completion: names in scope at the cursor (dimensions, tensors, layers,
//! instances), instance parameters after `fc1.`, built-in functions and keywords.

use super::analysis::{Analysis, Symbol, SymbolKind};
use crate::check::dims::DimKind;
use crate::check::BUILTIN_NAMES;
use lsp_types::{CompletionItem, CompletionItemKind, Position};

/// Reserved words (SPEC section 2).
pub const KEYWORDS: &[&str] = &[
    "dim", "input", "param", "layer", "return", "loss", "assert", "int", "true", "false",
];

/// Signatures of the built-in functions, as SPEC section 5 writes them.
const BUILTIN_SIGNATURES: &[(&str, &str)] = &[
    ("exp", "exp(x)"),
    ("log", "log(x)"),
    ("sqrt", "sqrt(x)"),
    ("tanh", "tanh(x)"),
    ("sigmoid", "sigmoid(x)"),
    ("relu", "relu(x)"),
    ("abs", "abs(x)"),
    ("sin", "sin(x)"),
    ("cos", "cos(x)"),
    ("neg", "neg(x)"),
    ("maximum", "maximum(a, b)"),
    ("minimum", "minimum(a, b)"),
    ("sum", "sum(x, axis=k, keepdims=false)"),
    ("mean", "mean(x, axis=k, keepdims=false)"),
    ("max", "max(x, axis=k, keepdims=false)"),
    ("min", "min(x, axis=k, keepdims=false)"),
    ("transpose", "transpose(x, [p0, p1, ..])"),
    ("reshape", "reshape(x, [shape])"),
    ("softmax", "softmax(x, axis=-1)"),
    ("log_softmax", "log_softmax(x, axis=-1)"),
    ("logsumexp", "logsumexp(x, axis=-1, keepdims=false)"),
    ("cross_entropy", "cross_entropy(logits, labels) -> []"),
    ("mse", "mse(a, b) -> []"),
    ("one_hot", "one_hot(labels, C) -> [.., C]"),
    ("tensordot", "tensordot(a, b, k) -> a[:-k] ++ b[k:]"),
    ("zeros", "zeros([shape])"),
    ("ones", "ones([shape])"),
    ("grad", "grad(L, x) -> shape of x"),
    ("jacobian", "jacobian(y, x) -> shape of y ++ shape of x"),
    ("vjp", "vjp(y, x, v) -> shape of x"),
    ("jvp", "jvp(y, x, u) -> shape of y"),
    ("hessian", "hessian(L, x) -> shape of x ++ shape of x"),
    ("close", "close(a, b, rtol=, atol=)"),
    ("normal", "normal(mean, std)"),
    ("uniform", "uniform(low, high)"),
];

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
    let mut items: Vec<CompletionItem> = visible(a, offset)
        .into_iter()
        .map(|s| symbol_item(a, s))
        .collect();
    items.extend(BUILTIN_NAMES.iter().map(|name| CompletionItem {
        label: name.to_string(),
        kind: Some(CompletionItemKind::FUNCTION),
        detail: Some(builtin_signature(name).to_string()),
        sort_text: Some(format!("1{name}")),
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

pub fn builtin_signature(name: &str) -> &'static str {
    BUILTIN_SIGNATURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or("built-in function")
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
            match c.dims.info(*id).kind {
                DimKind::Global { default: Some(v) } => format!("dim {} = {v}", s.name),
                DimKind::Global { default: None } => format!("dim {} (free)", s.name),
                DimKind::LayerParam => format!("dim {} (layer parameter)", s.name),
                DimKind::Generic => format!("dim {} (per call)", s.name),
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
    if !matches!(sym.kind, SymbolKind::Instance { .. }) {
        return vec![CompletionItem {
            label: "T".to_string(),
            kind: Some(CompletionItemKind::PROPERTY),
            detail: Some("transpose (reverses all axes)".to_string()),
            ..Default::default()
        }];
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
