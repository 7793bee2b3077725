//! One analyzed document: its text, syntax tree, checker output and a table of
//! every declared name (the symbols hover, go-to-definition, completion and the
//! outline share).

use crate::check::dims::DimId;
use crate::check::types::{shape_display, TensorTy};
use crate::check::{check_source, Checked, Role};
use crate::diagnostics::{SourceMap, Span};
use crate::syntax::ast::{LayerDecl, Program, Stmt, StmtKind, TensorRole};
use lsp_types::{Position, Range};
use std::collections::HashMap;

/// What a declared name is.
#[derive(Clone, Debug)]
pub enum SymbolKind {
    Dim(DimId),
    /// Index into [`Checked::layers`].
    Layer(usize),
    /// `fc1 = Dense[D, H]`: the layer's name and the declaration text after `=`.
    Instance {
        layer: String,
        decl: String,
    },
    /// An input, param, binding or loss (top level or in a layer body).
    Tensor {
        role: TensorKind,
        ty: Option<TensorTy>,
        /// The bound expression, for bindings.
        value: Option<Span>,
    },
    /// An argument of a layer (`x` in `layer Dense[I, O](x: [B, I])`).
    LayerArg {
        ty: Option<TensorTy>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    Input,
    Param,
    Binding,
    Loss,
}

#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    /// The name at its declaration.
    pub span: Span,
    /// The whole declaration (contains `span`).
    pub full: Span,
    /// `Some(i)` for names local to layer `i` (index into [`Checked::layers`]).
    pub layer: Option<usize>,
    pub kind: SymbolKind,
}

pub struct Analysis {
    pub text: String,
    pub program: Program,
    pub checked: Checked,
    /// Every declared name, in source order.
    pub symbols: Vec<Symbol>,
    /// Top-level layer statements: (statement span, index into `checked.layers`).
    layer_stmts: Vec<(Span, usize)>,
    /// The type of every typed expression, by exact span.
    types_by_span: HashMap<Span, usize>,
}

impl Analysis {
    /// Parses and checks `text` (never evaluates it).
    pub fn new(text: String) -> Analysis {
        let (program, checked) = check_source(&text);
        let mut types_by_span = HashMap::new();
        for (k, (span, _)) in checked.expr_types.iter().enumerate() {
            types_by_span.insert(*span, k);
        }
        let mut a = Analysis {
            text,
            program,
            checked,
            symbols: Vec::new(),
            layer_stmts: Vec::new(),
            types_by_span,
        };
        a.collect_symbols();
        a
    }

