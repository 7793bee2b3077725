//! Statements and expressions in their canonical spelling. The tree is printed
//! exactly as parsed (parentheses are nodes), so the meaning cannot change;
//! numbers keep their source spelling (`1e-3` stays `1e-3`).

use crate::syntax::ast::{
    Arg, DeclElem, Expr, ExprKind, IndexItem, LayerDecl, Stmt, StmtKind, TensorRole,
};

pub fn stmt(stmt: &Stmt, src: &str) -> String {
    let e = |x: &Expr| expr(x, src);
    match &stmt.kind {
        StmtKind::Dim(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|i| match &i.default {
                    Some(d) => format!("{} = {}", i.name.name, e(d)),
                    None => i.name.name.clone(),
                })
                .collect();
            format!("dim {}", items.join(", "))
        }
        StmtKind::Tensor(d) => {
            let role = match d.role {
                TensorRole::Input => "input",
                TensorRole::Param => "param",
            };
            let mut text = format!("{role} {}: {}", d.name.name, e(&d.shape));
            text.push_str(elem_suffix(d.elem));
            if let Some(init) = &d.init {
                text.push_str(&format!(" = {}", e(init)));
            }
            text
        }
        StmtKind::Binding { name, value, role } => {
            format!("{}{} = {}", role.prefix(), name.name, e(value))
        }
        StmtKind::Instance { name, layer, args } => {
            format!("{} = {}[{}]", name.name, layer.name, args_text(args, src))
        }
        StmtKind::Assert(x) => format!("assert {}", e(x)),
        StmtKind::Return(x) => format!("return {}", e(x)),
        StmtKind::Layer(decl) => layer_header(decl, src),
        StmtKind::Train(t) => format!("train({})", args_text(&t.args, src)),
    }
}

/// `layer Dense[I, O](x: [B, I]) -> [B, O] {`
pub fn layer_header(decl: &LayerDecl, src: &str) -> String {
    let dims = if decl.dim_params.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = decl.dim_params.iter().map(|d| d.name.as_str()).collect();
        format!("[{}]", names.join(", "))
    };
    let params: Vec<String> = decl
        .params
        .iter()
        .map(|p| {
            format!(
                "{}: {}{}",
                p.name.name,
                expr(&p.shape, src),
                elem_suffix(p.elem)
            )
        })
        .collect();
    format!(
        "layer {}{dims}({}) -> {} {{",
        decl.name.name,
        params.join(", "),
        expr(&decl.ret, src)
    )
}

fn args_text(args: &[Arg], src: &str) -> String {
    args.iter()
        .map(|a| match &a.name {
            Some(n) => format!("{}={}", n.name, expr(&a.value, src)),
            None => expr(&a.value, src),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn expr(e: &Expr, src: &str) -> String {
    match &e.kind {
        ExprKind::Number(v) => src
            .get(e.span.start..e.span.end)
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Name(n) => n.clone(),
        ExprKind::List(items) => {
            let items: Vec<String> = items.iter().map(|i| expr(i, src)).collect();
            format!("[{}]", items.join(", "))
        }
        ExprKind::Neg(x) => format!("-{}", expr(x, src)),
        ExprKind::Binary { op, lhs, rhs, .. } => {
            format!("{} {} {}", expr(lhs, src), op.symbol(), expr(rhs, src))
        }
        ExprKind::Call { callee, args } => {
            format!("{}({})", expr(callee, src), args_text(args, src))
        }
        ExprKind::Member { base, member } => format!("{}.{}", expr(base, src), member.name),
        ExprKind::Paren(x) => format!("({})", expr(x, src)),
        ExprKind::Index { base, items } => {
            let items: Vec<String> = items
                .iter()
                .map(|item| match item {
                    IndexItem::Single(e) => expr(e, src),
                    IndexItem::Slice {
                        start, stop, step, ..
                    } => {
                        let part =
                            |e: &Option<Expr>| e.as_ref().map(|e| expr(e, src)).unwrap_or_default();
                        match step {
                            Some(s) => format!("{}:{}:{}", part(start), part(stop), expr(s, src)),
                            None => format!("{}:{}", part(start), part(stop)),
                        }
                    }
                })
                .collect();
            format!("{}[{}]", expr(base, src), items.join(", "))
        }
    }
}

/// ` int`, ` bool` or nothing after a declared shape.
fn elem_suffix(elem: DeclElem) -> &'static str {
    match elem {
        DeclElem::Float => "",
        DeclElem::Int => " int",
        DeclElem::Bool => " bool",
    }
}
