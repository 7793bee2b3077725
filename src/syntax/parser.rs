//! The parser driver: source text to [`Program`] plus diagnostics.
//!
//! Invariant: parsing never fails and never panics. The grammar
//! (`grammar/gradlang.pest`) is applied one statement at a time; a statement that
//! does not parse becomes an E01xx diagnostic and parsing resumes at the next line
//! that starts a statement. Deeply nested input is refused (E0104) before pest or
//! the tree conversion could recurse too far.

use super::ast::*;
use crate::cancel::Cancel;
use crate::diagnostics::{Code, Diagnostic, Span};
use pest::error::InputLocation;
use pest::iterators::{Pair, Pairs};
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/gradlang.pest"]
struct GradParser;

/// Brackets nested deeper than this are refused (E0104).
pub const MAX_BRACKET_DEPTH: usize = 64;
/// Expression trees deeper than this are refused (E0104).
pub const MAX_EXPR_DEPTH: usize = 256;
/// Statements with more operators than this are refused (E0104): the Pratt parser
/// recurses once per prefix `-` and per `**`.
const MAX_OPERATORS_PER_STATEMENT: usize = 4096;

/// The reserved words (SPEC section 2): the one list the grammar, the editor
/// grammars and completion are tested against.
pub const KEYWORDS: &[&str] = &[
    "dim", "input", "param", "layer", "return", "loss", "assert", "int", "bool", "true", "false",
];

pub struct Parsed {
    pub program: Program,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a whole file. Never fails: problems are diagnostics.
pub fn parse(src: &str) -> Parsed {
    parse_unless(src, &Cancel::new())
}

/// [`parse`], stopping at the next statement once `cancel` is set: the result
/// is then truncated, for the caller to throw away.
pub fn parse_unless(src: &str, cancel: &Cancel) -> Parsed {
    let mut p = Driver {
        src,
        diagnostics: Vec::new(),
        last_stmt: None,
        cancel,
    };
    // Fast path: a file that parses whole (what an editor sees nearly always)
    // is converted in one go. Anything else is parsed statement by statement,
    // which recovers after each error.
    if shallow_enough(src) {
        if let Ok(mut pairs) = GradParser::parse(Rule::program, src) {
            if let Some(Ok(stmts)) = pairs.next().map(|prog| p.whole_program(prog)) {
                if p.diagnostics.is_empty() {
                    return Parsed {
                        program: Program { stmts },
                        diagnostics: p.diagnostics,
                    };
                }
            }
            p.diagnostics.clear();
        }
    }
    let mut stmts = Vec::new();
    let mut pos = skip_trivia(src, 0);
    while pos < src.len() && !cancel.is_cancelled() {
        if starts_keyword(src, pos, "layer") {
            let (layer, next) = p.layer(pos);
            stmts.extend(layer);
            pos = next;
        } else if src[pos..].starts_with('}') {
            p.diagnostics.push(
                Diagnostic::error(Code::E0101, Span::new(pos, pos + 1), "unmatched `}`")
                    .with_primary_label("no layer body is open here"),
            );
            pos = skip_trivia(src, pos + 1);
        } else {
            let (stmt, next) = p.statement(pos);
            stmts.extend(stmt);
            pos = next;
        }
    }
    Parsed {
        program: Program { stmts },
        diagnostics: p.diagnostics,
    }
}

struct Driver<'s> {
    src: &'s str,
    diagnostics: Vec<Diagnostic>,
    /// Span of the last statement that parsed, to explain errors right after it.
    last_stmt: Option<Span>,
    cancel: &'s Cancel,
}

/// Why building a tree failed (the diagnostic is already recorded or is returned).
struct Failed;

impl<'s> Driver<'s> {
    /// A name, reporting E0102 if it is a keyword.
    fn ident(&mut self, pair: &Pair<'_, Rule>, base: usize) -> Ident {
        if let Some(d) = keyword_as_name(pair, base) {
            let d = dangling_operator(self.src, span_of(pair, base)).unwrap_or(d);
            self.diagnostics.push(d);
        }
        ident(pair, base)
    }

    /// Parses one statement at `pos`; returns it (if it parsed) and where to go on.
    fn statement(&mut self, pos: usize) -> (Option<Stmt>, usize) {
        if let Some(diag) = check_nesting(self.src, pos) {
            self.diagnostics.push(diag);
            return (None, next_statement_start(self.src, pos));
        }
        match parse_at(Rule::stmt_complete, self.src, pos) {
            Ok(mut pairs) => {
                let Some(pair) = pairs.next() else {
                    return (None, next_statement_start(self.src, pos));
                };
                let end = pos + pair.as_span().end();
                let stmt = self.convert_stmt(pair, pos).ok();
                self.last_stmt = stmt.as_ref().map(|s| s.span);
                // `skip_trivia` also steps over the statement's optional `;`.
                let next = skip_trivia(self.src, end);
                (stmt, next.max(pos + 1).min(self.src.len()))
            }
            Err(_) => {
                if let Some(diag) = compound_assignment(self.src, pos) {
                    self.diagnostics.push(diag);
                    return (None, next_statement_start(self.src, pos));
                }
                let err = parse_for_message(Rule::stmt_complete, self.src, pos);
                if let Some(kept) = self.statement_ending_at_line_end(pos, &err) {
                    return kept;
                }
                let mut diag = self.syntax_error(&err, pos);
                if let Some(prev) = self.last_stmt.filter(|_| starts_mid_line(self.src, pos)) {
                    diag = diag.with_label(prev, "the previous statement was read up to here").with_help(
                        "a statement starts on a new line or after `;`; if the previous line ends with an operator, it continues onto the next line",
                    );
                }
                self.diagnostics.push(diag);
                (None, next_statement_start(self.src, pos))
            }
        }
    }

