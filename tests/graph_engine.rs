//! Tests of the graph engine (`gradlang::graph`) through its public API.

#[path = "graph_engine/util.rs"]
mod util;

use gradlang::graph::*;
use ndarray::{ArrayD, Axis, IxDyn};
use std::collections::HashMap;
use util::*;

type B = Result<NodeId, GraphError>;

// ---------------------------------------------------------------- elementwise

#[test]
fn unary_ops_match_finite_differences() {
    type F = fn(&mut Graph, NodeId) -> B;
    let ops: [(&str, F, bool); 12] = [
        ("neg", |g, x| g.neg(x), false),
        ("exp", |g, x| g.exp(x), false),
        ("log", |g, x| g.log(x), true),
        ("sqrt", |g, x| g.sqrt(x), true),
        ("tanh", |g, x| g.tanh(x), false),
        ("sigmoid", |g, x| g.sigmoid(x), false),
        ("relu", |g, x| g.relu(x), false),
        ("abs", |g, x| g.abs(x), false),
        ("sin", |g, x| g.sin(x), false),
        ("cos", |g, x| g.cos(x), false),
        ("safe_log", |g, x| g.safe_log(x), true),
        ("square_via_mul", |g, x| g.mul(x, x), false),
    ];
    let mut rng = Rng::new(1);
    for (k, (name, f, positive)) in ops.iter().enumerate() {
        for trial in 0..3 {
            let shape = rng.shape(3, 4);
            let i = if *positive { pos(&shape) } else { inp(&shape) };
            check_fn(name, (k * 10 + trial) as u64, &[i], |g, xs, _| f(g, xs[0]));
        }
    }
}

#[test]
fn binary_ops_with_broadcasting_match_finite_differences() {
    type F = fn(&mut Graph, NodeId, NodeId) -> B;
    let ops: [(&str, F, bool); 7] = [
        ("add", |g, a, b| g.add(a, b), false),
        ("sub", |g, a, b| g.sub(a, b), false),
        ("mul", |g, a, b| g.mul(a, b), false),
        ("div", |g, a, b| g.div(a, b), true),
        ("pow", |g, a, b| g.pow(a, b), true),
        ("maximum", |g, a, b| g.maximum(a, b), false),
        ("minimum", |g, a, b| g.minimum(a, b), false),
    ];
    let mut pairs: Vec<(Vec<usize>, Vec<usize>)> = vec![
        (vec![3, 1], vec![4]),
        (vec![2, 3, 4], vec![4]),
        (vec![], vec![2, 3]),
        (vec![2, 3], vec![]),
        (vec![2, 1, 4], vec![3, 1]),
        (vec![3, 4], vec![3, 4]),
    ];
    // random broadcast-compatible pairs
    let mut rng = Rng::new(7);
    for _ in 0..4 {
        let s = rng.shape(3, 4);
        let drop = rng.below(s.len() + 1);
        let t: Vec<usize> = s[drop..]
            .iter()
            .map(|&d| if rng.below(3) == 0 { 1 } else { d })
            .collect();
        if rng.below(2) == 0 {
            pairs.push((s, t));
        } else {
            pairs.push((t, s));
        }
    }
    for (k, (name, f, positive)) in ops.iter().enumerate() {
        for (p, (sa, sb)) in pairs.iter().enumerate() {
            let (a, b) = if *positive {
                (
                    pos(sa),
                    In {
                        shape: sb.clone(),
                        lo: 0.5,
                        hi: 2.0,
                    },
                )
            } else {
                (inp(sa), inp(sb))
            };
            let b = if *name == "pow" {
                In {
                    shape: sb.clone(),
                    lo: -2.0,
                    hi: 2.0,
                }
            } else {
                b
            };
            check_fn(name, (100 + k * 20 + p) as u64, &[a, b], |g, xs, _| {
                f(g, xs[0], xs[1])
            });
        }
    }
}

#[test]
fn non_differentiable_helpers_and_stop_gradient_have_zero_derivative() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![3, 2], DType::Float);
    let z = g.leaf("z", vec![2], DType::Float);
    let outs = [
        g.sign(x).unwrap(),
        g.greater(x, z).unwrap(),
        g.equal(x, z).unwrap(),
        g.stop_gradient(x).unwrap(),
    ];
    let mut rng = Rng::new(3);
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(rng.array(&[3, 2], -1.0, 1.0)));
    leaves.insert(z, fval(rng.array(&[2], -1.0, 1.0)));
    for o in outs {
        let s = g.sum_all(o).unwrap();
        let gx = g.grad(s, x).unwrap();
        let u = g.constant(1.0, vec![3, 2]);
        let t = g.jvp(o, x, u).unwrap();
        let r = eval(&g, &leaves, &[gx, t]);
        assert!(r[0].iter().all(|&v| v == 0.0));
        assert!(r[1].iter().all(|&v| v == 0.0));
    }
    // stop_gradient inside an expression: d/dx (x * stop(x)) = stop(x)
    let sx = g.stop_gradient(x).unwrap();
    let p = g.mul(x, sx).unwrap();
    let s = g.sum_all(p).unwrap();
    let gx = g.grad(s, x).unwrap();
    let r = eval(&g, &leaves, &[gx, x]);
    assert_close(&r[0], &r[1], 0.0, 0.0, "x * stop(x)");
}

// ---------------------------------------------------------------- matmul & structure

#[test]
fn matmul_every_case_matches_finite_differences() {
    let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
        (vec![3, 4], vec![4, 5]),
        (vec![2, 3, 4], vec![4, 5]),
        (vec![3, 4], vec![2, 4, 5]),
        (vec![2, 1, 3, 4], vec![5, 4, 2]),
        (vec![4], vec![4, 5]),
        (vec![4], vec![2, 4, 5]),
        (vec![3, 4], vec![4]),
        (vec![2, 3, 4], vec![4]),
        (vec![4], vec![4]),
        (vec![1, 4], vec![4, 1]),
    ];
    for (k, (sa, sb)) in cases.iter().enumerate() {
        check_fn("matmul", 300 + k as u64, &[inp(sa), inp(sb)], |g, xs, _| {
            g.matmul(xs[0], xs[1])
        });
    }
    // transposed operands folded into the product
    check_fn(
        "matmul(a.T, b)",
        320,
        &[inp(&[4, 3]), inp(&[4, 5])],
        |g, xs, _| {
            let at = g.reverse_axes(xs[0])?;
            g.matmul(at, xs[1])
        },
    );
    check_fn(
        "matmul(a, b.T)",
        321,
        &[inp(&[2, 3, 4]), inp(&[5, 4])],
        |g, xs, _| {
            let bt = g.transpose(xs[1], &[1, 0])?;
            g.matmul(xs[0], bt)
        },
    );
    check_fn(
        "matmul(a.T, b.T)",
        322,
        &[inp(&[2, 4, 3]), inp(&[2, 5, 4])],
        |g, xs, _| {
            let at = g.transpose(xs[0], &[0, 2, 1])?;
            let bt = g.transpose(xs[1], &[0, 2, 1])?;
            g.matmul(at, bt)
        },
    );
}

#[test]
fn matmul_values_follow_numpy_semantics() {
    let mut g = Graph::new();
    let a = g.literal(vec![1., 2., 3., 4., 5., 6.], vec![2, 3]).unwrap();
    let v = g.literal(vec![1., 0., -1.], vec![3]).unwrap();
    let w = g.literal(vec![1., 2.], vec![2]).unwrap();
    let av = g.matmul(a, v).unwrap(); // [2]
    let wa = g.matmul(w, a).unwrap(); // [3]
    let vv = g.matmul(v, v).unwrap(); // []
    let at = g.reverse_axes(a).unwrap();
    let ata = g.matmul(at, a).unwrap(); // [3,3]
    let r = eval(&g, &Leaves::new(), &[av, wa, vv, ata]);
    assert_eq!(r[0], arr(&[2], &[-2., -2.]));
    assert_eq!(r[1], arr(&[3], &[9., 12., 15.]));
    assert_eq!(r[2], arr(&[], &[2.]));
    assert_eq!(
        r[3],
        arr(&[3, 3], &[17., 22., 27., 22., 29., 36., 27., 36., 45.])
    );
}

