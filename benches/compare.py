#!/usr/bin/env python3
"""gradlang against NumPy (hand-written backward), JAX (jit(grad)) and PyTorch
(eager, when installed) on the same workloads, side by side in one run.

Driven by benches/run.sh (which builds gradlang and prepares the venv); can also be
run directly:

    python benches/compare.py --gradlang target/release/gradlang [--rounds 3]

Every measurement runs in a fresh process: one warm-up, then R timed repeats, the
median kept; peak RSS is that process's (wait4). Each workload is measured in
`--rounds` rounds, the frameworks interleaved within a round, and the median over
rounds is reported, so a burst of load on a shared machine hits everyone alike.
Only the ratios of one run mean anything. With `--threads 1` (and gradlang's
1-thread linear layer) each process is pinned to one CPU, since JAX's XLA
ignores thread settings.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "workloads")

# ----------------------------------------------------------------------------
# workers: run inside a child process, print one JSON line {"time": seconds}
# ----------------------------------------------------------------------------


def timed(fn, repeat):
    fn()  # warm-up (and JIT compilation)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def worker_numpy(workload, size, repeat):
    import numpy as np

    rng = np.random.default_rng(0)
    f32 = np.float32
    if workload == "matmul":
        a = rng.standard_normal((size, size), dtype=f32)
        b = rng.standard_normal((size, size), dtype=f32)
        return timed(lambda: a @ b, repeat)
    if workload == "linear":
        x = rng.standard_normal((64, 4096), dtype=f32)
        W = rng.standard_normal((4096, 4096), dtype=f32) * f32(0.01)

        def step():
            y = x @ W
            L = np.sum(y * y)
            dy = 2 * y
            dx = dy @ W.T
            dW = x.T @ dy
            return L, dx, dW

        return timed(step, repeat)
    if workload == "mlp":
        N, D, H, C = 256, 784, 512, 10
        x = rng.standard_normal((N, D), dtype=f32)
        t = np.zeros(N, dtype=np.int64)
        W1 = rng.standard_normal((D, H), dtype=f32) * f32(np.sqrt(2 / D))
        W2 = rng.standard_normal((H, H), dtype=f32) * f32(np.sqrt(2 / H))
        W3 = rng.standard_normal((H, C), dtype=f32) * f32(np.sqrt(2 / H))
        b1, b2, b3 = (np.zeros(n, dtype=f32) for n in (H, H, C))
        onehot = np.eye(C, dtype=f32)[t]

        def step():
            z1 = x @ W1 + b1
            h1 = np.maximum(z1, 0)
            z2 = h1 @ W2 + b2
            h2 = np.maximum(z2, 0)
            lg = h2 @ W3 + b3
            m = lg.max(axis=1, keepdims=True)
            e = np.exp(lg - m)
            s = e.sum(axis=1, keepdims=True)
            L = np.mean(np.log(s) + m - np.sum(lg * onehot, axis=1, keepdims=True))
            dlg = (e / s - onehot) / N
            dW3 = h2.T @ dlg
            db3 = dlg.sum(axis=0)
            dz2 = (dlg @ W3.T) * (z2 > 0)
            dW2 = h1.T @ dz2
            db2 = dz2.sum(axis=0)
            dz1 = (dz2 @ W2.T) * (z1 > 0)
            dW1 = x.T @ dz1
            db1 = dz1.sum(axis=0)
            lr = f32(0.1)
            return (L, W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2,
                    W3 - lr * dW3, b3 - lr * db3)

        return timed(step, repeat)
    if workload == "chain":
        x0 = rng.standard_normal(8, dtype=f32)
        a, c = f32(1.0001), f32(0.001)

        def step():
            xs = [x0]
            x = x0
            for _ in range(1000):
                x = np.tanh(x * a + c)
                xs.append(x)
            L = np.sum(x)
            g = np.ones_like(x)
            for i in range(1000, 0, -1):
                y = xs[i]
                g = g * (1 - y * y) * a
            return L, g

        return timed(step, repeat)
    raise ValueError(workload)


def conv_inputs(np):
    rng = np.random.default_rng(0)
    f32 = np.float32
    x = rng.standard_normal((64, 32, 32, 16), dtype=f32)
    w = rng.standard_normal((3, 3, 16, 32), dtype=f32) * f32(0.1)
    return x, w


def worker_jax(workload, size, repeat):
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    f32 = np.float32
    block = jax.block_until_ready
    if workload == "matmul":
        a = jnp.asarray(rng.standard_normal((size, size), dtype=f32))
        b = jnp.asarray(rng.standard_normal((size, size), dtype=f32))
        mm = jax.jit(jnp.matmul)
        return timed(lambda: block(mm(a, b)), repeat)
    if workload == "conv":
        x, w = (jnp.asarray(a) for a in conv_inputs(np))

        def conv_loss(x, w):
            y = jax.lax.conv_general_dilated(
                x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
            return jnp.sum(y * y)

        step = jax.jit(jax.value_and_grad(conv_loss, argnums=(0, 1)))
        return timed(lambda: block(step(x, w)), repeat)
    if workload == "linear":
        x = jnp.asarray(rng.standard_normal((64, 4096), dtype=f32))
        W = jnp.asarray(rng.standard_normal((4096, 4096), dtype=f32) * f32(0.01))

        def loss(x, W):
            y = x @ W
            return jnp.sum(y * y)

        step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        return timed(lambda: block(step(x, W)), repeat)
    if workload == "mlp":
        N, D, H, C = 256, 784, 512, 10
        x = jnp.asarray(rng.standard_normal((N, D), dtype=f32))
        t = jnp.zeros(N, dtype=jnp.int32)
        params = [
            jnp.asarray(rng.standard_normal((D, H), dtype=f32) * f32(np.sqrt(2 / D))),
            jnp.zeros(H, dtype=f32),
            jnp.asarray(rng.standard_normal((H, H), dtype=f32) * f32(np.sqrt(2 / H))),
            jnp.zeros(H, dtype=f32),
            jnp.asarray(rng.standard_normal((H, C), dtype=f32) * f32(np.sqrt(2 / H))),
            jnp.zeros(C, dtype=f32),
        ]

        def loss(p, x, t):
            W1, b1, W2, b2, W3, b3 = p
            h1 = jax.nn.relu(x @ W1 + b1)
            h2 = jax.nn.relu(h1 @ W2 + b2)
            lg = h2 @ W3 + b3
            lp = jax.nn.log_softmax(lg, axis=-1)
            return -jnp.mean(jnp.take_along_axis(lp, t[:, None], axis=1))

        @jax.jit
        def step(p, x, t):
            L, g = jax.value_and_grad(loss)(p, x, t)
            return L, [w - 0.1 * d for w, d in zip(p, g)]

        return timed(lambda: block(step(params, x, t)), repeat)
    if workload == "chain":
        x0 = jnp.asarray(rng.standard_normal(8, dtype=f32))

        def f(x):
            for _ in range(1000):
                x = jnp.tanh(x * 1.0001 + 0.001)
            return jnp.sum(x)

        g = jax.value_and_grad(f)  # no jit, as a user stepping through eagerly
        return timed(lambda: block(g(x0)), repeat)
    raise ValueError(workload)


def worker_torch(workload, size, repeat):
    import numpy as np
    import torch

    torch.set_num_threads(int(os.environ.get("GL_THREADS", "2")))
    rng = np.random.default_rng(0)
    f32 = np.float32
    T = torch.from_numpy
    if workload == "matmul":
        a = T(rng.standard_normal((size, size), dtype=f32))
        b = T(rng.standard_normal((size, size), dtype=f32))
        return timed(lambda: a @ b, repeat)
    if workload == "conv":
        # NCHW for torch (its native layout); the same math
        xn, wn = conv_inputs(np)
        x = T(np.ascontiguousarray(xn.transpose(0, 3, 1, 2))).requires_grad_()
        w = T(np.ascontiguousarray(wn.transpose(3, 2, 0, 1))).requires_grad_()

        def step():
            x.grad = None
            w.grad = None
            y = torch.nn.functional.conv2d(x, w, padding=1)
            L = torch.sum(y * y)
            L.backward()
            return L, x.grad, w.grad

        return timed(step, repeat)
    if workload == "linear":
        x = T(rng.standard_normal((64, 4096), dtype=f32)).requires_grad_()
        W = T(rng.standard_normal((4096, 4096), dtype=f32) * f32(0.01)).requires_grad_()

        def step():
            x.grad = None
            W.grad = None
            y = x @ W
            L = torch.sum(y * y)
            L.backward()
            return L, x.grad, W.grad

        return timed(step, repeat)
    if workload == "mlp":
        N, D, H, C = 256, 784, 512, 10
        x = T(rng.standard_normal((N, D), dtype=f32))
        t = torch.zeros(N, dtype=torch.int64)
        ps = [
            T(rng.standard_normal((D, H), dtype=f32) * f32(np.sqrt(2 / D))),
            torch.zeros(H),
            T(rng.standard_normal((H, H), dtype=f32) * f32(np.sqrt(2 / H))),
            torch.zeros(H),
            T(rng.standard_normal((H, C), dtype=f32) * f32(np.sqrt(2 / H))),
            torch.zeros(C),
        ]
        for p in ps:
            p.requires_grad_()

        def step():
            for p in ps:
                p.grad = None
            W1, b1, W2, b2, W3, b3 = ps
            h1 = torch.relu(x @ W1 + b1)
            h2 = torch.relu(h1 @ W2 + b2)
            L = torch.nn.functional.cross_entropy(h2 @ W3 + b3, t)
            L.backward()
            with torch.no_grad():
                return L, [p - 0.1 * p.grad for p in ps]

        return timed(step, repeat)
    if workload == "chain":
        x0 = T(rng.standard_normal(8, dtype=f32))

        def step():
            x = x0.clone().requires_grad_()
            y = x
            for _ in range(1000):
                y = torch.tanh(y * 1.0001 + 0.001)
            L = y.sum()
            L.backward()
            return L, x.grad

        return timed(step, repeat)
    raise ValueError(workload)


WORKERS = {"numpy": worker_numpy, "jax": worker_jax, "torch": worker_torch}

# ----------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------


def one_cpu():
    """Pins the calling (child) process to one CPU (JAX's XLA ignores thread
    settings and would use every core)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run_child(cmd, env=None, threads=None):
    """Runs cmd (on one CPU when `threads` is 1); returns (stdout, stderr, peak
    RSS in MiB, exit status)."""
    pin = one_cpu if threads == 1 and hasattr(os, "sched_setaffinity") else None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, preexec_fn=pin)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                usage.ru_maxrss / 1024.0, p.returncode)


