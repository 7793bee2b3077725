//! Messages: what a statement that does not parse is reported as (E0101 with
//! "expected ..., found ...", E0102, the compound-assignment and
//! dangling-operator explanations, E0104).

use super::recovery::{skip_inline_space, skip_trivia};
use super::*;

impl<'s> Driver<'s> {
    /// Turns a pest error into an E01xx diagnostic with "expected ..., found ...".
    pub(super) fn syntax_error(&self, err: &pest::error::Error<Rule>, base: usize) -> Diagnostic {
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

/// `c += 1` at `pos`: gradlang binds every name once, so there is no compound
/// assignment; the message points at the operator.
pub(super) fn compound_assignment(src: &str, pos: usize) -> Option<Diagnostic> {
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

/// Parses again with pest's error detail on, so the error can name the literal
/// tokens it expected ("expected `)`"). Detail tracking slows parsing down a
/// lot, and the switch is global, so it is on only here, under a lock.
pub(super) fn parse_for_message(rule: Rule, src: &str, pos: usize) -> pest::error::Error<Rule> {
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

pub(super) fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::error(Code::E0104, span, "expression is nested too deeply")
        .with_primary_label(format!("more than {MAX_EXPR_DEPTH} levels"))
        .with_help("split it into several bindings")
}

/// E0101 for a keyword that starts a line after a line ending with a binary
/// operator (`y = x +` then `loss L = ...`): the operator is the mistake, not
/// the keyword. Looks back only over the lines before the keyword.
pub(super) fn dangling_operator(src: &str, keyword: Span) -> Option<Diagnostic> {
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