#[test]
fn structural_ops_match_finite_differences() {
    check_fn("transpose", 400, &[inp(&[2, 3, 4])], |g, xs, _| {
        g.transpose(xs[0], &[2, 0, 1])
    });
    check_fn("transpose2", 401, &[inp(&[2, 3, 4])], |g, xs, _| {
        g.transpose(xs[0], &[1, 0, 2])
    });
    check_fn("reverse_axes", 402, &[inp(&[2, 3, 4])], |g, xs, _| {
        g.reverse_axes(xs[0])
    });
    check_fn("reshape", 403, &[inp(&[2, 3, 4])], |g, xs, _| {
        g.reshape(xs[0], vec![6, 4])
    });
    check_fn("reshape_t", 404, &[inp(&[2, 3, 4])], |g, xs, _| {
        let t = g.transpose(xs[0], &[2, 1, 0])?;
        g.reshape(t, vec![4, 6])
    });
    check_fn("broadcast_to", 405, &[inp(&[3, 1])], |g, xs, _| {
        g.broadcast_to(xs[0], vec![2, 3, 4])
    });
    check_fn("broadcast_to_s", 406, &[inp(&[])], |g, xs, _| {
        g.broadcast_to(xs[0], vec![2, 2])
    });
    check_fn("broadcast_to_v", 407, &[inp(&[4])], |g, xs, _| {
        g.broadcast_to(xs[0], vec![3, 4])
    });
    for k in 0..=2 {
        let (sa, sb): (Vec<usize>, Vec<usize>) = match k {
            0 => (vec![2, 3], vec![4]),
            1 => (vec![2, 3], vec![3, 4]),
            _ => (vec![2, 3, 4], vec![3, 4, 2]),
        };
        check_fn(
            "tensordot",
            410 + k as u64,
            &[inp(&sa), inp(&sb)],
            move |g, xs, _| g.tensordot(xs[0], xs[1], k),
        );
    }
}

// ---------------------------------------------------------------- reductions & composites

#[test]
fn reductions_match_finite_differences() {
    type F = fn(&mut Graph, NodeId, &[usize], bool) -> B;
    let ops: [(&str, F); 4] = [
        ("sum", |g, x, a, k| g.sum(x, a, k)),
        ("mean", |g, x, a, k| g.mean(x, a, k)),
        ("max", |g, x, a, k| g.max(x, a, k)),
        ("min", |g, x, a, k| g.min(x, a, k)),
    ];
    let axes_sets: [&[usize]; 6] = [&[0], &[1], &[2], &[0, 2], &[1, 2], &[0, 1, 2]];
    let mut seed = 500;
    for (name, f) in ops.iter() {
        for axes in axes_sets {
            for keep in [false, true] {
                seed += 1;
                check_fn(name, seed, &[inp(&[2, 3, 4])], |g, xs, _| {
                    f(g, xs[0], axes, keep)
                });
            }
        }
        seed += 1;
        check_fn(name, seed, &[inp(&[5])], |g, xs, _| {
            f(g, xs[0], &[0], false)
        });
    }
}

#[test]
fn max_gradient_splits_ties_evenly() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![4], DType::Float);
    let m = g.max(x, &[0], false).unwrap();
    let gx = g.grad(m, x).unwrap();
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(arr(&[4], &[1., 3., 3., 0.])));
    assert_eq!(eval1(&g, &leaves, gx), arr(&[4], &[0., 0.5, 0.5, 0.]));
    // relu'(0) = 0, abs'(0) = 0
    let r = g.relu(x).unwrap();
    let a = g.abs(x).unwrap();
    let sr = g.sum_all(r).unwrap();
    let sa = g.sum_all(a).unwrap();
    let gr = g.grad(sr, x).unwrap();
    let ga = g.grad(sa, x).unwrap();
    leaves.insert(x, fval(arr(&[4], &[-1., 0., 2., 0.])));
    let r = eval(&g, &leaves, &[gr, ga]);
    assert_eq!(r[0], arr(&[4], &[0., 0., 1., 0.]));
    assert_eq!(r[1], arr(&[4], &[-1., 0., 1., 0.]));
}

#[test]
fn softmax_family_matches_finite_differences() {
    for axis in 0..2 {
        check_fn("softmax", 600 + axis as u64, &[inp(&[3, 4])], |g, xs, _| {
            g.softmax(xs[0], axis)
        });
        check_fn(
            "log_softmax",
            610 + axis as u64,
            &[inp(&[3, 4])],
            |g, xs, _| g.log_softmax(xs[0], axis),
        );
        for keep in [false, true] {
            check_fn(
                "logsumexp",
                620 + axis as u64,
                &[inp(&[3, 4])],
                |g, xs, _| g.logsumexp(xs[0], axis, keep),
            );
        }
    }
    check_fn("cross_entropy", 630, &[inp(&[5, 4])], |g, xs, extra| {
        let labels = g.leaf("labels", vec![5], DType::Int);
        extra.push((
            labels,
            Value::Int(ArrayD::from_shape_vec(IxDyn(&[5]), vec![0, 3, 1, 1, 2]).unwrap()),
        ));
        g.cross_entropy(xs[0], labels)
    });
    check_fn("mse", 631, &[inp(&[3, 4]), inp(&[3, 4])], |g, xs, _| {
        g.mse(xs[0], xs[1])
    });
}

#[test]
fn composite_values_are_right_and_stable() {
    let mut g = Graph::new();
    let x = g
        .literal(vec![1000., 1001., 1002., -5., 0., 5.], vec![2, 3])
        .unwrap();
    let sm = g.softmax(x, 1).unwrap();
    let lse = g.logsumexp(x, 1, false).unwrap();
    let labels = g.leaf("t", vec![2], DType::Int);
    let ce = g.cross_entropy(x, labels).unwrap();
    let oh = g.one_hot(labels, 3).unwrap();
    let mut leaves = Leaves::new();
    leaves.insert(
        labels,
        Value::Int(ArrayD::from_shape_vec(IxDyn(&[2]), vec![2, 0]).unwrap()),
    );
    let r = eval(&g, &leaves, &[sm, lse, ce, oh]);
    let e = |v: f64| v.exp();
    let z = e(-2.) + e(-1.) + 1.;
    assert_close(
        &r[0].index_axis(Axis(0), 0).to_owned().into_dyn(),
        &arr(&[3], &[e(-2.) / z, e(-1.) / z, 1. / z]),
        1e-12,
        1e-15,
        "softmax",
    );
    assert!((r[1][[0]] - (1002. + z.ln())).abs() < 1e-9);
    let lse1 = (e(-10.) + e(-5.) + 1.).ln() + 5.;
    let ce_expected = ((1002. + z.ln() - 1002.) + (lse1 - (-5.))) / 2.;
    assert!(
        (r[2][[]] - ce_expected).abs() < 1e-9,
        "{} vs {}",
        r[2][[]],
        ce_expected
    );
    assert_eq!(r[3], arr(&[2, 3], &[0., 0., 1., 1., 0., 0.]));
}

// ---------------------------------------------------------------- nested derivatives