    /// SPEC section 2: a statement may end at the end of its line. When a
    /// statement fails on a later line than it starts (in an editor, a
    /// half-typed line below it), the lines before the failing one are tried as
    /// a statement of their own; if they parse, they are kept and parsing
    /// resumes on the failing line, which alone is reported.
    fn statement_ending_at_line_end(
        &mut self,
        pos: usize,
        err: &pest::error::Error<Rule>,
    ) -> Option<(Option<Stmt>, usize)> {
        let failed_at = pos
            + match err.location {
                InputLocation::Pos(p) => p,
                InputLocation::Span((p, _)) => p,
            };
        let cut = self.src[pos..failed_at.min(self.src.len())].rfind('\n')? + pos;
        let mut pairs = GradParser::parse(Rule::stmt_complete, &self.src[pos..cut]).ok()?;
        let pair = pairs.next()?;
        let stmt = self.convert_stmt(pair, pos).ok();
        self.last_stmt = stmt.as_ref().map(|s| s.span);
        Some((stmt, skip_trivia(self.src, cut).max(pos + 1)))
    }

    /// Parses `layer Name[..](..) -> [..] { body }` at `pos`.
    fn layer(&mut self, pos: usize) -> (Option<Stmt>, usize) {
        if let Some(diag) = check_nesting(self.src, pos) {
            self.diagnostics.push(diag);
            return (None, skip_block(self.src, pos));
        }
        let header = match parse_at(Rule::layer_header, self.src, pos) {
            Ok(mut pairs) => match pairs.next() {
                Some(h) => h,
                None => return (None, skip_block(self.src, pos)),
            },
            Err(_) => {
                let err = parse_for_message(Rule::layer_header, self.src, pos);
                self.diagnostics.push(self.syntax_error(&err, pos));
                return (None, skip_block(self.src, pos));
            }
        };
        let header_span = span_of(&header, pos);
        let (name, dim_params, params, ret) = self.layer_header(header, pos);
        // Body: statements until the closing brace.
        let mut body = Vec::new();
        let mut at = skip_trivia(self.src, header_span.end);
        let mut closed = false;
        while at < self.src.len() {
            if self.src[at..].starts_with('}') {
                at = skip_trivia(self.src, at + 1);
                closed = true;
                break;
            }
            if starts_keyword(self.src, at, "layer") {
                // A `layer` inside a body: most likely the `}` is missing.
                break;
            }
            let (stmt, next) = self.statement(at);
            body.extend(stmt);
            at = next;
        }
        let end = if closed { at } else { self.src.len().min(at) };
        if !closed {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::E0101,
                    header_span,
                    format!(
                        "the body of layer `{}` is not closed",
                        name.as_ref()
                            .map(|n: &Ident| n.name.as_str())
                            .unwrap_or("?")
                    ),
                )
                .with_primary_label("this `{` has no matching `}`")
                .with_help("add `}` after the layer's `return` statement"),
            );
        }
        let (Some(name), Some(ret)) = (name, ret) else {
            return (None, end);
        };
        let span = Span::new(pos, last_non_trivia_end(self.src, pos, end));
        let stmt = Stmt {
            kind: StmtKind::Layer(LayerDecl {
                name,
                dim_params,
                params,
                ret,
                body,
                header_span,
            }),
            span,
        };
        (Some(stmt), end)
    }

    /// The parts of a `layer_header` pair: name, dimension parameters, arguments, return shape.
    #[allow(clippy::type_complexity)]
    fn layer_header(
        &mut self,
        header: Pair<'_, Rule>,
        base: usize,
    ) -> (Option<Ident>, Vec<Ident>, Vec<LayerParam>, Option<Expr>) {
        let mut name = None;
        let mut dim_params = Vec::new();
        let mut params = Vec::new();
        let mut ret = None;
        for part in header.into_inner() {
            match part.as_rule() {
                Rule::ident => name = Some(self.ident(&part, base)),
                Rule::dim_params => {
                    dim_params = part.into_inner().map(|p| self.ident(&p, base)).collect()
                }
                Rule::layer_param => {
                    let mut inner = part.into_inner();
                    let (Some(n), Some(shape)) = (inner.next(), inner.next()) else {
                        continue;
                    };
                    let Ok(shape) = self.expr_like(shape, base) else {
                        continue;
                    };
                    params.push(LayerParam {
                        name: self.ident(&n, base),
                        shape,
                        elem: match inner.next().map(|k| k.as_rule()) {
                            Some(Rule::kw_int) => DeclElem::Int,
                            Some(Rule::kw_bool) => DeclElem::Bool,
                            _ => DeclElem::Float,
                        },
                    });
                }
                Rule::list => ret = self.expr_like(part, base).ok(),
                _ => {}
            }
        }
        (name, dim_params, params, ret)
    }

    /// The fast path: the whole file as one `program` pair (no errors to recover from).
    fn whole_program(&mut self, program: Pair<'_, Rule>) -> Result<Vec<Stmt>, Failed> {
        let mut stmts = Vec::new();
        for pair in program.into_inner() {
            if self.cancel.is_cancelled() {
                return Err(Failed);
            }
            match pair.as_rule() {
                Rule::EOI => {}
                Rule::layer_decl => {
                    let span = without_trailing_trivia(self.src, span_of(&pair, 0));
                    let mut inner = pair.into_inner();
                    let header = inner.next().ok_or(Failed)?;
                    let header_span = span_of(&header, 0);
                    let (name, dim_params, params, ret) = self.layer_header(header, 0);
                    let mut body = Vec::new();
                    for p in inner.filter(|p| p.as_rule() != Rule::block_end) {
                        body.push(self.convert_stmt(p, 0)?);
                    }
                    stmts.push(Stmt {
                        kind: StmtKind::Layer(LayerDecl {
                            name: name.ok_or(Failed)?,
                            dim_params,
                            params,
                            ret: ret.ok_or(Failed)?,
                            body,
                            header_span,
                        }),
                        span,
                    });
                }
                _ => stmts.push(self.convert_stmt(pair, 0)?),
            }
        }
        Ok(stmts)
    }

    fn convert_stmt(&mut self, pair: Pair<'_, Rule>, base: usize) -> Result<Stmt, Failed> {
        let span = without_trailing_trivia(self.src, span_of(&pair, base));
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let kind = match rule {
            Rule::dim_stmt => {
                let mut items = Vec::new();
                for item in inner {
                    let mut parts = item.into_inner();
                    let name = self.ident(&parts.next().ok_or(Failed)?, base);
                    let default = match parts.next() {
                        Some(e) => Some(self.expr(e, base)?),
                        None => None,
                    };
                    items.push(DimItem { name, default });
                }
                StmtKind::Dim(items)
            }
            Rule::tensor_decl => {
                let role = match inner.next().ok_or(Failed)?.as_str() {
                    "input" => TensorRole::Input,
                    _ => TensorRole::Param,
                };
                let name = self.ident(&inner.next().ok_or(Failed)?, base);
                let shape = self.expr_like(inner.next().ok_or(Failed)?, base)?;
                let mut elem = DeclElem::Float;
                let mut init = None;
                for rest in inner {
                    match rest.as_rule() {
                        Rule::kw_int => elem = DeclElem::Int,
                        Rule::kw_bool => elem = DeclElem::Bool,
                        _ => init = Some(self.expr(rest, base)?),
                    }
                }
                StmtKind::Tensor(TensorDecl {
                    role,
                    name,
                    shape,
                    elem,
                    init,
                })
            }
            Rule::binding | Rule::loss_stmt | Rule::metric_stmt => {
                if rule == Rule::metric_stmt {
                    inner.next(); // the word `metric`
                }
                let name = self.ident(&inner.next().ok_or(Failed)?, base);
                let rhs = inner.next().ok_or(Failed)?;
                if rhs.as_rule() == Rule::instance_rhs {
                    let mut parts = rhs.into_inner();
                    let layer = self.ident(&parts.next().ok_or(Failed)?, base);
                    let args = self.args(parts.next().ok_or(Failed)?.into_inner(), base)?;
                    StmtKind::Instance { name, layer, args }
                } else {
                    StmtKind::Binding {
                        name,
                        value: self.expr(rhs, base)?,
                        role: match rule {
                            Rule::loss_stmt => BindingRole::Loss,
                            Rule::metric_stmt => BindingRole::Metric,
                            _ => BindingRole::Plain,
                        },
                    }
                }
            }
            Rule::train_stmt => {
                let keyword = span_of(&inner.next().ok_or(Failed)?, base);
                let call = inner.next().ok_or(Failed)?;
                StmtKind::Train(TrainStmt {
                    keyword,
                    args: self.args(call.into_inner(), base)?,
                })
            }
            Rule::assert_stmt => StmtKind::Assert(self.expr(inner.next().ok_or(Failed)?, base)?),
            Rule::return_stmt => StmtKind::Return(self.expr(inner.next().ok_or(Failed)?, base)?),
            _ => return Err(Failed),
        };
        Ok(Stmt { kind, span })
    }

    fn args(&mut self, pairs: Pairs<'_, Rule>, base: usize) -> Result<Vec<Arg>, Failed> {
        let mut args = Vec::new();
        for a in pairs {
            let span = span_of(&a, base);
            if a.as_rule() == Rule::named_arg {
                let mut parts = a.into_inner();
                let name = self.ident(&parts.next().ok_or(Failed)?, base);
                let value = self.expr(parts.next().ok_or(Failed)?, base)?;
                args.push(Arg {
                    name: Some(name),
                    value,
                    span,
                });
            } else {
                let value = self.expr(a, base)?;
                args.push(Arg {
                    name: None,
                    value,
                    span,
                });
            }
        }
        Ok(args)
    }

    /// Converts an `expr` pair, or a primary such as a `list`, into an [`Expr`].
    fn expr_like(&mut self, pair: Pair<'_, Rule>, base: usize) -> Result<Expr, Failed> {
        match pair.as_rule() {
            Rule::expr => self.expr(pair, base),
            _ => self.primary(pair, base).map(|(e, _)| e),
        }
    }

    fn expr(&mut self, pair: Pair<'_, Rule>, base: usize) -> Result<Expr, Failed> {
        let span = span_of(&pair, base);
        let (e, depth) = self.expr_with_depth(pair, base)?;
        if depth > MAX_EXPR_DEPTH {
            self.diagnostics.push(too_deep(span));
            return Err(Failed);
        }
        Ok(e)
    }

    /// Applies precedence to the flat operand/operator sequence of an `expr`.
    fn expr_with_depth(
        &mut self,
        pair: Pair<'_, Rule>,
        base: usize,
    ) -> Result<(Expr, usize), Failed> {
        let span = span_of(&pair, base);
        let tokens: Vec<Pair<'_, Rule>> = pair.into_inner().collect();
        let mut at = 0;
        let result = self.climb(&tokens, &mut at, 0, base);
        if result.is_err() && self.diagnostics.is_empty() {
            self.diagnostics.push(too_deep(span));
        }
        result
    }

    /// Precedence climbing (SPEC section 5): `+ -` bind loosest, then `* / @`,
    /// then unary `-`, then `**` (right-associative), then postfix calls and members.
    fn climb(
        &mut self,
        tokens: &[Pair<'_, Rule>],
        at: &mut usize,
        min_prec: u8,
        base: usize,
    ) -> Result<(Expr, usize), Failed> {
        let (mut lhs, mut depth) = self.unary(tokens, at, base)?;
        while let Some(op_pair) = tokens.get(*at).filter(|t| t.as_rule() == Rule::infix) {
            let (op, prec, right_assoc) = match op_pair.as_str() {
                "+" => (BinOp::Add, 1, false),
                "-" => (BinOp::Sub, 1, false),
                "*" => (BinOp::Mul, 2, false),
                "/" => (BinOp::Div, 2, false),
                "@" => (BinOp::MatMul, 2, false),
                "<" => (BinOp::Lt, 0, false),
                "<=" => (BinOp::Le, 0, false),
                ">" => (BinOp::Gt, 0, false),
                ">=" => (BinOp::Ge, 0, false),
                "==" => (BinOp::Eq, 0, false),
                "!=" => (BinOp::Ne, 0, false),
                _ => (BinOp::Pow, 4, true),
            };
            if prec < min_prec {
                break;
            }
            if let ExprKind::Binary { op: first, .. } = &lhs.kind {
                if op.is_comparison() && first.is_comparison() {
                    let op_span = span_of(op_pair, base);
                    self.diagnostics.push(
                        Diagnostic::error(
                            Code::E0101,
                            op_span,
                            format!(
                                "comparisons cannot be chained: `{}` follows `{}`",
                                op.symbol(),
                                first.symbol()
                            ),
                        )
                        .with_primary_label("a second comparison")
                        .with_label(lhs.span, "this is already a comparison (a bool tensor)")
                        .with_help(
                            "compare once per expression: where both `a < b` and `b < c` should hold, `float(a < b) * float(b < c)` is 1 (or `where(a < b, b < c, a < b)` a mask)",
                        ),
                    );
                    return Err(Failed);
                }
            }
            *at += 1;
            let (rhs, rd) =
                self.climb(tokens, at, if right_assoc { prec } else { prec + 1 }, base)?;
            let span = lhs.span.to(rhs.span);
            let e = Expr {
                kind: ExprKind::Binary {
                    op,
                    op_span: span_of(op_pair, base),
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            };
            (lhs, depth) = deepen(e, depth.max(rd))?;
        }
        Ok((lhs, depth))
    }

    /// `-operand` (binding looser than `**`) or a primary with its postfixes.
    fn unary(
        &mut self,
        tokens: &[Pair<'_, Rule>],
        at: &mut usize,
        base: usize,
    ) -> Result<(Expr, usize), Failed> {
        let token = tokens.get(*at).ok_or(Failed)?;
        if token.as_rule() == Rule::neg {
            let op_span = span_of(token, base);
            *at += 1;
            let (operand, d) = self.climb(tokens, at, 3, base)?;
            let span = op_span.to(operand.span);
            return deepen(
                Expr {
                    kind: ExprKind::Neg(Box::new(operand)),
                    span,
                },
                d,
            );
        }
        *at += 1;
        let (mut e, mut depth) = self.primary(token.clone(), base)?;
        while let Some(post) = tokens
            .get(*at)
            .filter(|t| matches!(t.as_rule(), Rule::call | Rule::member | Rule::index))
        {
            *at += 1;
            let span = e.span.to(span_of(post, base));
            let kind = if post.as_rule() == Rule::index {
                let mut items = Vec::new();
                for item in post.clone().into_inner() {
                    if item.as_rule() == Rule::slice {
                        let item_span = span_of(&item, base);
                        let mut bounds = Vec::new();
                        for b in item.into_inner() {
                            bounds.push(match b.into_inner().next() {
                                Some(x) => Some(self.expr(x, base)?),
                                None => None,
                            });
                        }
                        let mut bounds = bounds.into_iter();
                        items.push(IndexItem::Slice {
                            start: bounds.next().flatten(),
                            stop: bounds.next().flatten(),
                            step: bounds.next().flatten(),
                            span: item_span,
                        });
                    } else {
                        let (x, d) = self.expr_with_depth(item, base)?;
                        depth = depth.max(d);
                        items.push(IndexItem::Single(x));
                    }
                }
                ExprKind::Index {
                    base: Box::new(e),
                    items,
                }
            } else if post.as_rule() == Rule::call {
                ExprKind::Call {
                    callee: Box::new(e),
                    args: self.args(post.clone().into_inner(), base)?,
                }
            } else {
                let member = post.clone().into_inner().next().ok_or(Failed)?;
                ExprKind::Member {
                    base: Box::new(e),
                    member: self.ident(&member, base),
                }
            };
            (e, depth) = deepen(Expr { kind, span }, depth)?;
        }
        Ok((e, depth))
    }

    fn primary(&mut self, pair: Pair<'_, Rule>, base: usize) -> Result<(Expr, usize), Failed> {
        let span = span_of(&pair, base);
        match pair.as_rule() {
            Rule::number => {
                let text = pair.as_str();
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok((
                        Expr {
                            kind: ExprKind::Number(v),
                            span,
                        },
                        1,
                    )),
                    _ => {
                        self.diagnostics.push(
                            Diagnostic::error(
                                Code::E0106,
                                span,
                                format!("the number `{text}` is out of range"),
                            )
                            .with_primary_label("not representable as a finite 64-bit float"),
                        );
                        Err(Failed)
                    }
                }
            }
            Rule::ident if matches!(pair.as_str(), "true" | "false") => Ok((
                Expr {
                    kind: ExprKind::Bool(pair.as_str() == "true"),
                    span,
                },
                1,
            )),
            Rule::ident => Ok((
                Expr {
                    kind: ExprKind::Name(self.ident(&pair, base).name),
                    span,
                },
                1,
            )),
            Rule::paren => {
                let inner = pair.into_inner().next().ok_or(Failed)?;
                let (e, d) = self.expr_with_depth(inner, base)?;
                deepen(
                    Expr {
                        kind: ExprKind::Paren(Box::new(e)),
                        span,
                    },
                    d,
                )
            }
            Rule::list => {
                let mut items = Vec::new();
                let mut depth = 0;
                for item in pair.into_inner() {
                    let (e, d) = self.expr_with_depth(item, base)?;
                    depth = depth.max(d);
                    items.push(e);
                }
                deepen(
                    Expr {
                        kind: ExprKind::List(items),
                        span,
                    },
                    depth,
                )
            }
            Rule::expr => self.expr_with_depth(pair, base),
            _ => Err(Failed),
        }
    }

    /// Turns a pest error into an E01xx diagnostic with "expected ..., found ...".
    fn syntax_error(&self, err: &pest::error::Error<Rule>, base: usize) -> Diagnostic {
        let at = base
            + match err.location {
                InputLocation::Pos(p) => p,
                InputLocation::Span((s, _)) => s,
            };
        let at = at.min(self.src.len());
        let found = token_at(self.src, at);
        let found_span = Span::new(at, (at + found.len()).min(self.src.len()));
        let expected = expected_list(err);
        let first = token_at(self.src, base);
        if KEYWORDS.contains(&first) {
            let after = skip_inline_space(self.src, base + first.len());
            if token_at(self.src, after) == "=" {
                return Diagnostic::error(
                    Code::E0102,
                    Span::new(base, base + first.len()),
                    format!("`{first}` is a keyword and cannot be used as a name"),
                )
                .with_primary_label("reserved keyword")
                .with_help(format!("rename it, for example `{first}_`"));
            }
        }
        if KEYWORDS.contains(&found) && expected.iter().any(|e| e == "a name") {
            return Diagnostic::error(
                Code::E0102,
                found_span,
                format!("`{found}` is a keyword and cannot be used as a name"),
            )
            .with_primary_label("reserved keyword")
            .with_help(format!("rename it, for example `{found}_`"));
        }
        let found_text = if found.is_empty() {
            "end of file".to_string()
        } else {
            format!("`{found}`")
        };
        let message = if expected.is_empty() {
            format!("unexpected {found_text}")
        } else {
            format!("expected {}, found {found_text}", join_or(&expected))
        };
        let mut d = Diagnostic::error(Code::E0101, found_span, message).with_primary_label(
            if expected.is_empty() {
                "unexpected here".to_string()
            } else {
                format!("expected {}", join_or(&expected))
            },
        );
        if let Some(open) = unclosed_bracket(self.src, base, at) {
            d = d.with_label(Span::new(open, open + 1), "this bracket is not closed");
        }
        if found == "=" && expected.iter().any(|e| e.contains("operator")) {
            d = d.with_help(
                "this `=` starts a new statement, but the one before it is not finished: look for an unclosed bracket or a trailing operator",
            );
        } else if at > base && token_at(self.src, base) == "let" {
            d = d.with_help("bindings need no keyword: write `name = expression`");
        }
        d
    }
}

/// How far from the end of its window a parse must stay for its result to be
/// that of the whole text: more than any token or lookahead reads at once.
const WINDOW_MARGIN: usize = 256;

/// `rule` at `pos`, as pest would parse `&src[pos..]`, in linear time overall.
///
/// On a failure pest builds its error with `Position::line_of`, whose line-start
/// search walks back from the *end of the input*: parsing `&src[pos..]` once per
/// erroneous statement made a file with many errors quadratic (4,000 bad lines:
/// 19 s). So the parse runs on a window of the text that ends well past `pos`,
/// and its result is kept when it stopped (failed, or matched and was followed
/// by more text) at least [`WINDOW_MARGIN`] bytes before the window's end;
/// otherwise the window doubles.
/// Pairs and error positions are relative to `pos`, exactly as before.
fn parse_at(
    rule: Rule,
    src: &str,
    pos: usize,
) -> Result<Pairs<'_, Rule>, pest::error::Error<Rule>> {
    let mut len = 4 * WINDOW_MARGIN;
    loop {
        let end = window_end(src, pos, len);
        let input = &src[pos..end];
        let result = GradParser::parse(rule, input);
        if end == src.len() {
            return result;
        }
        let stopped = match &result {
            // A match must be followed by text inside the window: a match that
            // ran into the window's end (`EOI`) might go on in the whole text.
            Ok(pairs) => skip_trivia(
                input,
                pairs.clone().map(|p| p.as_span().end()).max().unwrap_or(0),
            ),
            Err(e) => match e.location {
                InputLocation::Pos(p) => p,
                InputLocation::Span((_, e)) => e,
            },
        };
        if stopped + WINDOW_MARGIN < input.len() {
            return result;
        }
        len *= 2;
    }
}