def grad_file(workload, size, tmp):
    if workload == "matmul":
        path = os.path.join(tmp, f"matmul{size}.grad")
        with open(path, "w") as f:
            f.write(f"dim N = {size}\ninput a: [N, N] = normal(0, 1)\n"
                    "input b: [N, N] = normal(0, 1)\nc = a @ b\n")
        return path, ["--print", "c"]
    prints = {
        "linear": "L,dx,dW",
        "mlp": "L,W1,b1,W2,b2,W3,b3",
        "chain": "L,dx",
        "conv": "L,dx,dw",
    }
    return os.path.join(WORKLOADS, f"{workload}.grad"), ["--print", prints[workload]]


def measure_gradlang(binary, workload, size, repeat, threads, tmp):
    path, extra = grad_file(workload, size, tmp)
    cmd = [binary, "run", path, *extra, "--threads", str(threads),
           "--repeat", str(repeat), "--profile"]
    out, err, rss, code = run_child(cmd, threads=threads)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err}")
    m = re.search(r"^\s*evaluation\s+([0-9.]+) ms", err, re.M)
    return float(m.group(1)) / 1e3, rss


def measure_python(python, framework, workload, size, repeat, threads):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["GL_THREADS"] = str(threads)
    env["JAX_PLATFORMS"] = "cpu"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    cmd = [python, os.path.abspath(__file__), "--worker", framework, workload,
           str(size), str(repeat)]
    out, err, rss, code = run_child(cmd, env, threads)
    if code != 0:
        raise RuntimeError(f"{framework} {workload} failed:\n{err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])["time"], rss


def available(python, module):
    if python is None:
        return False
    r = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
    return r.returncode == 0


def fmt_time(t):
    if t is None:
        return "—"
    return f"{t * 1e3:.2f} ms" if t < 10 else f"{t:.2f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gradlang", required=True, help="path to the gradlang binary")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter with numpy/jax/torch (the venv's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--check-line", default=None,
                    help="parse+check result line from `cargo bench --bench check`")
    ap.add_argument("--json", default=None, help="also write raw results here")
    ap.add_argument("--only", default=None,
                    help="comma-separated workloads (matmul, linear, mlp, chain, conv)")
    args = ap.parse_args()

    frameworks = [("numpy", "NumPy"), ("jax", "JAX"), ("torch", "PyTorch")]
    have = {}
    for mod, name in frameworks:
        have[mod] = available(args.python, mod)
        if not have[mod]:
            print(f"note: {name} is not installed for {args.python}; skipped", file=sys.stderr)

    q = 0.4 if args.quick else 1.0
    rep = lambda n: max(3, int(n * q))  # noqa: E731
    # (key, workload, size, repeats for gradlang/numpy/torch, repeats for jax)
    cases = [
        ("matmul 512³", "matmul", 512, rep(50), rep(50)),
        ("matmul 1024³", "matmul", 1024, rep(20), rep(20)),
        ("matmul 2048³", "matmul", 2048, rep(6), rep(6)),
        ("linear layer fwd+bwd", "linear", 0, rep(15), rep(15)),
        ("MLP SGD step", "mlp", 0, rep(50), rep(50)),
        ("chain ×1000 fwd+bwd", "chain", 0, rep(50), 3),
        ("conv layer fwd+bwd", "conv", 0, rep(15), rep(15)),
    ]
    if args.only:
        cases = [c for c in cases if c[1] in args.only.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, wl, size, r, rj in cases:
            samples = {k: [] for k in ("gradlang", "gradlang-1t", "numpy", "jax", "torch")}
            rss = {k: [] for k in samples}
            for rnd in range(args.rounds):
                print(f"[{key}] round {rnd + 1}/{args.rounds}", file=sys.stderr, flush=True)
                t, m = measure_gradlang(args.gradlang, wl, size, r, args.threads, tmp)
                samples["gradlang"].append(t)
                rss["gradlang"].append(m)
                if wl == "linear":
                    t, m = measure_gradlang(args.gradlang, wl, size, r, 1, tmp)
                    samples["gradlang-1t"].append(t)
                    rss["gradlang-1t"].append(m)
                for fw in ("numpy", "jax", "torch"):
                    if fw == "numpy" and wl == "conv":
                        continue  # NumPy has no convolution
                    if have[fw]:
                        t, m = measure_python(args.python, fw, wl, size,
                                              rj if fw == "jax" else r, args.threads)
                        samples[fw].append(t)
                        rss[fw].append(m)
            results[key] = {
                k: {"time": statistics.median(v), "rss_mib": max(rss[k]), "samples": v}
                for k, v in samples.items() if v
            }
            results[key]["_size"] = size

    # ---- the table ----
    cols = [("gradlang", "gradlang")] + [(k, n) for k, n in frameworks if have[k]]
    lines = []
    head = f"| workload ({args.threads} threads, f32, medians) | " + " | ".join(n for _, n in cols)
    head += " | " + " | ".join(f"{n} / gradlang" for k, n in cols[1:]) + " |"
    lines.append(head)
    lines.append("|" + "---|" * (1 + len(cols) + len(cols) - 1))
    for key, wl, size, _, _ in cases:
        res = results[key]
        cells = []
        for k, _ in cols:
            t = res.get(k, {}).get("time")
            if t is None:
                cells.append("—")
            elif wl == "matmul":
                cells.append(f"{fmt_time(t)} ({2 * size ** 3 / t / 1e9:.0f} GFLOP/s)")
            else:
                cells.append(fmt_time(t))
        g = res["gradlang"]["time"]
        ratios = [f"{res[k]['time'] / g:.2f}x" if k in res else "—" for k, _ in cols[1:]]
        lines.append(f"| {key} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    lin = results.get("linear layer fwd+bwd")
    if lin:
        rss_cells = [f"{lin[k]['rss_mib']:.0f} MiB" if k in lin else "—" for k, _ in cols]
        rss_ratio = [f"{lin[k]['rss_mib'] / lin['gradlang']['rss_mib']:.2f}x" if k in lin
                     else "—" for k, _ in cols[1:]]
        lines.append("| peak RSS, linear layer process | " + " | ".join(rss_cells) + " | "
                     + " | ".join(rss_ratio) + " |")
    print("\n".join(lines))
    print()
    if lin:
        one, two = lin["gradlang-1t"]["time"], lin["gradlang"]["time"]
        print(f"gradlang linear layer: 1 thread {fmt_time(one)}, {args.threads} threads "
              f"{fmt_time(two)}: {one / two:.2f}x")
    print("gradlang peak RSS per run: " + ", ".join(
        f"{key} {results[key]['gradlang']['rss_mib']:.0f} MiB" for key, *_ in cases))
    if args.check_line:
        print(f"gradlang parse + check of a 10,000-line program: {args.check_line}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        fw, wl, size, repeat = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps({"time": WORKERS[fw](wl, size, repeat)}))
    else:
        main()