#[test]
fn grad_of_grad_is_the_second_derivative() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![5], DType::Float);
    let three = g.scalar(3.0);
    let c = g.pow(x, three).unwrap();
    let l = g.sum_all(c).unwrap();
    let g1 = g.grad(l, x).unwrap(); // 3x^2
    let s1 = g.sum_all(g1).unwrap();
    let g2 = g.grad(s1, x).unwrap(); // 6x
    let h = g.hessian(l, x).unwrap(); // diag(6x)
    let mut rng = Rng::new(9);
    let xv = rng.array(&[5], -2.0, 2.0);
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(xv.clone()));
    let r = eval(&g, &leaves, &[g1, g2, h]);
    assert_close(&r[0], &xv.mapv(|v| 3.0 * v * v), 1e-12, 1e-12, "3x^2");
    assert_close(&r[1], &xv.mapv(|v| 6.0 * v), 1e-12, 1e-12, "6x");
    let mut diag = ArrayD::zeros(IxDyn(&[5, 5]));
    for i in 0..5 {
        diag[[i, i]] = 6.0 * xv[i];
    }
    assert_close(&r[2], &diag, 1e-12, 1e-12, "hessian");
}

#[test]
fn hessian_of_quadratic_form_is_symmetric_part() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![4], DType::Float);
    let a = g.leaf("A", vec![4, 4], DType::Float);
    let ax = g.matmul(a, x).unwrap();
    let q = g.matmul(x, ax).unwrap();
    let half = g.scalar(0.5);
    let l = g.mul(half, q).unwrap();
    let h = g.hessian(l, x).unwrap();
    assert_eq!(g.shape(h), &[4, 4]);
    let mut rng = Rng::new(11);
    let av = rng.array(&[4, 4], -1.0, 1.0);
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(rng.array(&[4], -1.0, 1.0)));
    leaves.insert(a, fval(av.clone()));
    let expected = (&av + &av.t()) * 0.5;
    assert_close(
        &eval1(&g, &leaves, h),
        &expected.into_dyn(),
        1e-12,
        1e-12,
        "hessian",
    );
}

#[test]
fn hessian_vector_product_equals_hessian_times_vector() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![3, 2], DType::Float);
    let w = g.leaf("W", vec![2, 4], DType::Float);
    let u = g.leaf("u", vec![3, 2], DType::Float);
    let y = g.matmul(x, w).unwrap();
    let t = g.tanh(y).unwrap();
    let e = g.exp(x).unwrap();
    let se = g.sum_all(e).unwrap();
    let st = g.sum_all(t).unwrap();
    let sq = g.mul(st, st).unwrap();
    let l = g.add(sq, se).unwrap();
    let gx = g.grad(l, x).unwrap();
    let gu = g.mul(gx, u).unwrap();
    let s = g.sum_all(gu).unwrap();
    let hvp = g.grad(s, x).unwrap();
    let h = g.hessian(l, x).unwrap();
    let hu = g.tensordot(h, u, 2).unwrap();
    // forward-over-reverse gives the same
    let fwd = g.jvp(gx, x, u).unwrap();
    let mut rng = Rng::new(12);
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(rng.array(&[3, 2], -1.0, 1.0)));
    leaves.insert(w, fval(rng.array(&[2, 4], -1.0, 1.0)));
    leaves.insert(u, fval(rng.array(&[3, 2], -1.0, 1.0)));
    let r = eval(&g, &leaves, &[hvp, hu, fwd]);
    assert_close(&r[0], &r[1], 1e-10, 1e-12, "hvp vs H u");
    assert_close(&r[2], &r[1], 1e-10, 1e-12, "jvp of grad vs H u");
}

// ---------------------------------------------------------------- the notes' linear layer

struct Linear {
    g: Graph,
    x: NodeId,
    w: NodeId,
    y: NodeId,
    l: NodeId,
    leaves: Leaves,
}

fn linear(n: usize, d: usize, m: usize, seed: u64) -> Linear {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![n, d], DType::Float);
    let w = g.leaf("W", vec![d, m], DType::Float);
    let y = g.matmul(x, w).unwrap();
    let yy = g.mul(y, y).unwrap();
    let l = g.sum_all(yy).unwrap();
    let mut rng = Rng::new(seed);
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(rng.array(&[n, d], -1.0, 1.0)));
    leaves.insert(w, fval(rng.array(&[d, m], -0.1, 0.1)));
    Linear {
        g,
        x,
        w,
        y,
        l,
        leaves,
    }
}

#[test]
fn linear_layer_gradients_follow_the_notes() {
    let Linear {
        mut g,
        x,
        w,
        y,
        l,
        leaves,
    } = linear(2, 3, 4, 20);
    let dx = g.grad(l, x).unwrap();
    let dw = g.grad(l, w).unwrap();
    let dy = g.grad(l, y).unwrap();
    let wt = g.reverse_axes(w).unwrap();
    let dx_formula = g.matmul(dy, wt).unwrap();
    let xt = g.reverse_axes(x).unwrap();
    let dw_formula = g.matmul(xt, dy).unwrap();
    let r = eval(&g, &leaves, &[dx, dx_formula, dw, dw_formula, dy, y]);
    assert_close(&r[0], &r[1], 1e-12, 1e-14, "dx = dy W^T");
    assert_close(&r[2], &r[3], 1e-12, 1e-14, "dW = x^T dy");
    assert_close(&r[4], &(&r[5] * 2.0), 1e-12, 1e-14, "dy = 2y");
}

#[test]
fn linear_layer_jacobians_follow_the_notes() {
    let Linear {
        mut g,
        x,
        w,
        y,
        leaves,
        ..
    } = linear(2, 3, 4, 21);
    let j = g.jacobian(y, x).unwrap();
    assert_eq!(g.shape(j), &[2, 4, 2, 3]);
    assert_eq!(g.jacobian_elements(y, x), 48);
    let jw = g.jacobian(y, w).unwrap();
    assert_eq!(g.shape(jw), &[2, 4, 3, 4]);
    let z = g.tanh(y).unwrap();
    let jzy = g.jacobian(z, y).unwrap();
    let jyx = g.jacobian(y, x).unwrap();
    let chain = g.tensordot(jzy, jyx, 2).unwrap();
    let jzx = g.jacobian(z, x).unwrap();
    let r = eval(&g, &leaves, &[j, jw, chain, jzx]);
    let xv = leaves[&x].as_float().unwrap();
    let wv = leaves[&w].as_float().unwrap();
    // dy[i,j]/dx[k,l] = delta_ik W[l,j];  dy[i,j]/dW[k,l] = x[i,k] delta_jl
    let mut ex = ArrayD::zeros(IxDyn(&[2, 4, 2, 3]));
    let mut ew = ArrayD::zeros(IxDyn(&[2, 4, 3, 4]));
    for i in 0..2 {
        for jj in 0..4 {
            for l in 0..3 {
                ex[[i, jj, i, l]] = wv[[l, jj]];
                ew[[i, jj, l, jj]] = xv[[i, l]];
            }
        }
    }
    assert_close(&r[0], &ex, 0.0, 0.0, "jacobian(y, x)");
    assert_close(&r[1], &ew, 0.0, 0.0, "jacobian(y, W)");
    assert_close(
        &r[2],
        &r[3],
        1e-12,
        1e-14,
        "chain rule with generalized jacobians",
    );
}