/// `pos + len` moved to the end of its line (at most to the end of the text).
fn window_end(src: &str, pos: usize, len: usize) -> usize {
    let at = pos.saturating_add(len);
    if at >= src.len() {
        return src.len();
    }
    match src.as_bytes()[at..].iter().position(|&b| b == b'\n') {
        Some(i) => at + i + 1,
        None => src.len(),
    }
}

/// Parses again with pest's error detail on, so the error can name the literal
/// tokens it expected ("expected `)`"). Detail tracking slows parsing down a
/// lot, and the switch is global, so it is on only here, under a lock.
/// `c += 1` at `pos`: gradlang binds every name once, so there is no compound
/// assignment; the message points at the operator.
fn compound_assignment(src: &str, pos: usize) -> Option<Diagnostic> {
    // One line is enough (`c += 1`): parsing the rest of the file here would
    // make error recovery quadratic (pest scans its whole input on failure).
    let line_end = src[pos..].find('\n').map_or(src.len(), |k| pos + k);
    let pair = GradParser::parse(Rule::compound_assign, &src[pos..line_end])
        .ok()?
        .next()?;
    let name = pair.clone().into_inner().next()?;
    let name_end = pos + name.as_span().end();
    let op_start = skip_trivia(src, name_end);
    let op_end = pos + pair.as_span().end();
    let op = src[op_start..op_end].trim_end();
    let op_end = op_start + op.len();
    let bin = &op[..op.len() - 1];
    let n = name.as_str();
    let rest_start = skip_trivia(src, op_end);
    let rest_end = src[rest_start..]
        .find(['\n', ';'])
        .map_or(src.len(), |k| rest_start + k);
    let rest = src[rest_start..rest_end].trim();
    let rest = if rest.is_empty() { "..." } else { rest };
    Some(
        Diagnostic::error(
            Code::E0101,
            Span::new(op_start, op_end),
            format!("gradlang has no `{op}`: every name is bound once"),
        )
        .with_primary_label(format!("`{op}` is not an operator"))
        .with_help(format!("bind a new name: `{n}2 = {n} {bin} {rest}`")),
    )
}

