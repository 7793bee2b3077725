//! Conversion: pest's pairs to the tree of [`crate::syntax::ast`], with spans
//! relative to where the statement's parse started, the expression depth
//! tracked (E0104) and keywords used as names reported (E0102).

use super::messages::too_deep;
use super::*;

impl<'s> Driver<'s> {
    /// The parts of a `layer_header` pair: name, dimension parameters, arguments, return shape.
    #[allow(clippy::type_complexity)]
    pub(super) fn layer_header(
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

    pub(super) fn convert_stmt(
        &mut self,
        pair: Pair<'_, Rule>,
        base: usize,
    ) -> Result<Stmt, Failed> {
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

    pub(super) fn args(&mut self, pairs: Pairs<'_, Rule>, base: usize) -> Result<Vec<Arg>, Failed> {
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
}

fn deepen(e: Expr, child_depth: usize) -> Result<(Expr, usize), Failed> {
    let depth = child_depth + 1;
    if depth > MAX_EXPR_DEPTH {
        // Dropping `e` here is fine: it is at most MAX_EXPR_DEPTH deep.
        return Err(Failed);
    }
    Ok((e, depth))
}

/// A statement's pair may end with the whitespace and comments pest skipped
/// after its last token; a statement's span ends at its last token. Scans
/// back from the end, one line at a time: the trivia is short, the statement
/// may not be.
pub(super) fn without_trailing_trivia(src: &str, span: Span) -> Span {
    let text = &src[span.start..span.end.min(src.len())];
    let mut line_end = text.len();
    loop {
        let line_start = text[..line_end].rfind('\n').map_or(0, |k| k + 1);
        let line = &text[line_start..line_end];
        let code = line.find('#').map_or(line, |k| &line[..k]).trim_end();
        if !code.is_empty() || line_start == 0 {
            return Span::new(span.start, span.start + line_start + code.len());
        }
        line_end = line_start - 1;
    }
}

pub(super) fn span_of(pair: &Pair<'_, Rule>, base: usize) -> Span {
    let s = pair.as_span();
    Span::new(base + s.start(), base + s.end())
}

pub(super) fn ident(pair: &Pair<'_, Rule>, base: usize) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span_of(pair, base),
    }
}

/// E0102 when a name is a reserved keyword (the grammar does not exclude them).
pub(super) fn keyword_as_name(pair: &Pair<'_, Rule>, base: usize) -> Option<Diagnostic> {
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
