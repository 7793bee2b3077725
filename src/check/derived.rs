//! Derived dimensions (SPEC section 3): `dim Ho = (H - 1) / 2 + 1` names an
//! expression of other dimensions. It is not a symbol of its own: every use
//! stands for the definition's polynomial, so `Ho` compares equal to the same
//! expression computed by a convolution's shape rule, and display shows the
//! name back (`Dims::derived_named`). Its value is computed at run time, never
//! set (`--dim Ho=..` is E0616).
//!
//! Dimensions are visible throughout the file, so a definition may name a
//! dimension declared further down, or another derived dimension: definitions
//! are taken in dependency order, and a cycle is E0313.

use super::dims::DimId;
use super::{Checker, Entity};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::{Expr, ExprKind};
use std::collections::{HashMap, VecDeque};

/// Whether `dim X = e` names anything (a derived dimension), rather than being
/// literal arithmetic (a default, `dim D = 4 * 1024`).
pub(crate) fn names_something(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Name(_) => true,
        ExprKind::Number(_) | ExprKind::Bool(_) => false,
        ExprKind::Neg(x) | ExprKind::Paren(x) => names_something(x),
        ExprKind::Binary { lhs, rhs, .. } => names_something(lhs) || names_something(rhs),
        ExprKind::List(items) => items.iter().any(names_something),
        ExprKind::Call { .. } | ExprKind::Member { .. } | ExprKind::Index { .. } => true,
    }
}

/// The names of dimension arithmetic in `e` (what a definition depends on).
fn names_in<'e>(e: &'e Expr, out: &mut Vec<&'e str>) {
    match &e.kind {
        ExprKind::Name(n) => out.push(n),
        ExprKind::Neg(x) | ExprKind::Paren(x) => names_in(x, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            names_in(lhs, out);
            names_in(rhs, out);
        }
        _ => {}
    }
}

/// How many members of a cycle a message names.
const SHOWN: usize = 6;

/// The largest definition ([`super::dims::Poly::size`]) a derived dimension
/// may have, so that definitions squaring each other cannot grow without bound.
const MAX_SIZE: usize = 256;

impl Checker<'_> {
    /// Defines the derived dimensions of pass 1, each after the derived
    /// dimensions its definition names (Kahn's algorithm: linear, and no
    /// recursion however long a chain of definitions is).
    pub(crate) fn define_derived(&mut self, pending: &[(DimId, &Expr)]) {
        let index: HashMap<DimId, usize> = pending
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let deps: Vec<Vec<usize>> = pending
            .iter()
            .map(|(_, e)| {
                let mut names = Vec::new();
                names_in(e, &mut names);
                let mut d: Vec<usize> = names
                    .into_iter()
                    .filter_map(|n| match self.scopes[0].names.get(n) {
                        Some(Entity::Dim(id)) => index.get(id).copied(),
                        _ => None,
                    })
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); pending.len()];
        for (i, d) in deps.iter().enumerate() {
            for &j in d {
                readers[j].push(i);
            }
        }
        let mut ready: VecDeque<usize> = (0..pending.len()).filter(|&i| waiting[i] == 0).collect();
        let mut defined = vec![false; pending.len()];
        while let Some(i) = ready.pop_front() {
            let (id, e) = pending[i];
            let def = self.dim_poly(e, false).and_then(|p| match p.as_const() {
                _ if p.size() > MAX_SIZE => {
                    let name = self.dims.name(id).to_string();
                    self.report(
                        Diagnostic::error(
                            Code::E0313,
                            e.span,
                            format!(
                                "the definition of `{name}` is too large: more than {MAX_SIZE} terms and factors once the derived dimensions in it are replaced"
                            ),
                        )
                        .with_primary_label("too large")
                        .with_help("declare a dimension of its own (`dim X`) and bind it at run time"),
                    );
                    None
                }
                Some(v) if v < 1 => {
                    let name = self.dims.name(id).to_string();
                    self.report(
                        Diagnostic::error(
                            Code::E0313,
                            e.span,
                            format!("`{name}` would be {v}, but a dimension is at least 1"),
                        )
                        .with_primary_label(format!("this is {v}")),
                    );
                    None
                }
                _ => Some(p),
            });
            self.dims.define(id, def);
            defined[i] = true;
            for &r in &readers[i] {
                waiting[r] -= 1;
                if waiting[r] == 0 {
                    ready.push_back(r);
                }
            }
        }
        // What is left is on a cycle or depends on one: every cycle is
        // reported once, at its first declared member; the rest stay
        // undefined (their uses are poisoned). Each walk follows undefined
        // dependencies (every undefined definition has one) until it meets
        // its own path (a cycle) or an earlier walk: linear in all.
        let mut walk: Vec<Option<usize>> = vec![None; pending.len()];
        let mut at: Vec<usize> = vec![0; pending.len()];
        for start in 0..pending.len() {
            if defined[start] || walk[start].is_some() {
                continue;
            }
            let mut path = Vec::new();
            let mut cur = start;
            let cycle = loop {
                match walk[cur] {
                    Some(w) if w == start => break Some(path[at[cur]..].to_vec()),
                    Some(_) => break None,
                    None => {}
                }
                walk[cur] = Some(start);
                at[cur] = path.len();
                path.push(cur);
                match deps[cur].iter().find(|&&j| !defined[j]) {
                    Some(&next) => cur = next,
                    None => break None,
                }
            };
            let Some(mut cycle) = cycle else { continue };
            // start the message at the member declared first
            let first_at = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
            cycle.rotate_left(first_at);
            let name = |i: usize| self.dims.name(pending[i].0).to_string();
            let first = cycle[0];
            let (msg, help) = if cycle.len() == 1 {
                (
                    format!("the derived dimension `{}` is defined in terms of itself", name(first)),
                    "a derived dimension is an expression of other dimensions: declare the ones it is computed from with `dim`".to_string(),
                )
            } else {
                // a long cycle is shown by its first members (one message
                // stays readable, and rendering stays fast)
                let mut chain: Vec<String> = cycle
                    .iter()
                    .take(SHOWN)
                    .map(|&i| format!("`{}`", name(i)))
                    .collect();
                if cycle.len() > SHOWN {
                    chain.push(format!("... ({} in all)", cycle.len()));
                }
                chain.push(format!("`{}`", name(first)));
                (
                    format!(
                        "derived dimensions defined in terms of each other: {}",
                        chain.join(" -> ")
                    ),
                    "one of them must be a dimension of its own (`dim H`), bound at run time"
                        .to_string(),
                )
            };
            let mut d = Diagnostic::error(Code::E0313, pending[first].1.span, msg)
                .with_primary_label(format!("`{}` is defined here", name(first)));
            for &i in cycle.iter().take(SHOWN).skip(1) {
                d = d.with_label(pending[i].1.span, format!("`{}` is defined here", name(i)));
            }
            self.report(d.with_help(help));
        }
    }
}