fn parse_for_message(rule: Rule, src: &str, pos: usize) -> pest::error::Error<Rule> {
    static DETAIL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let input = &src[pos..pos];
    let _guard = DETAIL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    pest::set_error_detail(true);
    let result = parse_at(rule, src, pos);
    pest::set_error_detail(false);
    match result {
        Err(e) => e,
        // Cannot happen (the same input failed a moment ago); report at the start.
        Ok(_) => pest::error::Error::new_from_pos(
            pest::error::ErrorVariant::CustomError {
                message: "syntax error".into(),
            },
            pest::Position::from_start(input),
        ),
    }
}

fn deepen(e: Expr, child_depth: usize) -> Result<(Expr, usize), Failed> {
    let depth = child_depth + 1;
    if depth > MAX_EXPR_DEPTH {
        // Dropping `e` here is fine: it is at most MAX_EXPR_DEPTH deep.
        return Err(Failed);
    }
    Ok((e, depth))
}

fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::error(Code::E0104, span, "expression is nested too deeply")
        .with_primary_label(format!("more than {MAX_EXPR_DEPTH} levels"))
        .with_help("split it into several bindings")
}

/// A statement's pair may end with the whitespace and comments pest skipped
/// after its last token; a statement's span ends at its last token.
fn without_trailing_trivia(src: &str, span: Span) -> Span {
    let text = &src[span.start..span.end.min(src.len())];
    let mut end = 0;
    let mut in_comment = false;
    for (i, ch) in text.char_indices() {
        match ch {
            '#' => in_comment = true,
            '\n' => in_comment = false,
            c if !in_comment && !c.is_whitespace() => end = i + c.len_utf8(),
            _ => {}
        }
    }
    Span::new(span.start, span.start + end)
}