#[test]
fn jacobian_in_both_modes_matches_finite_differences() {
    // x smaller than y (columns, JVP) and larger (rows, VJP)
    for (xs, ys_outer) in [(vec![2], vec![5]), (vec![6], vec![2])] {
        let mut g = Graph::new();
        let x = g.leaf("x", xs.clone(), DType::Float);
        let a = g.leaf("a", vec![ys_outer[0], xs[0]], DType::Float);
        let ax = g.matmul(a, x).unwrap();
        let s = g.sin(ax).unwrap();
        let y = g.mul(s, ax).unwrap();
        let j = g.jacobian(y, x).unwrap();
        let mut rng = Rng::new(30);
        let mut leaves = Leaves::new();
        let x0 = rng.array(&xs, -1.0, 1.0);
        leaves.insert(x, fval(x0.clone()));
        leaves.insert(a, fval(rng.array(&[ys_outer[0], xs[0]], -1.0, 1.0)));
        let jv = eval1(&g, &leaves, j);
        let eps = 1e-6;
        for k in 0..xs[0] {
            let mut lp = leaves.clone();
            let mut xp = x0.clone();
            xp[[k]] += eps;
            lp.insert(x, fval(xp));
            let yp = eval1(&g, &lp, y);
            let mut xm = x0.clone();
            xm[[k]] -= eps;
            lp.insert(x, fval(xm));
            let ym = eval1(&g, &lp, y);
            let col = (&yp - &ym) / (2.0 * eps);
            let got = jv.index_axis(Axis(1), k).to_owned();
            assert_close(&got, &col, 1e-6, 1e-8, "jacobian column");
        }
    }
}

// ---------------------------------------------------------------- reverse-mode semantics

#[test]
fn grad_wrt_intermediate_equals_finite_difference_via_overrides() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![3], DType::Float);
    let y = g.exp(x).unwrap();
    let s = g.sin(y).unwrap();
    let l = g.sum_all(s).unwrap();
    let gy = g.grad(l, y).unwrap();
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(arr(&[3], &[0.1, -0.4, 0.7])));
    let y0 = eval1(&g, &leaves, y);
    let gyv = eval1(&g, &leaves, gy);
    assert_close(&gyv, &y0.mapv(f64::cos), 1e-12, 1e-14, "dL/dy = cos(y)");
    // perturb the intermediate binding y through overrides; x is then not even needed
    let eps = 1e-6;
    let empty = Leaves::new();
    for k in 0..3 {
        let mut yp = y0.clone();
        yp[[k]] += eps;
        let mut ym = y0.clone();
        ym[[k]] -= eps;
        let lp = evaluate(&g, &empty, &[l], &HashMap::from([(y, fval(yp))])).unwrap();
        let lm = evaluate(&g, &empty, &[l], &HashMap::from([(y, fval(ym))])).unwrap();
        let fd = (lp[0].as_float().unwrap()[[]] - lm[0].as_float().unwrap()[[]]) / (2.0 * eps);
        assert!((fd - gyv[[k]]).abs() < 1e-8);
    }
}

#[test]
fn grad_accumulates_over_multiple_uses_and_independence_gives_zeros() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![4], DType::Float);
    let z = g.leaf("z", vec![2, 2], DType::Float);
    let xx = g.mul(x, x).unwrap();
    let a = g.sum_all(xx).unwrap();
    let b = g.sum_all(x).unwrap();
    let l = g.add(a, b).unwrap();
    let gx = g.grad(l, x).unwrap();
    let gz = g.grad(l, z).unwrap();
    let later = g.exp(x).unwrap();
    let glater = g.grad(l, later).unwrap();
    assert_eq!(g.shape(gz), &[2, 2]);
    let mut leaves = Leaves::new();
    let xv = arr(&[4], &[1., -2., 0.5, 3.]);
    leaves.insert(x, fval(xv.clone()));
    let r = eval(&g, &leaves, &[gx, gz, glater]);
    assert_eq!(r[0], xv.mapv(|v| 2. * v + 1.));
    assert_eq!(r[1], ArrayD::<f64>::zeros(IxDyn(&[2, 2])));
    assert_eq!(r[2], ArrayD::<f64>::zeros(IxDyn(&[4])));
}

#[test]
fn reverse_sweep_is_shared_between_requests() {
    let Linear {
        mut g, x, w, y, l, ..
    } = linear(2, 3, 4, 22);
    let n0 = g.len();
    let dx = g.grad(l, x).unwrap();
    let n1 = g.len();
    let dw = g.grad(l, w).unwrap();
    let dy = g.grad(l, y).unwrap();
    let n2 = g.len();
    assert!(n1 > n0);
    assert!(n2 - n1 < n1 - n0, "second request built {} nodes", n2 - n1);
    assert_eq!(n2, n1, "the cached sweep already holds every adjoint");
    assert_ne!(dx, dw);
    assert_ne!(dw, dy);
    // requesting the same gradient again returns the same node
    assert_eq!(g.grad(l, x).unwrap(), dx);
}

#[test]
fn demand_driven_evaluation_skips_unneeded_nodes() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![2], DType::Float);
    let unused = g.leaf("unused", vec![2], DType::Float);
    let y = g.exp(x).unwrap();
    let _other = g.log(unused).unwrap();
    let z = g.sin(y).unwrap();
    // no value for `unused`, nor for `x` when y is overridden
    let r = evaluate(
        &g,
        &Leaves::new(),
        &[z],
        &HashMap::from([(y, fval(arr(&[2], &[0.0, 1.0])))]),
    )
    .unwrap();
    assert_close(
        r[0].as_float().unwrap(),
        &arr(&[2], &[0.0, 1f64.sin()]),
        1e-15,
        0.0,
        "sin",
    );
}

#[test]
fn evaluates_in_f32_too() {
    let Linear {
        mut g,
        x,
        w,
        l,
        leaves,
        ..
    } = linear(3, 4, 5, 23);
    let dx = g.grad(l, x).unwrap();
    let to32 = |v: &Value<f64>| Value::<f32>::Float(v.as_float().unwrap().mapv(|e| e as f32));
    let l32: HashMap<NodeId, Value<f32>> = leaves.iter().map(|(k, v)| (*k, to32(v))).collect();
    let r32 = evaluate(&g, &l32, &[dx], &HashMap::new()).unwrap();
    let r64 = eval1(&g, &leaves, dx);
    let got = r32[0].as_float().unwrap().mapv(|e| e as f64);
    assert_close(&got, &r64, 1e-4, 1e-5, "f32 vs f64");
    let _ = w;
}

// ---------------------------------------------------------------- determinism & size

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool")
        .install(f)
}

#[test]
fn results_are_bit_identical_for_any_thread_count() {
    let mut g = Graph::new();
    let a = g.leaf("a", vec![256, 300], DType::Float);
    let b = g.leaf("b", vec![300, 200], DType::Float);
    let v = g.leaf("v", vec![1_000_000], DType::Float);
    let c = g.matmul(a, b).unwrap();
    let sv = g.sum_all(v).unwrap();
    let mv = g.max(v, &[0], false).unwrap();
    let v2 = g.reshape(v, vec![1000, 1000]).unwrap();
    let s0 = g.sum(v2, &[0], false).unwrap();
    let t = g.tanh(c).unwrap();
    let l = g.sum_all(t).unwrap();
    let da = g.grad(l, a).unwrap();
    let db = g.grad(l, b).unwrap();
    let mut rng = Rng::new(40);
    let mut leaves = Leaves::new();
    leaves.insert(a, fval(rng.array(&[256, 300], -1.0, 1.0)));
    leaves.insert(b, fval(rng.array(&[300, 200], -1.0, 1.0)));
    leaves.insert(v, fval(rng.array(&[1_000_000], -1.0, 1.0)));
    let outs = [c, sv, mv, s0, l, da, db];
    let r1 = in_pool(1, || eval(&g, &leaves, &outs));
    let r2 = in_pool(2, || eval(&g, &leaves, &outs));
    let r4 = in_pool(4, || eval(&g, &leaves, &outs));
    for k in 0..outs.len() {
        let bits = |r: &Vec<ArrayD<f64>>| r[k].iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert!(
            bits(&r1) == bits(&r2),
            "output {k} differs between 1 and 2 threads"
        );
        assert!(
            bits(&r1) == bits(&r4),
            "output {k} differs between 1 and 4 threads"
        );
    }
    // the sum is also right
    let exact: f64 = leaves[&v].as_float().unwrap().iter().sum();
    assert!((r1[1][[]] - exact).abs() < 1e-8);
}

