//! One analyzed document: its text, syntax tree, checker output and a table of
//! every declared name (the symbols hover, go-to-definition, completion and the
//! outline share).

use crate::cancel::Cancel;
use crate::check::dims::{DimId, DimKind};
use crate::check::typed::{Def, LayerId, TensorKind as CheckedKind};
use crate::check::types::TensorTy;
use crate::check::{check_source_unless, Checked};
use crate::diagnostics::{SourceMap, Span};
use crate::syntax::ast::{Program, Stmt, StmtKind};
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
    Metric,
}

#[derive(Clone, Debug)]
pub struct Symbol {
    /// What the checker resolved this declaration to.
    pub def: Def,
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
    /// Parses and checks `text` (never evaluates it); gives up (`None`) as
    /// soon as `cancel` is set.
    pub fn check(text: String, cancel: &Cancel) -> Option<Analysis> {
        let (program, checked) = check_source_unless(&text, cancel)?;
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
        Some(a)
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
    pub fn notes_of(&self, span: Span) -> impl Iterator<Item = String> + '_ {
        self.checked
            .notes
            .iter()
            .filter(move |(s, _)| *s == span)
            .map(|(_, n)| self.checked.note_text(n))
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

    /// The declared name at `offset`: through the innermost name use (or
    /// declaration) containing it. Returns the span hit and the symbol.
    pub fn symbol_at(&self, offset: usize) -> Option<(Span, &Symbol)> {
        self.checked
            .references
            .iter()
            .filter(|(u, _)| u.contains(offset))
            .min_by_key(|(u, _)| u.len())
            .and_then(|(u, d)| Some((*u, self.symbol_of(*d)?)))
    }

    /// The innermost name use (or declaration) at `offset`, or just before it
    /// (`x|` still means `x`), and what it refers to.
    pub fn def_at(&self, offset: usize) -> Option<(Span, Def)> {
        let at = |o: usize| {
            self.checked
                .references
                .iter()
                .filter(|(u, _)| u.contains(o))
                .min_by_key(|(u, _)| u.len())
                .copied()
        };
        at(offset).or_else(|| {
            let prev = offset.checked_sub(1)?;
            let ch = self.text.get(prev..offset)?;
            ch.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                .then(|| at(prev))
                .flatten()
        })
    }

    /// Every place that names `def` (its declaration included), in source
    /// order, each once.
    pub fn references_to(&self, def: Def) -> Vec<Span> {
        let mut spans: Vec<Span> = self
            .checked
            .references
            .iter()
            .filter(|(_, d)| *d == def)
            .map(|(s, _)| *s)
            .collect();
        spans.sort();
        spans.dedup();
        spans
    }

    /// The symbol of a resolved declaration.
    pub fn symbol_of(&self, def: Def) -> Option<&Symbol> {
        self.symbols.iter().find(|s| s.def == def)
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
        Some(crate::check::layer_signature(sig, &self.checked))
    }

    /// The parameters an instance owns, with types: `("W", "[D, H]")`. Top-level
    /// instances use the checker's instance declarations (instance dimensions
    /// substituted); nested ones, the layer's own symbols.
    pub fn instance_params(&self, sym: &Symbol) -> Vec<(String, String)> {
        let Def::Instance(id) = sym.def else {
            return Vec::new();
        };
        self.checked
            .instance(id)
            .params
            .iter()
            .map(|(path, ty, _)| (path.clone(), self.checked.display(ty)))
            .collect()
    }

    /// The symbol table, from the checker's tables of resolved declarations;
    /// the syntax tree only supplies each declaration's whole statement (for
    /// the outline) and a binding's value.
    fn collect_symbols(&mut self) {
        let mut statements: HashMap<Span, (Span, Option<Span>)> = HashMap::new();
        for stmt in &self.program.stmts {
            if let StmtKind::Layer(decl) = &stmt.kind {
                statements.insert(decl.name.span, (stmt.span, None));
                for p in &decl.params {
                    statements.insert(p.name.span, (p.name.span.to(p.shape.span), None));
                }
                for inner in &decl.body {
                    statement_spans(inner, &mut statements);
                }
            } else {
                statement_spans(stmt, &mut statements);
            }
        }
        for (i, layer) in self.checked.layers.iter().enumerate() {
            let full = statements
                .get(&layer.span)
                .map(|s| s.0)
                .unwrap_or(layer.span);
            self.layer_stmts.push((full, i));
        }
        let full_of = |span: Span| statements.get(&span).copied().unwrap_or((span, None));
        let layer_of = |span: Span, stmts: &[(Span, usize)]| {
            stmts
                .iter()
                .find(|(s, _)| s.start <= span.start && span.end <= s.end)
                .map(|(_, i)| *i)
        };
        let mut symbols = Vec::new();
        for (id, info) in self.checked.dims.iter() {
            let layer = match info.kind {
                DimKind::Global { .. } | DimKind::Derived { .. } => None,
                _ => layer_of(info.span, &self.layer_stmts),
            };
            symbols.push(Symbol {
                def: Def::Dim(id),
                name: info.name.clone(),
                span: info.span,
                full: full_of(info.span).0,
                layer,
                kind: SymbolKind::Dim(id),
            });
        }
        for (i, info) in self.checked.layers.iter().enumerate() {
            symbols.push(Symbol {
                def: Def::Layer(LayerId(i as u32)),
                name: info.name.clone(),
                span: info.span,
                full: full_of(info.span).0,
                layer: None,
                kind: SymbolKind::Layer(i),
            });
        }
        for (i, info) in self.checked.instances.iter().enumerate() {
            let (full, _) = full_of(info.span);
            let decl = self
                .text
                .get(info.span.end..full.end)
                .map(|t| t.trim_start().trim_start_matches('=').trim().to_string())
                .unwrap_or_default();
            let layer = info
                .layer
                .map(|l| self.checked.layer(l).name.clone())
                .unwrap_or_default();
            symbols.push(Symbol {
                def: Def::Instance(crate::check::typed::InstanceId(i as u32)),
                name: info.name.clone(),
                span: info.span,
                full,
                layer: info.scope.map(|l| l.0 as usize),
                kind: SymbolKind::Instance { layer, decl },
            });
        }
        for (i, info) in self.checked.tensors.iter().enumerate() {
            let (full, value) = full_of(info.span);
            let role = match info.kind {
                CheckedKind::Input => TensorKind::Input,
                CheckedKind::Param => TensorKind::Param,
                CheckedKind::Binding => TensorKind::Binding,
                CheckedKind::Loss => TensorKind::Loss,
                CheckedKind::Metric => TensorKind::Metric,
                CheckedKind::LayerArg => {
                    symbols.push(Symbol {
                        def: Def::Tensor(crate::check::TensorId(i as u32)),
                        name: info.name.clone(),
                        span: info.span,
                        full,
                        layer: info.layer.map(|l| l.0 as usize),
                        kind: SymbolKind::LayerArg {
                            ty: info.ty.clone(),
                        },
                    });
                    continue;
                }
                // `fc1.W` is a path, not a declared name.
                CheckedKind::InstanceParam => continue,
            };
            symbols.push(Symbol {
                def: Def::Tensor(crate::check::TensorId(i as u32)),
                name: info.name.clone(),
                span: info.span,
                full,
                layer: info.layer.map(|l| l.0 as usize),
                kind: SymbolKind::Tensor {
                    role,
                    ty: info.ty.clone(),
                    value,
                },
            });
        }
        symbols.sort_by_key(|s| (s.span.start, s.span.end));
        self.symbols = symbols;
    }
}

/// The whole statement (and a binding's value) of each name a statement declares.
fn statement_spans(stmt: &Stmt, out: &mut HashMap<Span, (Span, Option<Span>)>) {
    match &stmt.kind {
        StmtKind::Dim(items) => {
            for item in items {
                let full = match &item.default {
                    Some(e) => item.name.span.to(e.span),
                    None => item.name.span,
                };
                out.insert(item.name.span, (full, None));
            }
        }
        StmtKind::Tensor(d) => {
            out.insert(d.name.span, (stmt.span, None));
        }
        StmtKind::Binding { name, value, .. } => {
            out.insert(name.span, (stmt.span, Some(value.span)));
        }
        StmtKind::Instance { name, .. } => {
            out.insert(name.span, (stmt.span, None));
        }
        StmtKind::Assert(_) | StmtKind::Return(_) | StmtKind::Layer(_) | StmtKind::Train(_) => {}
    }
}

/// A span as an LSP range.
pub fn range_in(map: &SourceMap<'_>, span: Span) -> Range {
    let (l0, c0) = map.utf16_position(span.start);
    let (l1, c1) = map.utf16_position(span.end.max(span.start));
    Range::new(Position::new(l0, c0), Position::new(l1, c1))
}