fn span_of(pair: &Pair<'_, Rule>, base: usize) -> Span {
    let s = pair.as_span();
    Span::new(base + s.start(), base + s.end())
}

fn ident(pair: &Pair<'_, Rule>, base: usize) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span_of(pair, base),
    }
}

/// E0102 when a name is a reserved keyword (the grammar does not exclude them).
fn keyword_as_name(pair: &Pair<'_, Rule>, base: usize) -> Option<Diagnostic> {
    let text = pair.as_str();
    KEYWORDS.contains(&text).then(|| {
        Diagnostic::error(
            Code::E0102,
            span_of(pair, base),
            format!("`{text}` is a keyword and cannot be used as a name"),
        )
        .with_primary_label("reserved keyword")
        .with_help(format!("rename it, for example `{text}_`"))
    })
}

/// E0101 for a keyword that starts a line after a line ending with a binary
/// operator (`y = x +` then `loss L = ...`): the operator is the mistake, not
/// the keyword. Looks back only over the lines before the keyword.
fn dangling_operator(src: &str, keyword: Span) -> Option<Diagnostic> {
    let before = &src[..keyword.start];
    let line_start = before.rfind('\n')?;
    if !before[line_start..].trim().is_empty() {
        return None;
    }
    // The last non-blank, non-comment text before the keyword's line.
    let mut end = line_start;
    loop {
        let start = src[..end].rfind('\n').map_or(0, |i| i + 1);
        let line = &src[start..end];
        let code = line.split('#').next().unwrap_or("").trim_end();
        if !code.is_empty() {
            let op = code.chars().last()?;
            if !"+-*/@^".contains(op) {
                return None;
            }
            let at = start + code.len() - op.len_utf8();
            let word = &src[keyword.start..keyword.end];
            return Some(
                Diagnostic::error(
                    Code::E0101,
                    Span::new(at, at + op.len_utf8()),
                    format!("`{op}` at the end of a line has no right operand"),
                )
                .with_primary_label("dangling operator")
                .with_label(keyword, format!("`{word}` starts a new statement"))
                .with_help(format!(
                    "remove the `{op}`, or finish the expression before the `{word}` statement"
                )),
            );
        }
        if start == 0 {
            return None;
        }
        end = start - 1;
    }
}