    pub fn map(&self) -> SourceMap<'_> {
        SourceMap::new(&self.text)
    }

    /// The byte offset of an LSP position (clamped into the text).
    pub fn offset(&self, pos: Position) -> usize {
        self.map().offset_of_utf16(pos.line, pos.character)
    }

    pub fn range(&self, span: Span) -> Range {
        range_in(&self.map(), span)
    }

    /// The source text of a span, if it is one short line.
    pub fn snippet(&self, span: Span, max: usize) -> Option<&str> {
        let t = self.text.get(span.start..span.end)?;
        (t.len() <= max && !t.contains('\n')).then_some(t)
    }

    /// The type recorded for exactly this expression span.
    pub fn type_of(&self, span: Span) -> Option<&TensorTy> {
        let k = *self.types_by_span.get(&span)?;
        self.checked.expr_types.get(k).map(|(_, t)| t)
    }

    /// Notes (derivative rules, instance signatures) attached to exactly `span`.
    pub fn notes_of(&self, span: Span) -> impl Iterator<Item = &str> {
        self.checked
            .notes
            .iter()
            .filter(move |(s, _)| *s == span)
            .map(|(_, n)| n.as_str())
    }

    /// The innermost typed expression containing `offset`.
    pub fn expr_at(&self, offset: usize) -> Option<(Span, &TensorTy)> {
        self.checked
            .expr_types
            .iter()
            .filter(|(s, _)| s.contains(offset))
            .min_by_key(|(s, _)| (s.len(), std::cmp::Reverse(s.start)))
            .map(|(s, t)| (*s, t))
    }

    /// The declared name at `offset`: through the innermost name use containing
    /// it, or a declaration's own name. Returns the span hit and the symbol.
    pub fn symbol_at(&self, offset: usize) -> Option<(Span, &Symbol)> {
        let by_use = self
            .checked
            .references
            .iter()
            .filter(|(u, _)| u.contains(offset))
            .min_by_key(|(u, _)| u.len())
            .and_then(|(u, d)| Some((*u, self.symbol_declared_at(*d)?)));
        by_use.or_else(|| {
            self.symbols
                .iter()
                .filter(|s| s.span.contains(offset))
                .min_by_key(|s| s.span.len())
                .map(|s| (s.span, s))
        })
    }

    /// The symbol declared at `span` (a name, or a layer's header).
    pub fn symbol_declared_at(&self, span: Span) -> Option<&Symbol> {
        if let Some(s) = self.symbols.iter().find(|s| s.span == span) {
            return Some(s);
        }
        let i = self
            .checked
            .layers
            .iter()
            .position(|l| l.header_span == span)?;
        self.symbols
            .iter()
            .find(|s| matches!(s.kind, SymbolKind::Layer(k) if k == i))
    }

    /// The layer whose declaration contains `offset`, if any.
    pub fn layer_at(&self, offset: usize) -> Option<usize> {
        self.layer_stmts
            .iter()
            .find(|(s, _)| s.start <= offset && offset <= s.end)
            .map(|(_, i)| *i)
    }

    /// `Dense[I, O](x: [B, I]) -> [B, O]`.
    pub fn layer_signature(&self, i: usize) -> Option<String> {
        let sig = self.checked.layers.get(i)?;
        let dims: Vec<&str> = sig.dim_params.iter().map(|(n, _)| n.as_str()).collect();
        let args: Vec<String> = sig
            .args
            .iter()
            .map(|(n, t, _)| format!("{n}: {}", self.checked.display(t)))
            .collect();
        let ret = sig
            .ret
            .as_ref()
            .map(|r| shape_display(r, &self.checked.dims))
            .unwrap_or_else(|| "?".to_string());
        let dims = if dims.is_empty() {
            String::new()
        } else {
            format!("[{}]", dims.join(", "))
        };
        Some(format!("{}{dims}({}) -> {ret}", sig.name, args.join(", ")))
    }

    /// The parameters an instance owns, with types: `("W", "[D, H]")`. Top-level
    /// instances use the checker's instance declarations (instance dimensions
    /// substituted); nested ones, the layer's own symbols.
    pub fn instance_params(&self, sym: &Symbol) -> Vec<(String, String)> {
        let SymbolKind::Instance { layer, .. } = &sym.kind else {
            return Vec::new();
        };
        match sym.layer {
            None => {
                let prefix = format!("{}.", sym.name);
                self.checked
                    .decls
                    .iter()
                    .filter(|d| d.role == Role::InstanceParam)
                    .filter_map(|d| {
                        let rest = d.name.strip_prefix(&prefix)?;
                        Some((rest.to_string(), self.checked.display(&d.ty)))
                    })
                    .collect()
            }
            Some(_) => {
                let Some(sig) = self.checked.layers.iter().find(|l| &l.name == layer) else {
                    return Vec::new();
                };
                sig.state
                    .iter()
                    .map(|p| (p.path.clone(), self.checked.display(&p.ty)))
                    .collect()
            }
        }
    }

    fn collect_symbols(&mut self) {
        let stmts = std::mem::take(&mut self.program.stmts);
        let mut layer_index = 0;
        for stmt in &stmts {
            if let StmtKind::Layer(decl) = &stmt.kind {
                self.layer_stmts.push((stmt.span, layer_index));
                self.layer_symbols(stmt, decl, layer_index);
                layer_index += 1;
            } else {
                self.stmt_symbols(stmt, None);
            }
        }
        self.program.stmts = stmts;
        self.symbols.sort_by_key(|s| (s.span.start, s.span.end));
    }

    fn push(&mut self, name: &str, span: Span, full: Span, layer: Option<usize>, kind: SymbolKind) {
        self.symbols.push(Symbol {
            name: name.to_string(),
            span,
            full: full.to(span),
            layer,
            kind,
        });
    }

    fn dim_id_at(&self, span: Span) -> Option<DimId> {
        self.checked
            .dims
            .iter()
            .find(|(_, d)| d.span == span)
            .map(|(id, _)| id)
    }

    /// Symbols of one statement, at the top level (`layer == None`) or in a body.
    fn stmt_symbols(&mut self, stmt: &Stmt, layer: Option<usize>) {
        match &stmt.kind {
            StmtKind::Dim(items) => {
                for item in items {
                    let Some(id) = self.dim_id_at(item.name.span) else {
                        continue;
                    };
                    let full = match &item.default {
                        Some(e) => item.name.span.to(e.span),
                        None => item.name.span,
                    };
                    self.push(
                        &item.name.name,
                        item.name.span,
                        full,
                        layer,
                        SymbolKind::Dim(id),
                    );
                }
            }
            StmtKind::Tensor(d) => {
                let role = match d.role {
                    TensorRole::Input => TensorKind::Input,
                    TensorRole::Param => TensorKind::Param,
                };
                let ty = match layer {
                    None => self
                        .checked
                        .decls
                        .iter()
                        .find(|x| x.span == d.name.span)
                        .map(|x| x.ty.clone()),
                    Some(i) => self.checked.layers.get(i).and_then(|sig| {
                        sig.state
                            .iter()
                            .find(|p| p.span == d.name.span)
                            .map(|p| p.ty.clone())
                    }),
                };
                let kind = SymbolKind::Tensor {
                    role,
                    ty,
                    value: None,
                };
                self.push(&d.name.name, d.name.span, stmt.span, layer, kind);
            }
            StmtKind::Binding {
                name,
                value,
                is_loss,
            } => {
                let ty = self
                    .checked
                    .bindings
                    .iter()
                    .find(|b| b.span == name.span && layer.is_none())
                    .map(|b| b.ty.clone())
                    .or_else(|| self.type_of(value.span).cloned());
                let role = if *is_loss {
                    TensorKind::Loss
                } else {
                    TensorKind::Binding
                };
                let kind = SymbolKind::Tensor {
                    role,
                    ty,
                    value: Some(value.span),
                };
                self.push(&name.name, name.span, stmt.span, layer, kind);
            }
            StmtKind::Instance {
                name,
                layer: layer_name,
                ..
            } => {
                let decl = self
                    .text
                    .get(layer_name.span.start..stmt.span.end)
                    .unwrap_or(&layer_name.name)
                    .trim_end()
                    .to_string();
                let kind = SymbolKind::Instance {
                    layer: layer_name.name.clone(),
                    decl,
                };
                self.push(&name.name, name.span, stmt.span, layer, kind);
            }
            StmtKind::Assert(_) | StmtKind::Return(_) | StmtKind::Layer(_) => {}
        }
    }

    fn layer_symbols(&mut self, stmt: &Stmt, decl: &LayerDecl, i: usize) {
        // Only trust the checker's layer `i` if it is this declaration.
        let sig_ok = self
            .checked
            .layers
            .get(i)
            .is_some_and(|l| l.header_span == decl.header_span);
        if !sig_ok {
            return;
        }
        self.push(
            &decl.name.name,
            decl.name.span,
            stmt.span,
            None,
            SymbolKind::Layer(i),
        );
        // Dimension parameters and per-call dimensions of the signature.
        let local_dims: Vec<(String, Span, DimId)> = self
            .checked
            .dims
            .iter()
            .filter(|(_, d)| !matches!(d.kind, crate::check::dims::DimKind::Global { .. }))
            .filter(|(_, d)| stmt.span.start <= d.span.start && d.span.end <= stmt.span.end)
            .map(|(id, d)| (d.name.clone(), d.span, id))
            .collect();
        for (name, span, id) in local_dims {
            self.push(&name, span, span, Some(i), SymbolKind::Dim(id));
        }
        for p in &decl.params {
            let ty = self.checked.layers[i]
                .args
                .iter()
                .find(|(_, _, s)| *s == p.name.span)
                .map(|(_, t, _)| t.clone());
            self.push(
                &p.name.name,
                p.name.span,
                p.name.span.to(p.shape.span),
                Some(i),
                SymbolKind::LayerArg { ty },
            );
        }
        for s in &decl.body {
            self.stmt_symbols(s, Some(i));
        }
    }
}

/// A span as an LSP range.
pub fn range_in(map: &SourceMap<'_>, span: Span) -> Range {
    let (l0, c0) = map.utf16_position(span.start);
    let (l1, c1) = map.utf16_position(span.end.max(span.start));
    Range::new(Position::new(l0, c0), Position::new(l1, c1))
}
