//! Document symbols for the outline: dimensions, tensors, instances and layers
//! (with their dimension parameters, arguments, parameters and locals).

use super::analysis::{Analysis, Symbol, SymbolKind, TensorKind};
use crate::check::dims::DimKind;
use crate::diagnostics::SourceMap;
use lsp_types::DocumentSymbol;

pub fn document_symbols(a: &Analysis) -> Vec<DocumentSymbol> {
    let map = a.map();
    let mut top: Vec<DocumentSymbol> = Vec::new();
    for s in a.symbols.iter().filter(|s| s.layer.is_none()) {
        let mut item = convert(a, &map, s);
        if let SymbolKind::Layer(i) = s.kind {
            let children: Vec<DocumentSymbol> = a
                .symbols
                .iter()
                .filter(|c| c.layer == Some(i))
                .map(|c| convert(a, &map, c))
                .collect();
            item.children = Some(children);
        }
        top.push(item);
    }
    top
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written to build one.
fn convert(a: &Analysis, map: &SourceMap<'_>, s: &Symbol) -> DocumentSymbol {
    use lsp_types::SymbolKind as K;
    let c = &a.checked;
    let (kind, detail) = match &s.kind {
        SymbolKind::Dim(id) => (
            K::CONSTANT,
            Some(match &c.dims.info(*id).kind {
                DimKind::Global { default: Some(v) } => format!("dim = {v}"),
                DimKind::Global { default: None } => "dim (free)".to_string(),
                DimKind::LayerParam => "dim parameter".to_string(),
                DimKind::Generic => "dim (per call)".to_string(),
                DimKind::Derived { def: Some(def) } => {
                    format!("dim = {}", def.display_definition(&a.checked.dims))
                }
                DimKind::Derived { def: None } => "dim (derived)".to_string(),
            }),
        ),
        SymbolKind::Layer(i) => (K::CLASS, a.layer_signature(*i)),
        SymbolKind::Instance { decl, .. } => (K::OBJECT, Some(decl.clone())),
        SymbolKind::Tensor { role, ty, .. } => {
            let shown = ty.as_ref().map(|t| c.display(t)).unwrap_or_default();
            let (kind, prefix) = match role {
                TensorKind::Input => (K::VARIABLE, "input "),
                TensorKind::Param => (K::FIELD, "param "),
                TensorKind::Loss => (K::VARIABLE, "loss "),
                TensorKind::Metric => (K::VARIABLE, "metric "),
                TensorKind::Binding => (K::VARIABLE, ""),
            };
            (kind, Some(format!("{prefix}{shown}")))
        }
        SymbolKind::LayerArg { ty } => (
            K::VARIABLE,
            Some(format!(
                "argument {}",
                ty.as_ref().map(|t| c.display(t)).unwrap_or_default()
            )),
        ),
    };
    DocumentSymbol {
        name: s.name.clone(),
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: super::analysis::range_in(map, s.full),
        selection_range: super::analysis::range_in(map, s.span),
        children: None,
    }
}