/// Skips whitespace, comments and stray `;`.
fn skip_trivia(src: &str, mut pos: usize) -> usize {
    let bytes = src.as_bytes();
    while pos < bytes.len() {
        match bytes[pos] {
            b' ' | b'\t' | b'\r' | b'\n' | b';' => pos += 1,
            b'#' => {
                while pos < bytes.len() && bytes[pos] != b'\n' {
                    pos += 1;
                }
            }
            _ => break,
        }
    }
    pos
}

fn last_non_trivia_end(src: &str, start: usize, end: usize) -> usize {
    let text = &src[start..end];
    // Trailing comments after the closing brace are not part of the statement.
    let mut last = text.len();
    if let Some(brace) = text.rfind('}') {
        last = brace + 1;
    }
    start + last
}

fn starts_keyword(src: &str, pos: usize, kw: &str) -> bool {
    let rest = &src[pos..];
    rest.starts_with(kw)
        && !rest[kw.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The next place after `pos` where a statement starts: the first token of a
/// later line, or the token after a `;`, that looks like a statement start.
fn next_statement_start(src: &str, pos: usize) -> usize {
    let bytes = src.as_bytes();
    let mut i = pos;
    let mut in_comment = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_comment {
            if b == b'\n' {
                in_comment = false;
            } else {
                i += 1;
                continue;
            }
        }
        match b {
            b'#' => in_comment = true,
            b'\n' | b';' => {
                let candidate = skip_inline_space(src, i + 1);
                if candidate < bytes.len() && looks_like_statement_start(src, candidate) {
                    return candidate;
                }
            }
            _ => {}
        }
        i += 1;
    }
    src.len()
}

/// True when something other than whitespace or `;` precedes `pos` on its line.
fn starts_mid_line(src: &str, pos: usize) -> bool {
    let line_start = src[..pos].rfind('\n').map_or(0, |i| i + 1);
    let before = src[line_start..pos].trim();
    !before.is_empty() && !before.ends_with(';')
}

fn skip_inline_space(src: &str, mut pos: usize) -> usize {
    let bytes = src.as_bytes();
    while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t' | b'\r') {
        pos += 1;
    }
    pos
}

