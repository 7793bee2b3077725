//! Recovery: where statements start and end in raw text, so that parsing can
//! resume after an error, and the nesting guard that refuses input too deep
//! for the parser before pest sees it (E0104).

use super::*;

/// Skips whitespace, comments and stray `;`.
pub(super) fn skip_trivia(src: &str, mut pos: usize) -> usize {
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

pub(super) fn last_non_trivia_end(src: &str, start: usize, end: usize) -> usize {
    let text = &src[start..end];
    // Trailing comments after the closing brace are not part of the statement.
    let mut last = text.len();
    if let Some(brace) = text.rfind('}') {
        last = brace + 1;
    }
    start + last
}

pub(super) fn starts_keyword(src: &str, pos: usize, kw: &str) -> bool {
    let rest = &src[pos..];
    rest.starts_with(kw)
        && !rest[kw.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The next place after `pos` where a statement starts: the first token of a
/// later line, or the token after a `;`, that looks like a statement start.
pub(super) fn next_statement_start(src: &str, pos: usize) -> usize {
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
pub(super) fn starts_mid_line(src: &str, pos: usize) -> bool {
    let line_start = src[..pos].rfind('\n').map_or(0, |i| i + 1);
    let before = src[line_start..pos].trim();
    !before.is_empty() && !before.ends_with(';')
}

pub(super) fn skip_inline_space(src: &str, mut pos: usize) -> usize {
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
pub(super) fn skip_block(src: &str, pos: usize) -> usize {
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
/// guard of the recovering path. One pass with [`check_nesting`]'s counting (a
/// statement ends at a line end, `;` or `{` outside brackets), which is what
/// running it at every line start would find: a scan from a statement's first
/// line sees at least the depth and operators of one from a later line.
pub(super) fn shallow_enough(src: &str) -> bool {
    let (mut depth, mut operators, mut in_comment) = (0usize, 0usize, false);
    for &b in src.as_bytes() {
        if in_comment {
            if b != b'\n' {
                continue;
            }
            in_comment = false;
        }
        match b {
            b'\n' | b';' | b'{' if depth == 0 => operators = 0,
            b'#' => in_comment = true,
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return false;
                }
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'*' => {
                operators += 1;
                if operators > MAX_OPERATORS_PER_STATEMENT {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// Refuses statements whose nesting would make the parser recurse too deeply.
/// Scans the statement at `start`: up to the first line end outside brackets.
pub(super) fn check_nesting(src: &str, start: usize) -> Option<Diagnostic> {
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
