//! The formatter (`gradlang fmt`, SPEC section 14): one canonical layout, no
//! options. One statement per line, single spaces around binary operators and
//! after commas, layer bodies indented by two spaces, at most one blank line
//! between statements, trailing comments aligned within a run of lines.
//!
//! Invariants: every comment is kept (a comment inside a statement that spans
//! several lines moves before it); formatting never changes what a program means
//! (the tree is printed as parsed, parentheses included); formatting is
//! idempotent; a file with syntax errors is not formatted (its diagnostics are
//! returned), so no text is ever lost.

mod print;

use crate::diagnostics::{Diagnostic, SourceMap, Span};
use crate::syntax::ast::{Stmt, StmtKind};

/// The formatted text of `src`, or the syntax errors that prevent formatting.
pub fn format_source(src: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = crate::syntax::parse(src);
    let errors: Vec<Diagnostic> = parsed
        .diagnostics
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let comments = Comments::scan(src);
    let mut out = Output::default();
    let mut f = Formatter {
        src,
        map: SourceMap::new(src),
        comments,
    };
    f.block(&parsed.program.stmts, 0, usize::MAX, 0, &mut out);
    Ok(out.finish())
}

/// A `#` comment: gradlang has no strings, so the first `#` of a line starts one.
#[derive(Clone, Debug)]
struct Comment {
    line: usize,
    text: String,
    /// Nothing but whitespace (or `;`) before it on its line.
    own_line: bool,
    used: bool,
}

struct Comments(Vec<Comment>);

impl Comments {
    fn scan(src: &str) -> Comments {
        let mut out = Vec::new();
        for (line, text) in src.lines().enumerate() {
            if let Some(at) = text.find('#') {
                let before = &text[..at];
                out.push(Comment {
                    line,
                    text: text[at..].trim_end().to_string(),
                    own_line: before
                        .trim_matches(|c: char| c.is_whitespace() || c == ';')
                        .is_empty(),
                    used: false,
                });
            }
        }
        Comments(out)
    }

    /// Takes the unused comments on lines `from..=to` (own-line ones only if asked).
    fn take(&mut self, from: usize, to: usize, own_line: Option<bool>) -> Vec<Comment> {
        let mut taken = Vec::new();
        for c in &mut self.0 {
            if !c.used && c.line >= from && c.line <= to && own_line.is_none_or(|o| o == c.own_line)
            {
                c.used = true;
                taken.push(c.clone());
            }
        }
        taken
    }
}

/// Lines of output; trailing comments are aligned when the output is finished.
#[derive(Default)]
struct Output {
    lines: Vec<Line>,
}

struct Line {
    code: String,
    comment: Option<String>,
}

impl Output {
    fn push(&mut self, code: String, comment: Option<String>) {
        self.lines.push(Line { code, comment });
    }

    fn blank(&mut self) {
        if self
            .lines
            .last()
            .is_some_and(|l| !l.code.is_empty() || l.comment.is_some())
        {
            self.push(String::new(), None);
        }
    }

    /// Aligns trailing comments within runs of consecutive code lines that
    /// have one, then joins the lines.
    fn finish(mut self) -> String {
        while self
            .lines
            .last()
            .is_some_and(|l| l.code.is_empty() && l.comment.is_none())
        {
            self.lines.pop();
        }
        let mut out = String::new();
        let mut i = 0;
        while i < self.lines.len() {
            let trailing = |l: &Line| l.comment.is_some() && !l.code.trim().is_empty();
            if !trailing(&self.lines[i]) {
                let l = &self.lines[i];
                out.push_str(&l.code);
                if let Some(c) = &l.comment {
                    out.push_str(c);
                }
                out.push('\n');
                i += 1;
                continue;
            }
            let start = i;
            while i < self.lines.len() && trailing(&self.lines[i]) {
                i += 1;
            }
            let width = self.lines[start..i]
                .iter()
                .map(|l| l.code.chars().count())
                .max()
                .unwrap_or(0);
            for l in &self.lines[start..i] {
                let pad = width - l.code.chars().count() + 2;
                out.push_str(&l.code);
                out.push_str(&" ".repeat(pad));
                out.push_str(l.comment.as_deref().unwrap_or(""));
                out.push('\n');
            }
        }
        out
    }
}