fn looks_like_statement_start(src: &str, pos: usize) -> bool {
    parse_at(Rule::stmt_start, src, pos).is_ok()
}

/// Skips a layer whose header did not parse: to the `}` matching the first `{`,
/// or to the next statement if there is no body.
fn skip_block(src: &str, pos: usize) -> usize {
    let next = next_statement_start(src, pos);
    let Some(open) = src[pos..].find('{').map(|o| pos + o) else {
        return next;
    };
    // The `{` must be on the header's lines, before any later `layer`.
    if let Some(later_layer) = src[pos + 5.min(src.len() - pos)..].find("\nlayer") {
        if open > pos + 5 + later_layer {
            return next;
        }
    }
    let mut depth = 0usize;
    for (i, ch) in src[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return skip_trivia(src, open + i + 1);
                }
            }
            _ => {}
        }
    }
    src.len()
}

/// True when no statement of the file nests brackets or operators deeply enough
/// to be refused: the whole-file parse may then run without the per-statement
/// guard of the recovering path.
fn shallow_enough(src: &str) -> bool {
    let mut pos = skip_trivia(src, 0);
    while pos < src.len() {
        if check_nesting(src, pos).is_some() {
            return false;
        }
        match src[pos..].find('\n') {
            Some(nl) => pos = skip_trivia(src, pos + nl + 1),
            None => break,
        }
    }
    true
}

