//! The one constant evaluator: integer arithmetic on literals, for everything the
//! checker must know as a number (axes, `keepdims`-free counts such as
//! tensordot's `k`, permutations, dimension defaults). `axis=2-1` is axis 1
//! wherever an axis is accepted.

use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::{BinOp, Expr, ExprKind};

/// Why an expression is not an integer constant.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstError {
    /// Not literal arithmetic (a name, a call, ...).
    NotConstant(Span),
    /// A number with a fraction (`1.5`).
    NotInteger(Span),
    /// Too large for 64 bits (`99999999999999999999`).
    TooLarge(Span),
    DivisionByZero(Span),
}

impl ConstError {
    pub fn span(&self) -> Span {
        match self {
            ConstError::NotConstant(s)
            | ConstError::NotInteger(s)
            | ConstError::TooLarge(s)
            | ConstError::DivisionByZero(s) => *s,
        }
    }

    /// A diagnostic for a place that needs `what` ("an axis", "a dimension's default").
    pub fn diagnostic(&self, code: Code, what: &str, example: &str) -> Diagnostic {
        let (message, label) = match self {
            ConstError::NotConstant(_) => (
                format!("{what} must be an integer constant"),
                "not an integer constant",
            ),
            ConstError::NotInteger(_) => (format!("{what} must be an integer"), "not an integer"),
            ConstError::TooLarge(_) => (
                format!("{what} is too large"),
                "does not fit in a 64-bit integer",
            ),
            ConstError::DivisionByZero(_) => {
                (format!("{what} divides by zero"), "division by zero")
            }
        };
        Diagnostic::error(code, self.span(), message)
            .with_primary_label(label)
            .with_help(format!(
                "write integer arithmetic on literals, such as {example}"
            ))
    }
}

/// The integer value of literal arithmetic: numbers, parentheses, unary `-`,
/// `+ - *` and `/` (floor division, as for dimensions).
pub fn int(e: &Expr) -> Result<i64, ConstError> {
    match &e.kind {
        ExprKind::Number(v) => {
            if v.fract() != 0.0 {
                Err(ConstError::NotInteger(e.span))
            } else if v.abs() >= 9.0e15 {
                Err(ConstError::TooLarge(e.span))
            } else {
                Ok(*v as i64)
            }
        }
        ExprKind::Neg(inner) => int(inner)?
            .checked_neg()
            .ok_or(ConstError::TooLarge(e.span)),
        ExprKind::Paren(inner) => int(inner),
        ExprKind::Binary { op, lhs, rhs, .. } => {
            let (a, b) = (int(lhs)?, int(rhs)?);
            let v = match op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                BinOp::Div if b == 0 => return Err(ConstError::DivisionByZero(rhs.span)),
                BinOp::Div => Some(a.div_euclid(b)),
                _ => return Err(ConstError::NotConstant(e.span)),
            };
            v.ok_or(ConstError::TooLarge(e.span))
        }
        _ => Err(ConstError::NotConstant(e.span)),
    }
}

/// A number literal, maybe negated (`0.2`, `-1`), for number options.
pub fn number(e: &Expr) -> Option<f64> {
    match &e.strip_parens().kind {
        ExprKind::Number(v) => Some(*v),
        ExprKind::Neg(inner) => number(inner).map(|v| -v),
        _ => None,
    }
}

/// A non-negative number literal (`1e-3`), for tolerances.
pub fn non_negative_number(e: &Expr) -> Option<f64> {
    match e.strip_parens().kind {
        ExprKind::Number(v) if v >= 0.0 => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(src: &str) -> Result<i64, ConstError> {
        let text = format!("y = {src}");
        let parsed = crate::syntax::parse(&text);
        let crate::syntax::ast::StmtKind::Binding { value, .. } = &parsed.program.stmts[0].kind
        else {
            panic!("not a binding")
        };
        int(value)
    }

    #[test]
    fn literal_arithmetic() {
        assert_eq!(value("2 - 1"), Ok(1));
        assert_eq!(value("-(3 * 2) + 1"), Ok(-5));
        assert_eq!(value("7 / 2"), Ok(3));
        assert!(matches!(value("1.5"), Err(ConstError::NotInteger(_))));
        assert!(matches!(value("n + 1"), Err(ConstError::NotConstant(_))));
        assert!(matches!(
            value("99999999999999999999"),
            Err(ConstError::TooLarge(_))
        ));
        assert!(matches!(value("1 / 0"), Err(ConstError::DivisionByZero(_))));
    }
}
