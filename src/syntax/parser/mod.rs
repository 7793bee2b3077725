//! The parser driver: source text to [`Program`] plus diagnostics.
//!
//! Invariant: parsing never fails and never panics. The grammar
//! (`grammar/gradlang.pest`) is applied one statement at a time; a statement that
//! does not parse becomes an E01xx diagnostic and parsing resumes at the next line
//! that starts a statement. Deeply nested input is refused (E0104) before pest or
//! the tree conversion could recurse too far.
//!
//! This file is the driver (the statement loop, the whole-file fast path,
//! windowed parsing); [`convert`] turns pest's pairs into the tree,
//! [`recovery`] finds where statements start and guards nesting, and
//! [`messages`] words what does not parse.

use super::ast::*;
use crate::cancel::Cancel;
use crate::diagnostics::{Code, Diagnostic, Span};
use pest::error::InputLocation;
use pest::iterators::{Pair, Pairs};
use pest::Parser as _;

mod convert;
mod messages;
mod recovery;

use convert::{ident, keyword_as_name, span_of, without_trailing_trivia};
use messages::{compound_assignment, dangling_operator, parse_for_message};
use recovery::{
    check_nesting, last_non_trivia_end, next_statement_start, shallow_enough, skip_block,
    skip_trivia, starts_keyword, starts_mid_line,
};

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