/// Refuses statements whose nesting would make the parser recurse too deeply.
/// Scans the statement at `start`: up to the first line end outside brackets.
fn check_nesting(src: &str, start: usize) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut in_comment = false;
    for (i, b) in src.as_bytes()[start..].iter().enumerate() {
        if in_comment {
            in_comment = *b != b'\n';
            if in_comment || depth > 0 {
                continue;
            }
        }
        match b {
            b'\n' | b';' | b'{' if depth == 0 => return None,
            b'#' => in_comment = true,
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    let at = start + i;
                    return Some(
                        Diagnostic::error(
                            Code::E0104,
                            Span::new(at, at + 1),
                            "brackets are nested too deeply",
                        )
                        .with_primary_label(format!(
                            "more than {MAX_BRACKET_DEPTH} levels open here"
                        ))
                        .with_help("split the expression into several bindings"),
                    );
                }
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'*' => {
                operators += 1;
                if operators > MAX_OPERATORS_PER_STATEMENT {
                    let at = start + i;
                    return Some(
                        Diagnostic::error(
                            Code::E0104,
                            Span::new(start, at + 1),
                            "statement is too long",
                        )
                        .with_primary_label(format!(
                            "more than {MAX_OPERATORS_PER_STATEMENT} operators"
                        ))
                        .with_help("split the expression into several bindings"),
                    );
                }
            }
            _ => {}
        }
    }
    None
}

/// The token at `pos` for "found ..." messages ("" at end of input).
fn token_at(src: &str, pos: usize) -> &str {
    let rest = &src[pos.min(src.len())..];
    let mut chars = rest.char_indices();
    let Some((_, first)) = chars.next() else {
        return "";
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' || first == '.' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else if rest.starts_with("**") || rest.starts_with("->") {
        2
    } else if first == '\n' {
        return "end of line";
    } else {
        first.len_utf8()
    };
    &rest[..len]
}

fn expected_list(err: &pest::error::Error<Rule>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(attempts) = err.parse_attempts() {
        for token in attempts.expected_tokens() {
            // Only punctuation is worth naming ("expected `)`"); ranges, keywords
            // and whitespace/comment starts are not what is missing.
            let token = token.to_string();
            let punctuation = token
                .chars()
                .all(|c| matches!(c, ')' | ']' | '{' | '=' | ':' | ',' | '>'));
            // comparison operators are among "an operator"
            let comparison = matches!(token.as_str(), "==" | "!=" | "<" | "<=" | ">" | ">=");
            if !punctuation
                || comparison
                || token.is_empty()
                || token == "-"
                || token.contains("..")
            {
                continue;
            }
            let name = format!("`{token}`");
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for rule in positives {
            let name = match rule {
                Rule::ident => "a name",
                Rule::expr | Rule::number | Rule::list | Rule::paren | Rule::neg => "an expression",
                Rule::infix => "an operator",
                Rule::dim_stmt
                | Rule::tensor_decl
                | Rule::loss_stmt
                | Rule::metric_stmt
                | Rule::train_stmt
                | Rule::assert_stmt
                | Rule::return_stmt
                | Rule::binding => "a statement",
                Rule::kw_int => "`int`",
                Rule::dim_item => "a dimension name",
                Rule::named_arg => "an argument",
                Rule::dim_args => "`[`",
                Rule::dim_params => "`[`",
                Rule::layer_param => "a parameter",
                Rule::kw_input | Rule::kw_param => "a statement",
                _ => continue,
            };
            if !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
        }
    }
    // Every expression starts with a name, so "a name or an expression" says
    // no more than "an expression".
    if out.iter().any(|o| o == "an expression") {
        out.retain(|o| o != "a name");
    }
    out
}

/// The innermost bracket opened in `[start, end)` and not closed there.
fn unclosed_bracket(src: &str, start: usize, end: usize) -> Option<usize> {
    let mut stack = Vec::new();
    let mut in_comment = false;
    for (i, b) in src.as_bytes()[start..end.min(src.len())].iter().enumerate() {
        if in_comment {
            in_comment = *b != b'\n';
            continue;
        }
        match b {
            b'#' => in_comment = true,
            b'(' | b'[' => stack.push(start + i),
            b')' | b']' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.last().copied()
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}
