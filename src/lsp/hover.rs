//! Hover: the shape of the innermost expression under the cursor with dimension
//! names, the rule a derivative's shape came from, a layer's signature, a
//! dimension's value or kind.

use super::analysis::{Analysis, Symbol, SymbolKind, TensorKind};
use crate::check::dims::DimKind;
use crate::diagnostics::Span;
use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind, Position};

/// The hover at `pos`, or `None` where there is nothing to say.
/// Markdown, or plain text (`markdown == false`) for clients that ask for it.
pub fn hover(a: &Analysis, pos: Position, markdown: bool) -> Option<Hover> {
    let offset = a.offset(pos);
    let (span, text) = hover_at(a, offset).or_else(|| {
        // The cursor just after a name (`x|`) still means the name.
        let prev = offset.checked_sub(1)?;
        let ch = a.text.get(prev..offset)?;
        ch.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            .then(|| hover_at(a, prev))
            .flatten()
    })?;
    let (kind, value) = if markdown {
        (MarkupKind::Markdown, text)
    } else {
        (MarkupKind::PlainText, plain(&text))
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent { kind, value }),
        range: Some(a.range(span)),
    })
}

/// The Markdown hover as plain text: no fences, no backquotes.
pub fn plain(markdown: &str) -> String {
    markdown
        .lines()
        .filter(|l| !l.starts_with("```"))
        .map(|l| l.replace('`', ""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The span the hover is about and its markdown.
pub fn hover_at(a: &Analysis, offset: usize) -> Option<(Span, String)> {
    let sym = a.symbol_at(offset);
    let expr = a.expr_at(offset);
    match (sym, expr) {
        // `W` in `fc1.W`: the instance's parameter, then where it is declared.
        (Some((hit, s)), Some((espan, _)))
            if hit != s.span && espan != hit && is_layer_param(s) =>
        {
            let mut md = expr_hover(a, espan)?;
            let decl = symbol_code(a, s, None);
            let layer = s.layer.and_then(|i| a.checked.layers.get(i));
            if let Some(layer) = layer {
                md.push_str(&format!(
                    "\n\ndeclared in layer `{}` as `{}`",
                    layer.name,
                    decl.first().map(String::as_str).unwrap_or_default()
                ));
            }
            Some((espan, md))
        }
        (Some((hit, s)), Some((espan, _))) if hit.len() <= espan.len() => {
            Some((hit, symbol_hover(a, s, Some(hit))))
        }
        (Some((hit, s)), None) => Some((hit, symbol_hover(a, s, Some(hit)))),
        (_, Some((espan, _))) => Some((espan, expr_hover(a, espan)?)),
        (None, None) => None,
    }
}

fn is_layer_param(s: &Symbol) -> bool {
    s.layer.is_some()
        && matches!(
            s.kind,
            SymbolKind::Tensor {
                role: TensorKind::Param,
                ..
            } | SymbolKind::Instance { .. }
        )
}

fn code_block(lines: &[String]) -> String {
    format!("```gradlang\n{}\n```", lines.join("\n"))
}

/// `x @ W: [N, M]`, plus any rule attached to the expression.
fn expr_hover(a: &Analysis, span: Span) -> Option<String> {
    let ty = a.type_of(span)?;
    let what = a.snippet(span, 60).unwrap_or("(expression)");
    let mut lines = vec![format!("{what}: {}", a.checked.display(ty))];
    lines.extend(a.notes_of(span));
    Some(code_block(&lines))
}

fn symbol_hover(a: &Analysis, s: &Symbol, hit: Option<Span>) -> String {
    let code = symbol_code(a, s, hit);
    let mut md = code_block(&code);
    if let Some(prose) = symbol_prose(a, s) {
        md.push_str("\n\n");
        md.push_str(&prose);
    }
    md
}

/// The code lines describing a symbol: its declaration with types.
fn symbol_code(a: &Analysis, s: &Symbol, hit: Option<Span>) -> Vec<String> {
    let c = &a.checked;
    match &s.kind {
        SymbolKind::Dim(id) => {
            let info = c.dims.info(*id);
            match &info.kind {
                DimKind::Global { default: Some(v) } => vec![format!("dim {} = {v}", s.name)],
                DimKind::Derived { def: Some(def) } => {
                    vec![format!(
                        "dim {} = {}",
                        s.name,
                        def.display_definition(&c.dims)
                    )]
                }
                _ => vec![format!("dim {}", s.name)],
            }
        }
        SymbolKind::Layer(i) => {
            let mut lines = vec![format!(
                "layer {}",
                a.layer_signature(*i).unwrap_or_else(|| s.name.clone())
            )];
            if let Some(sig) = c.layers.get(*i) {
                lines.extend(
                    sig.state
                        .iter()
                        .map(|p| format!("  param {}: {}", p.path, c.display(&p.ty))),
                );
            }
            lines
        }
        SymbolKind::Instance { layer, decl } => {
            let mut lines = vec![format!("{} = {decl}", s.name)];
            if let Some(i) = c.layers.iter().position(|l| &l.name == layer) {
                if let Some(sig) = a.layer_signature(i) {
                    lines.push(format!("# an instance of {sig}"));
                }
            }
            lines.extend(
                a.instance_params(s)
                    .into_iter()
                    .map(|(p, ty)| format!("{}.{p}: {ty}", s.name)),
            );
            lines
        }
        SymbolKind::Tensor { role, ty, value } => {
            // The type at the use, if the checker recorded one, else the declared one.
            let ty = hit.and_then(|h| a.type_of(h)).or(ty.as_ref());
            let shown = ty
                .map(|t| c.display(t))
                .unwrap_or_else(|| "(unknown: see the errors)".to_string());
            let prefix = match role {
                TensorKind::Input => "input ",
                TensorKind::Param => "param ",
                TensorKind::Loss => "loss ",
                TensorKind::Metric => "metric ",
                TensorKind::Binding => "",
            };
            let mut lines = vec![format!("{prefix}{}: {shown}", s.name)];
            if let Some(v) = value {
                lines.extend(a.notes_of(*v));
            }
            lines
        }
        SymbolKind::LayerArg { ty } => {
            let shown = ty
                .as_ref()
                .map(|t| c.display(t))
                .unwrap_or_else(|| "(unknown: see the errors)".to_string());
            vec![format!("{}: {shown}", s.name)]
        }
    }
}

/// A sentence about the symbol where the code alone does not say it.
fn symbol_prose(a: &Analysis, s: &Symbol) -> Option<String> {
    let layer_name = s
        .layer
        .and_then(|i| a.checked.layers.get(i))
        .map(|l| l.name.as_str())
        .unwrap_or("?");
    match &s.kind {
        SymbolKind::Dim(id) => Some(match &a.checked.dims.info(*id).kind {
            DimKind::Global { default: Some(_) } => {
                "a dimension with a default value (`--dim` or an input's shape can override it)"
                    .to_string()
            }
            DimKind::Global { default: None } => format!(
                "a free dimension: bound at run time by `--dim {}=...` or by an input's shape",
                s.name
            ),
            DimKind::LayerParam => format!(
                "a dimension parameter of layer `{layer_name}`: fixed by each instance"
            ),
            DimKind::Generic => format!(
                "a generic dimension of layer `{layer_name}`: inferred from the arguments of each call"
            ),
            DimKind::Derived { def: Some(def) } => derived_prose(a, &s.name, def),
            DimKind::Derived { def: None } => {
                "a derived dimension whose definition has an error (see the errors)".to_string()
            }
        }),
        SymbolKind::LayerArg { .. } => Some(format!("an argument of layer `{layer_name}`")),
        SymbolKind::Tensor {
            role: TensorKind::Param,
            ..
        } if s.layer.is_some() => Some(format!(
            "a parameter of layer `{layer_name}`: every instance owns its own"
        )),
        SymbolKind::Tensor { .. } if s.layer.is_some() => {
            Some(format!("local to layer `{layer_name}`"))
        }
        _ => None,
    }
}

/// A derived dimension: what it is computed from, its value with the
/// defaults when they give one, and that it is never set.
fn derived_prose(a: &Analysis, name: &str, def: &crate::check::dims::Poly) -> String {
    let dims = &a.checked.dims;
    let mut from: Vec<&str> = def.vars().into_iter().map(|d| dims.name(d)).collect();
    from.sort_unstable();
    from.dedup();
    let from = from
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let default = |d| match dims.info(d).kind {
        DimKind::Global { default } => default,
        _ => None,
    };
    if from.is_empty() {
        return format!("a derived dimension that is a constant; `--dim {name}=..` cannot set it");
    }
    let value = def
        .eval(&default)
        .map(|v| format!(" ({v} with the defaults)"))
        .unwrap_or_default();
    format!(
        "a derived dimension, computed from {from}{value}: equal to every shape that computes \
         the same expression, such as a convolution's output size; `--dim {name}=..` cannot set it"
    )
}