#[test]
fn medium_linear_layer_smoke() {
    let Linear {
        mut g,
        x,
        w,
        y,
        l,
        leaves,
    } = linear(64, 512, 512, 50);
    let dx = g.grad(l, x).unwrap();
    let dw = g.grad(l, w).unwrap();
    let r = eval(&g, &leaves, &[dx, dw, y]);
    assert_eq!(r[0].shape(), &[64, 512]);
    assert_eq!(r[1].shape(), &[512, 512]);
    let xv = leaves[&x]
        .as_float()
        .unwrap()
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .to_owned();
    let wv = leaves[&w]
        .as_float()
        .unwrap()
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .to_owned();
    let dy = r[2]
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .mapv(|v| 2.0 * v);
    assert_close(&r[0], &dy.dot(&wv.t()).into_dyn(), 1e-10, 1e-10, "dx");
    assert_close(&r[1], &xv.t().dot(&dy).into_dyn(), 1e-10, 1e-10, "dW");
}

// ---------------------------------------------------------------- errors

#[test]
fn errors_are_returned_not_panicked() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![2, 3], DType::Float);
    let t = g.leaf("t", vec![2], DType::Int);
    let y = g.exp(x).unwrap();
    let s = g.sum_all(y).unwrap();
    // builder errors
    let v4 = g.leaf("v4", vec![4], DType::Float);
    assert!(matches!(
        g.add(x, v4),
        Err(GraphError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        g.matmul(x, x),
        Err(GraphError::ShapeMismatch { .. })
    ));
    let sc = g.scalar(1.0);
    assert!(g.matmul(sc, x).is_err());
    assert!(matches!(
        g.sum(x, &[2], false),
        Err(GraphError::InvalidArgument { .. })
    ));
    assert!(matches!(
        g.sum(x, &[1, 0], false),
        Err(GraphError::InvalidArgument { .. })
    ));
    assert!(g.transpose(x, &[0, 0]).is_err());
    assert!(g.reshape(x, vec![4]).is_err());
    assert!(g.broadcast_to(x, vec![3, 3]).is_err());
    assert!(g.literal(vec![1.0, 2.0], vec![3]).is_err());
    assert!(matches!(g.exp(t), Err(GraphError::DTypeMismatch { .. })));
    assert!(g.one_hot(x, 3).is_err());
    assert!(g.softmax(x, 2).is_err());
    assert!(g.tensordot(x, x, 1).is_err());
    assert!(g.cross_entropy(x, x).is_err());
    assert!(g.mse(x, v4).is_err());
    assert!(matches!(
        g.exp(NodeId(9999)),
        Err(GraphError::UnknownNode(_))
    ));
    // derivative errors
    assert!(matches!(
        g.grad(s, t),
        Err(GraphError::IntDerivative { .. })
    ));
    assert!(matches!(
        g.jacobian(y, t),
        Err(GraphError::IntDerivative { .. })
    ));
    assert!(matches!(
        g.grad(y, x),
        Err(GraphError::NonScalarOutput { .. })
    ));
    assert!(g.vjp(y, x, v4).is_err());
    assert!(g.jvp(y, x, v4).is_err());
    let j = g.jacobian(y, x).unwrap();
    let sj = g.sum_all(j).unwrap();
    assert!(matches!(g.grad(sj, x), Err(GraphError::Unsupported { .. })));
    let u = g.constant(1.0, vec![2, 3]);
    assert!(matches!(
        g.jvp(sj, x, u),
        Err(GraphError::Unsupported { .. })
    ));
    // ...while a gradient not flowing through the jacobian is still fine
    let both = g.add(sj, s).unwrap();
    assert!(g.grad(both, j).is_ok());
    // evaluation errors
    let none = Leaves::new();
    let no = HashMap::new();
    assert!(matches!(
        evaluate::<f64>(&g, &none, &[s], &no),
        Err(EvalError::MissingLeaf { .. })
    ));
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(arr(&[3, 2], &[0.; 6])));
    assert!(matches!(
        evaluate(&g, &leaves, &[s], &no),
        Err(EvalError::WrongShape { .. })
    ));
    leaves.insert(x, Value::Int(ArrayD::zeros(IxDyn(&[2, 3]))));
    assert!(matches!(
        evaluate(&g, &leaves, &[s], &no),
        Err(EvalError::WrongDType { .. })
    ));
    leaves.insert(x, fval(arr(&[2, 3], &[0.; 6])));
    let bad = HashMap::from([(y, fval(arr(&[1], &[0.])))]);
    assert!(matches!(
        evaluate(&g, &leaves, &[s], &bad),
        Err(EvalError::WrongShape { .. })
    ));
    assert!(matches!(
        evaluate(&g, &leaves, &[NodeId(9999)], &no),
        Err(EvalError::UnknownNode(_))
    ));
    let oh = g.one_hot(t, 3).unwrap();
    leaves.insert(
        t,
        Value::Int(ArrayD::from_shape_vec(IxDyn(&[2]), vec![1, 3]).unwrap()),
    );
    assert!(matches!(
        evaluate(&g, &leaves, &[oh], &no),
        Err(EvalError::LabelOutOfRange { .. })
    ));
    // errors display
    let e = g.grad(s, t).unwrap_err();
    assert!(e.to_string().contains("int"));
}

#[test]
fn jacobian_edge_cases() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![2, 2], DType::Float);
    let a = g.leaf("a", vec![2, 2], DType::Float);
    let id = g.jacobian(x, x).unwrap();
    let ax = g.mul(a, x).unwrap();
    let l = g.sum_all(ax).unwrap();
    let h = g.hessian(l, x).unwrap(); // linear in x: zero hessian
    let ja = g.jacobian(a, x).unwrap(); // independent: zeros
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(arr(&[2, 2], &[1., 2., 3., 4.])));
    leaves.insert(a, fval(arr(&[2, 2], &[5., 6., 7., 8.])));
    let r = eval(&g, &leaves, &[id, h, ja]);
    let mut eye = ArrayD::zeros(IxDyn(&[2, 2, 2, 2]));
    for i in 0..2 {
        for j in 0..2 {
            eye[[i, j, i, j]] = 1.0;
        }
    }
    assert_eq!(r[0], eye);
    assert!(r[1].iter().all(|&v| v == 0.0));
    assert!(r[2].iter().all(|&v| v == 0.0));
    // the jacobian is bit-identical across thread counts
    let sx = g.sin(x).unwrap();
    let y = g.matmul(sx, a).unwrap();
    let j = g.jacobian(y, x).unwrap();
    let r1 = in_pool(1, || eval1(&g, &leaves, j));
    let r2 = in_pool(2, || eval1(&g, &leaves, j));
    assert_eq!(r1, r2);
}

// ---------------------------------------------------------------- issue 10, part A