struct Formatter<'s> {
    src: &'s str,
    map: SourceMap<'s>,
    comments: Comments,
}

impl Formatter<'_> {
    fn line(&self, offset: usize) -> usize {
        self.map.line_index(offset.min(self.src.len()))
    }

    /// The last line of a span (its end is exclusive).
    fn last_line(&self, span: Span) -> usize {
        self.line(span.end.saturating_sub(1).max(span.start))
    }

    /// Statements of one block, with the own-line comments between them, up to
    /// line `end_line` (exclusive; `usize::MAX` for the file).
    fn block(
        &mut self,
        stmts: &[Stmt],
        start_line: usize,
        end_line: usize,
        indent: usize,
        out: &mut Output,
    ) {
        let pad = " ".repeat(indent);
        let mut prev_end: Option<usize> = None;
        for (k, stmt) in stmts.iter().enumerate() {
            let first = self.line(stmt.span.start);
            let last = self.last_line(stmt.span);
            let leading = self
                .comments
                .take(start_line, first.saturating_sub(1), Some(true));
            let leading: Vec<Comment> = leading.into_iter().filter(|c| c.line < first).collect();
            let mut cursor = prev_end;
            for c in leading {
                if cursor.is_some_and(|p| c.line > p + 1) {
                    out.blank();
                }
                out.push(format!("{pad}{}", c.text), None);
                cursor = Some(c.line);
            }
            if cursor.is_some_and(|p| first > p + 1) {
                out.blank();
            }
            // A comment at the end of a line with several statements belongs
            // to the last of them.
            let shares_line = stmts
                .get(k + 1)
                .is_some_and(|next| self.line(next.span.start) == last);
            self.stmt(stmt, first, last, indent, shares_line, out);
            prev_end = Some(last);
        }
        // Comments after the last statement of the block.
        let to = if end_line == usize::MAX {
            usize::MAX
        } else {
            end_line.saturating_sub(1)
        };
        let from = prev_end.map_or(start_line, |p| p + 1);
        for c in self.comments.take(from, to, None) {
            if prev_end.is_some_and(|p| c.line > p + 1) {
                out.blank();
            }
            out.push(format!("{pad}{}", c.text), None);
            prev_end = Some(c.line);
        }
    }

    fn stmt(
        &mut self,
        stmt: &Stmt,
        first: usize,
        last: usize,
        indent: usize,
        shares_line: bool,
        out: &mut Output,
    ) {
        let pad = " ".repeat(indent);
        if let StmtKind::Layer(decl) = &stmt.kind {
            let header_last = self.last_line(decl.header_span);
            // Comments inside a multi-line header move before it.
            for c in self
                .comments
                .take(first, header_last.saturating_sub(1), None)
            {
                out.push(format!("{pad}{}", c.text), None);
            }
            let trailing = self.comments.take(header_last, header_last, Some(false));
            out.push(
                format!("{pad}{}", print::layer_header(decl, self.src)),
                joined(&trailing),
            );
            self.block(&decl.body, header_last + 1, last, indent + 2, out);
            let closing = self.comments.take(last, last, Some(false));
            out.push(format!("{pad}}}"), joined(&closing));
            return;
        }
        // Comments on earlier lines of a multi-line statement move before it.
        for c in self.comments.take(first, last.saturating_sub(1), None) {
            out.push(format!("{pad}{}", c.text), None);
        }
        let trailing = if shares_line {
            Vec::new()
        } else {
            self.comments.take(last, last, Some(false))
        };
        out.push(
            format!("{pad}{}", print::stmt(stmt, self.src)),
            joined(&trailing),
        );
    }
}

fn joined(comments: &[Comment]) -> Option<String> {
    (!comments.is_empty()).then(|| {
        comments
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    })
}