#[test]
fn select_slice_take_gather_match_finite_differences() {
    // where(c, a, b): the derivative flows to the chosen side, with broadcasting
    let mask = arr(&[3, 1], &[1.0, 0.0, 1.0]);
    check_fn(
        "select",
        900,
        &[inp(&[3, 4]), inp(&[4])],
        move |g, xs, extra| {
            let c = g.leaf("c", vec![3, 1], DType::Float);
            extra.push((c, fval(mask.clone())));
            g.select(c, xs[0], xs[1])
        },
    );
    // a strided window and its adjoint
    check_fn("slice", 901, &[inp(&[5, 4, 3])], |g, xs, _| {
        g.slice(xs[0], vec![(1, 2, 2), (0, 4, 1), (2, 1, 1)])
    });
    check_fn("unslice", 902, &[inp(&[2, 3])], |g, xs, _| {
        g.unslice(xs[0], vec![(1, 2, 2), (0, 3, 1)], vec![5, 3])
    });
    // take and gather with int indices (including repeats)
    let idx = Value::<f64>::int(&[2, 2], vec![0, 2, 2, 1]).unwrap();
    let idx2 = idx.clone();
    check_fn("take_axis0", 903, &[inp(&[3, 4])], move |g, xs, extra| {
        let i = g.leaf("i", vec![2, 2], DType::Int);
        extra.push((i, idx.clone()));
        g.take(xs[0], i, 0)
    });
    check_fn(
        "take_axis1",
        904,
        &[inp(&[2, 3, 2])],
        move |g, xs, extra| {
            let i = g.leaf("i", vec![2, 2], DType::Int);
            extra.push((i, idx2.clone()));
            g.take(xs[0], i, 1)
        },
    );
    let labels = Value::<f64>::int(&[4], vec![1, 0, 2, 2]).unwrap();
    check_fn("gather_last", 905, &[inp(&[4, 3])], move |g, xs, extra| {
        let i = g.leaf("i", vec![4], DType::Int);
        extra.push((i, labels.clone()));
        g.gather(xs[0], i, 1)
    });
    let rows = Value::<f64>::int(&[3], vec![3, 0, 1]).unwrap();
    check_fn("gather_first", 906, &[inp(&[4, 3])], move |g, xs, extra| {
        let i = g.leaf("i", vec![3], DType::Int);
        extra.push((i, rows.clone()));
        g.gather(xs[0], i, 0)
    });
}

#[test]
fn select_never_multiplies_infinity_by_zero() {
    let mut g = Graph::new();
    let c = g.leaf("c", vec![3], DType::Float);
    let a = g.leaf("a", vec![3], DType::Float);
    let minf = g.scalar(f64::NEG_INFINITY);
    let y = g.select(c, a, minf).unwrap();
    let mut leaves: Leaves = HashMap::new();
    leaves.insert(c, fval(arr(&[3], &[1.0, 0.0, 1.0])));
    leaves.insert(a, fval(arr(&[3], &[1.0, 2.0, 3.0])));
    let out = eval1(&g, &leaves, y);
    assert_eq!(out.as_slice().unwrap(), &[1.0, f64::NEG_INFINITY, 3.0]);
    let t = g.leaf("t", vec![3], DType::Int);
    let f = g.int_to_float(t).unwrap();
    leaves.insert(t, Value::int(&[3], vec![2, -1, 0]).unwrap());
    assert_eq!(eval1(&g, &leaves, f).as_slice().unwrap(), &[2.0, -1.0, 0.0]);
}

// ---------------------------------------------------------------- issue 10

#[test]
fn new_unary_ops_and_activations_match_finite_differences() {
    type F = fn(&mut Graph, NodeId) -> B;
    let ops: [(&str, F); 14] = [
        ("erf", |g, x| g.erf(x)),
        ("log1p", |g, x| g.log1p(x)),
        ("expm1", |g, x| g.expm1(x)),
        ("softplus", |g, x| g.softplus(x)),
        ("floor", |g, x| g.floor(x)),
        ("ceil", |g, x| g.ceil(x)),
        ("round", |g, x| g.round(x)),
        ("silu", |g, x| g.silu(x)),
        ("gelu", |g, x| g.gelu(x, false)),
        ("gelu_tanh", |g, x| g.gelu(x, true)),
        ("leaky_relu", |g, x| g.leaky_relu(x, 0.2)),
        ("elu", |g, x| g.elu(x, 1.5)),
        ("norm", |g, x| g.norm(x, &[0], false)),
        ("var", |g, x| g.var(x, &[0], true, 1.0)),
    ];
    let mut rng = Rng::new(11);
    for (k, (name, f)) in ops.iter().enumerate() {
        for trial in 0..2 {
            let mut shape = rng.shape(3, 4);
            if shape.is_empty() || shape[0] < 2 {
                shape.insert(0, 3);
            }
            let i = In {
                shape,
                lo: if *name == "log1p" { -0.9 } else { -3.0 },
                hi: 3.0,
            };
            check_fn(name, (900 + k * 10 + trial) as u64, &[i], |g, xs, _| {
                f(g, xs[0])
            });
        }
    }
}

#[test]
fn new_ops_match_reference_values() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![6], DType::Float);
    let lo = g.scalar(-0.5);
    let hi = g.scalar(0.5);
    let outs = [
        g.erf(x).unwrap(),
        g.softplus(x).unwrap(),
        g.round(x).unwrap(),
        g.leaky_relu(x, 0.1).unwrap(),
        g.elu(x, 2.0).unwrap(),
        g.clip(x, lo, hi).unwrap(),
        g.gelu(x, false).unwrap(),
    ];
    let xs = [-2.5, -0.5, 0.0, 0.5, 1.5, 40.0];
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(arr(&[6], &xs)));
    let got = eval(&g, &leaves, &outs);
    let erf: Vec<f64> = vec![
        -0.999_593_047_982_555,
        -0.520_499_877_813_046_5,
        0.0,
        0.520_499_877_813_046_5,
        0.966_105_146_475_310_7,
        1.0,
    ];
    assert_close(&got[0], &arr(&[6], &erf), 1e-15, 1e-15, "erf");
    let sp: Vec<f64> = xs.iter().map(|v: &f64| v.exp().ln_1p()).collect();
    assert_close(&got[1], &arr(&[6], &sp), 1e-12, 1e-14, "softplus");
    assert_close(
        &got[2],
        &arr(&[6], &[-2.0, -0.0, 0.0, 0.0, 2.0, 40.0]),
        0.0,
        0.0,
        "round",
    );
    assert_close(
        &got[3],
        &arr(&[6], &[-0.25, -0.05, 0.0, 0.5, 1.5, 40.0]),
        1e-15,
        0.0,
        "leaky",
    );
    let e: Vec<f64> = xs
        .iter()
        .map(|&v| if v > 0.0 { v } else { 2.0 * v.exp_m1() })
        .collect();
    assert_close(&got[4], &arr(&[6], &e), 1e-15, 0.0, "elu");
    assert_close(
        &got[5],
        &arr(&[6], &[-0.5, -0.5, 0.0, 0.5, 0.5, 0.5]),
        0.0,
        0.0,
        "clip",
    );
    let ge: Vec<f64> = xs
        .iter()
        .zip(&erf)
        .map(|(&v, &e)| {
            0.5 * v
                * (1.0
                    + if v == 40.0 {
                        1.0
                    } else {
                        libm_erf_scaled(v, e)
                    })
        })
        .collect();
    assert_close(&got[6], &arr(&[6], &ge), 1e-12, 1e-14, "gelu");
}

/// erf(x / sqrt 2) from known values at the test points.
fn libm_erf_scaled(v: f64, _erf_v: f64) -> f64 {
    let known = [
        (-2.5, -0.987_580_669_348_447_7),
        (-0.5, -0.382_924_922_548_026_2),
        (0.0, 0.0),
        (0.5, 0.382_924_922_548_026_2),
        (1.5, 0.866_385_597_462_284),
    ];
    known.iter().find(|(x, _)| *x == v).expect("a test point").1
}

#[test]
fn clip_derivative_is_one_inside_with_bounds_included() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![5], DType::Float);
    let lo = g.scalar(-0.5);
    let hi = g.scalar(0.5);
    let y = g.clip(x, lo, hi).unwrap();
    let s = g.sum_all(y).unwrap();
    let d = g.grad(s, x).unwrap();
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(arr(&[5], &[-1.0, -0.5, 0.0, 0.5, 1.0])));
    let got = eval1(&g, &leaves, d);
    assert_close(
        &got,
        &arr(&[5], &[0.0, 1.0, 1.0, 1.0, 0.0]),
        0.0,
        0.0,
        "clip'",
    );
    // clip with tensor bounds: the derivative goes to the bound that is the result
    check_fn(
        "clip",
        950,
        &[inp(&[3, 4]), inp(&[4]), inp(&[3, 1])],
        |g, xs, _| {
            let lo = g.abs(xs[1])?;
            let lo = g.neg(lo)?;
            let hi = g.abs(xs[2])?;
            g.clip(xs[0], lo, hi)
        },
    );
}

#[test]
fn argmax_argmin_accuracy_take_the_first_among_ties() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![3, 4], DType::Float);
    let t = g.leaf("t", vec![3], DType::Int);
    let am = g.arg_reduce(x, 1, true).unwrap();
    let an = g.arg_reduce(x, 0, false).unwrap();
    let acc = g.accuracy(x, t).unwrap();
    let mut leaves = Leaves::new();
    leaves.insert(
        x,
        fval(arr(
            &[3, 4],
            &[
                1.0, 3.0, 3.0, 0.0, 5.0, 5.0, 5.0, 5.0, -1.0, -2.0, -1.0, 0.0,
            ],
        )),
    );
    leaves.insert(t, Value::int(&[3], vec![1, 1, 3]).unwrap());
    let vals = evaluate::<f64>(&g, &leaves, &[am, an, acc], &HashMap::new()).unwrap();
    assert_eq!(
        vals[0]
            .as_int()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [1, 0, 3]
    );
    assert_eq!(
        vals[1]
            .as_int()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [2, 2, 2, 0]
    );
    let a = vals[2].as_float().unwrap().first().copied().unwrap();
    assert!((a - 2.0 / 3.0).abs() < 1e-15, "accuracy {a}");
    // derivative zero
    let s = g.grad(acc, x).unwrap();
    let z = eval1(&g, &leaves, s);
    assert!(z.iter().all(|v| *v == 0.0));
}

#[test]
fn concat_stack_and_triangles_match_finite_differences() {
    check_fn(
        "concat",
        960,
        &[inp(&[2, 3]), inp(&[2, 1]), inp(&[2, 4])],
        |g, xs, _| g.concat(xs, 1),
    );
    check_fn("concat0", 961, &[inp(&[1, 3]), inp(&[2, 3])], |g, xs, _| {
        g.concat(xs, 0)
    });
    check_fn("stack", 962, &[inp(&[2, 3]), inp(&[2, 3])], |g, xs, _| {
        g.stack(xs, 2)
    });
    check_fn("narrow", 963, &[inp(&[4, 5])], |g, xs, _| {
        // narrow is concat's VJP; its own VJP is a concat with zeros
        let c = g.concat(&[xs[0], xs[0]], 1)?;
        g.narrow(c, 1, 3, 4)
    });
    check_fn("tril", 964, &[inp(&[2, 3, 4])], |g, xs, _| {
        g.triangle(xs[0], -1, false)
    });
    check_fn("triu", 965, &[inp(&[3, 3])], |g, xs, _| {
        g.triangle(xs[0], 1, true)
    });
    let mut g = Graph::new();
    let x = g.leaf("x", vec![3, 3], DType::Float);
    let l = g.triangle(x, 0, false).unwrap();
    let e = g.eye(3).unwrap();
    let r = g.arange(4).unwrap();
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(arr(&[3, 3], &[1., 2., 3., 4., 5., 6., 7., 8., 9.])));
    let vals = evaluate::<f64>(&g, &leaves, &[l, e, r], &HashMap::new()).unwrap();
    assert_close(
        vals[0].as_float().unwrap(),
        &arr(&[3, 3], &[1., 0., 0., 4., 5., 0., 7., 8., 9.]),
        0.0,
        0.0,
        "tril",
    );
    assert_close(
        vals[1].as_float().unwrap(),
        &arr(&[3, 3], &[1., 0., 0., 0., 1., 0., 0., 0., 1.]),
        0.0,
        0.0,
        "eye",
    );
    assert_eq!(
        vals[2]
            .as_int()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
}

fn win(k: [usize; 2], s: [usize; 2], d: [usize; 2], lo: [usize; 2], hi: [usize; 2]) -> Window {
    Window {
        size: k,
        stride: s,
        dilation: d,
        pad_lo: lo,
        pad_hi: hi,
    }
}

/// A direct (loop) convolution in f64, the reference for the im2col kernel.
fn conv_reference(x: &ArrayD<f64>, w: &ArrayD<f64>, wn: &Window) -> ArrayD<f64> {
    let (b, h, ww, c) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let o = w.shape()[3];
    let oh = wn.out_len(0, h).unwrap();
    let ow = wn.out_len(1, ww).unwrap();
    let mut out = ArrayD::zeros(IxDyn(&[b, oh, ow, o]));
    for n in 0..b {
        for y in 0..oh {
            for xo in 0..ow {
                for ki in 0..wn.size[0] {
                    for kj in 0..wn.size[1] {
                        let hi = (y * wn.stride[0] + ki * wn.dilation[0]) as isize
                            - wn.pad_lo[0] as isize;
                        let wi = (xo * wn.stride[1] + kj * wn.dilation[1]) as isize
                            - wn.pad_lo[1] as isize;
                        if hi < 0 || wi < 0 || hi >= h as isize || wi >= ww as isize {
                            continue;
                        }
                        for ch in 0..c {
                            for oo in 0..o {
                                out[[n, y, xo, oo].as_slice()] += x
                                    [[n, hi as usize, wi as usize, ch].as_slice()]
                                    * w[[ki, kj, ch, oo].as_slice()];
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Odd sizes, strides where (H + 2p - k) % s != 0, dilation, SAME with an even
/// kernel (extra padding at the end), 1x1.
fn conv_cases() -> Vec<(Vec<usize>, Vec<usize>, Window)> {
    vec![
        (
            vec![2, 5, 7, 3],
            vec![3, 3, 3, 2],
            win([3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
        ),
        (
            vec![1, 7, 6, 2],
            vec![3, 2, 2, 3],
            win([3, 2], [2, 3], [1, 1], [1, 0], [1, 0]),
        ),
        (
            vec![2, 7, 7, 2],
            vec![2, 3, 2, 2],
            win([2, 3], [1, 2], [2, 2], [0, 1], [0, 1]),
        ),
        // SAME, kernel 4, stride 2 on H = 5: out 3, total padding 3 = 1 + 2
        (
            vec![1, 5, 6, 2],
            vec![4, 2, 2, 3],
            win([4, 2], [2, 1], [1, 1], [1, 0], [2, 1]),
        ),
        (
            vec![3, 4, 3, 5],
            vec![1, 1, 5, 2],
            win([1, 1], [1, 1], [1, 1], [0, 0], [0, 0]),
        ),
    ]
}

#[test]
fn conv2d_matches_a_direct_loop_and_finite_differences() {
    let mut rng = Rng::new(77);
    for (k, (xs, ws, wn)) in conv_cases().into_iter().enumerate() {
        let mut g = Graph::new();
        let x = g.leaf("x", xs.clone(), DType::Float);
        let w = g.leaf("w", ws.clone(), DType::Float);
        let y = g.conv2d(x, w, &wn).unwrap();
        let (xv, wv) = (rng.array(&xs, -1.0, 1.0), rng.array(&ws, -1.0, 1.0));
        let mut leaves = Leaves::new();
        leaves.insert(x, fval(xv.clone()));
        leaves.insert(w, fval(wv.clone()));
        let got = eval1(&g, &leaves, y);
        assert_close(&got, &conv_reference(&xv, &wv, &wn), 1e-12, 1e-12, "conv2d");
        let wn2 = wn.clone();
        check_fn(
            "conv2d",
            1000 + k as u64,
            &[inp(&xs), inp(&ws)],
            move |g, v, _| g.conv2d(v[0], v[1], &wn2),
        );
        // second order: the gradients are themselves differentiated (their rules)
        let wn3 = wn.clone();
        check_fn(
            "conv2d_grads",
            1100 + k as u64,
            &[inp(&xs), inp(&ws)],
            move |g, v, _| {
                let y = g.conv2d(v[0], v[1], &wn3)?;
                let y2 = g.mul(y, y)?;
                let l = g.sum_all(y2)?;
                let dw = g.grad(l, v[1])?;
                let dx = g.grad(l, v[0])?;
                let a = g.sum_all(dw)?;
                let dx2 = g.mul(dx, dx)?;
                let b = g.sum_all(dx2)?;
                g.add(a, b)
            },
        );
    }
}

/// Convolutions big enough to be cut into several row tiles and image groups
/// (the last group short): the output against the direct loop, and both
/// gradients by the adjoint identity of a bilinear map, exact up to rounding:
/// for L = sum(conv(x, w) * G), sum(x * dL/dx) = sum(w * dL/dw) = L.
#[test]
fn conv2d_in_many_tiles_matches_the_loop_and_its_adjoints() {
    let mut rng = Rng::new(78);
    let cases = [
        // 13 images of 8x8: 4 row tiles, input gradient in groups of 3 images
        (
            vec![13, 8, 8, 8],
            vec![3, 3, 8, 64],
            win([3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
        ),
        // images larger than a tile, strided
        (
            vec![3, 40, 36, 4],
            vec![3, 3, 4, 48],
            win([3, 3], [2, 1], [1, 1], [1, 1], [1, 1]),
        ),
    ];
    for (xs, ws, wn) in cases {
        let mut g = Graph::new();
        let x = g.leaf("x", xs.clone(), DType::Float);
        let w = g.leaf("w", ws.clone(), DType::Float);
        let y = g.conv2d(x, w, &wn).unwrap();
        let ys = g.shape(y).to_vec();
        let gl = g.leaf("G", ys.clone(), DType::Float);
        let yg = g.mul(y, gl).unwrap();
        let l = g.sum_all(yg).unwrap();
        let dx = g.grad(l, x).unwrap();
        let dw = g.grad(l, w).unwrap();
        let (xv, wv, gv) = (
            rng.array(&xs, -1.0, 1.0),
            rng.array(&ws, -1.0, 1.0),
            rng.array(&ys, -1.0, 1.0),
        );
        let mut leaves = Leaves::new();
        leaves.insert(x, fval(xv.clone()));
        leaves.insert(w, fval(wv.clone()));
        leaves.insert(gl, fval(gv));
        let out = eval(&g, &leaves, &[y, l, dx, dw]);
        assert_close(
            &out[0],
            &conv_reference(&xv, &wv, &wn),
            1e-12,
            1e-12,
            "conv2d",
        );
        let lv = out[1].iter().next().copied().unwrap();
        let xdx: f64 = xv.iter().zip(out[2].iter()).map(|(a, b)| a * b).sum();
        let wdw: f64 = wv.iter().zip(out[3].iter()).map(|(a, b)| a * b).sum();
        let tol = 1e-10 * (1.0 + lv.abs());
        assert!(
            (xdx - lv).abs() < tol,
            "{xs:?}: sum(x * dx) = {xdx}, L = {lv}"
        );
        assert!(
            (wdw - lv).abs() < tol,
            "{xs:?}: sum(w * dw) = {wdw}, L = {lv}"
        );
    }
}

#[test]
fn conv1d_matches_finite_differences() {
    check_fn(
        "conv1d",
        1200,
        &[inp(&[2, 9, 3]), inp(&[3, 3, 2])],
        |g, v, _| g.conv1d(v[0], v[1], 2, (1, 1), 2),
    );
    check_fn(
        "conv1d_batchless",
        1201,
        &[inp(&[5, 2]), inp(&[2, 2, 4])],
        |g, v, _| g.conv1d(v[0], v[1], 1, (0, 1), 1),
    );
}

#[test]
fn conv2d_is_bit_identical_for_any_thread_count() {
    let wn = win([3, 3], [1, 1], [1, 1], [1, 1], [1, 1]);
    let (xs, ws) = (vec![8, 20, 20, 8], vec![3, 3, 8, 16]);
    let mut g = Graph::new();
    let x = g.leaf("x", xs.clone(), DType::Float);
    let w = g.leaf("w", ws.clone(), DType::Float);
    let y = g.conv2d(x, w, &wn).unwrap();
    let y2 = g.mul(y, y).unwrap();
    let l = g.sum_all(y2).unwrap();
    let dx = g.grad(l, x).unwrap();
    let dw = g.grad(l, w).unwrap();
    let mut rng = Rng::new(5);
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(rng.array(&xs, -1.0, 1.0)));
    leaves.insert(w, fval(rng.array(&ws, -1.0, 1.0)));
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| eval(&g, &leaves, &[y, dx, dw]))
    };
    let (a, b) = (run(1), run(3));
    for (p, q) in a.iter().zip(&b) {
        assert!(p
            .iter()
            .zip(q.iter())
            .all(|(u, v)| u.to_bits() == v.to_bits()));
    }
}

#[test]
fn pooling_matches_finite_differences() {
    let cases = [
        (
            vec![2, 5, 7, 3],
            win([2, 2], [2, 2], [1, 1], [0, 0], [0, 0]),
        ),
        (
            vec![1, 7, 6, 2],
            win([3, 2], [2, 1], [1, 1], [1, 1], [1, 1]),
        ),
        (
            vec![1, 5, 5, 2],
            win([2, 2], [2, 2], [1, 1], [0, 0], [1, 1]),
        ),
    ];
    for (k, (xs, wn)) in cases.into_iter().enumerate() {
        let w1 = wn.clone();
        check_fn(
            "max_pool2d",
            1300 + k as u64,
            &[inp(&xs)],
            move |g, v, _| g.max_pool2d(v[0], &w1),
        );
        let w2 = wn.clone();
        check_fn(
            "avg_pool2d",
            1310 + k as u64,
            &[inp(&xs)],
            move |g, v, _| g.avg_pool2d(v[0], &w2),
        );
        // second order through the scatter/select pair
        let w3 = wn.clone();
        check_fn(
            "max_pool2d_grad",
            1320 + k as u64,
            &[inp(&xs), inp(&xs)],
            move |g, v, _| {
                let p = g.max_pool2d(v[0], &w3)?;
                let p2 = g.mul(p, p)?;
                let l = g.sum_all(p2)?;
                let d = g.grad(l, v[0])?;
                g.mul(d, v[1])
            },
        );
    }
}

#[test]
fn max_pool_sends_the_derivative_to_the_first_maximum() {
    let mut g = Graph::new();
    let x = g.leaf("x", vec![1, 2, 2, 1], DType::Float);
    let y = g
        .max_pool2d(x, &win([2, 2], [2, 2], [1, 1], [0, 0], [0, 0]))
        .unwrap();
    let l = g.sum_all(y).unwrap();
    let d = g.grad(l, x).unwrap();
    let mut leaves = Leaves::new();
    leaves.insert(x, fval(arr(&[1, 2, 2, 1], &[1.0, 3.0, 3.0, 3.0])));
    let got = eval1(&g, &leaves, d);
    assert_close(
        &got,
        &arr(&[1, 2, 2, 1], &[0.0, 1.0, 0.0, 0.0]),
        0.0,
        0.0,
        "first max",
    );
}
