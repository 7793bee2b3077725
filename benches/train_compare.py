#!/usr/bin/env python3
"""Training throughput: `gradlang train` against the loops users write in
PyTorch (eager, `torch.optim`) and JAX (`jax.jit` of the whole step with
`optax`), same run, same data, same batch size and order.

Workloads (one epoch each, examples in file order, no shuffling anywhere):

- digits MLP: examples/digits_mlp.grad (flatten 64 -> 128 relu -> dropout 0.2
  -> 10, adamw lr 3e-3, cosine schedule), batch 32, on digits_train.npz;
- digits CNN: examples/digits_cnn.grad (two 3x3 convs, padding 1, relu, 2x2
  max-pool; dropout 0.4; dense 256 -> 10; adamw lr 3e-3, cosine), batch 32;
- MLP 784-512-512-10: benches/workloads/train_mlp.grad, Adam lr 1e-3,
  batch 128, on 60,000 seeded random examples (written here to an .npz).

gradlang is timed by its own `gradlang train --profile`: the training loop,
without process start-up, reading the data and the program's checking; the
graph build (lowering, scheduling: gradlang's counterpart of JAX's
compilation) is reported but left out of examples/s, like JAX's compilation.
The references time one epoch in a fresh process after a warm-up (one step
on a full batch and one on the last, smaller batch, which compiles both JAX
shapes), with fresh params and optimizer state; batches are contiguous slices
of arrays already in memory (no DataLoader), the loss and accuracy are
computed every step (PyTorch reads them with `.item()`, as a progress bar
does; JAX keeps them on the device, read after the epoch; its dropout key
is folded from the step number inside the jitted step). Every
measurement is repeated in `--rounds` rounds, the frameworks interleaved
within a round, and the median kept, so a burst of load on a shared machine
hits everyone alike. Only the ratios of one run mean anything. With
`--threads 1` every process is pinned to the same single CPU (JAX's XLA
ignores thread settings and would use every core).

Tables: examples/s (medians) with the ratios; gradlang's time per step split
into forward + backward, gather + dropout masks, optimizer and the rest,
beside PyTorch's forward + backward and JAX's whole step; the same ratios
from each framework's best round. `--baseline BIN` adds another gradlang
binary (say, main's) to the same rounds, for before/after comparisons.

Driven by `benches/run.sh --train` or `--train-only` (which build gradlang and
prepare the venv); can also be run directly:

    python benches/train_compare.py --gradlang target/release/gradlang [--rounds 5]

The digits data is examples/data/digits_train.npz when present, else made
here from scikit-learn's copy (the same split: `load_digits`, images / 16,
`train_test_split(test_size=360, stratify=y, random_state=0)`).
"""

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (key, program, data file key, batch size, label)
WORKLOADS = [
    ("digits_mlp", "examples/digits_mlp.grad", "digits", 32, "digits MLP (batch 32, adamw)"),
    ("digits_cnn", "examples/digits_cnn.grad", "digits", 32, "digits CNN (batch 32, adamw)"),
    ("mlp60k", "benches/workloads/train_mlp.grad", "mlp60k", 128,
     "MLP 784-512-512-10, 60k (batch 128, adam)"),
]

# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------


def digits_data(tmp):
    """examples/data/digits_train.npz, or the same split made with scikit-learn."""
    path = os.path.join(ROOT, "examples", "data", "digits_train.npz")
    if os.path.exists(path):
        return path
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16).astype(np.float32)[..., None]
    y = d.target.astype(np.int64)
    xtr, _, ytr, _ = train_test_split(x, y, test_size=360, stratify=y, random_state=0)
    path = os.path.join(tmp, "digits_train.npz")
    np.savez_compressed(path, images=xtr, labels=ytr)
    return path


def mlp60k_data(tmp):
    """60,000 seeded standard-normal inputs [N, 784] f32, labels in 0..9 (int64)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60000, 784), dtype=np.float32)
    labels = rng.integers(0, 10, 60000).astype(np.int64)
    path = os.path.join(tmp, "mlp60k.npz")
    np.savez(path, x=x, labels=labels)
    return path


def load(path):
    """(inputs, labels) of a data file: `images` or `x`, and `labels`."""
    import numpy as np

    with np.load(path) as z:
        x = z["images"] if "images" in z.files else z["x"]
        return np.ascontiguousarray(x), np.ascontiguousarray(z["labels"])


def batches(n, b):
    return [(i, min(i + b, n)) for i in range(0, n, b)]


# ----------------------------------------------------------------------------
# workers: run in a child process, print one JSON line
# ----------------------------------------------------------------------------


def cosine(total):
    return lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t / total, 1.0)))


def worker_torch(workload, data, batch, threads):
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y = load(data)
    if workload == "digits_cnn":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # NCHW, PyTorch's layout
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    spans = batches(len(X), batch)

    def make():
        if workload == "digits_mlp":
            model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2),
                                  nn.Linear(128, 10))
        elif workload == "digits_cnn":
            model = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Dropout(0.4), nn.Linear(256, 10))
        else:
            model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                                  nn.Linear(512, 10))
        if workload == "mlp60k":
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            sched = None
        else:
            opt = torch.optim.AdamW(model.parameters(), lr=3e-3)  # weight_decay 0.01
            sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine(len(spans)))
        model.train()
        return model, opt, sched

    fwdbwd = [0.0]

    def step(model, opt, sched, lo, hi, sums):
        t0 = time.perf_counter()
        xb, yb = X[lo:hi], Y[lo:hi]
        logits = model(xb)
        loss = nn.functional.cross_entropy(logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t1 = time.perf_counter()
        opt.step()
        if sched is not None:
            sched.step()
        sums[0] += loss.item() * (hi - lo)
        sums[1] += (logits.argmax(1) == yb).sum().item()
        fwdbwd[0] += t1 - t0

    model, opt, sched = make()
    sums = [0.0, 0.0]
    for lo, hi in (spans[0], spans[-1]):  # warm-up
        step(model, opt, sched, lo, hi, sums)
    model, opt, sched = make()
    sums = [0.0, 0.0]
    fwdbwd[0] = 0.0
    t0 = time.perf_counter()
    for lo, hi in spans:
        step(model, opt, sched, lo, hi, sums)
    t = time.perf_counter() - t0
    return {"time": t, "fwdbwd": fwdbwd[0], "steps": len(spans), "examples": len(X),
            "loss": sums[0] / len(X)}


def worker_jax(workload, data, batch, threads):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    x, y = load(data)
    y = y.astype(np.int32)
    spans = batches(len(x), batch)
    rng = np.random.default_rng(0)

    def dense(i, o):
        return {"W": jnp.asarray(rng.standard_normal((i, o), dtype=np.float32)
                                 * np.float32(math.sqrt(2 / i))),
                "b": jnp.zeros(o, jnp.float32)}

    def dropout(h, p, key):
        keep = jax.random.bernoulli(key, 1.0 - p, h.shape)
        return jnp.where(keep, h / (1.0 - p), 0.0)

    if workload == "digits_mlp":
        def init():
            return {"fc1": dense(64, 128), "fc2": dense(128, 10)}

        def forward(p, xb, key):
            h = jax.nn.relu(xb.reshape(xb.shape[0], -1) @ p["fc1"]["W"] + p["fc1"]["b"])
            return dropout(h, 0.2, key) @ p["fc2"]["W"] + p["fc2"]["b"]
    elif workload == "digits_cnn":
        def init():
            def k(shape, fan_in):
                return jnp.asarray(rng.standard_normal(shape, dtype=np.float32)
                                   * np.float32(math.sqrt(2 / fan_in)))
            return {"k1": k((3, 3, 1, 32), 9), "b1": jnp.zeros(32, jnp.float32),
                    "k2": k((3, 3, 32, 64), 288), "b2": jnp.zeros(64, jnp.float32),
                    "fc": dense(256, 10)}

        def conv(h, k):
            return jax.lax.conv_general_dilated(h, k, (1, 1), ((1, 1), (1, 1)),
                                                dimension_numbers=("NHWC", "HWIO", "NHWC"))

        def pool(h):
            return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                         "VALID")

        def forward(p, xb, key):
            h = pool(jax.nn.relu(conv(xb, p["k1"]) + p["b1"]))
            h = pool(jax.nn.relu(conv(h, p["k2"]) + p["b2"]))
            h = dropout(h.reshape(h.shape[0], -1), 0.4, key)
            return h @ p["fc"]["W"] + p["fc"]["b"]
    else:
        def init():
            return {"fc1": dense(784, 512), "fc2": dense(512, 512), "fc3": dense(512, 10)}

        def forward(p, xb, key):
            h = jax.nn.relu(xb @ p["fc1"]["W"] + p["fc1"]["b"])
            h = jax.nn.relu(h @ p["fc2"]["W"] + p["fc2"]["b"])
            return h @ p["fc3"]["W"] + p["fc3"]["b"]

    if workload == "mlp60k":
        opt = optax.adam(1e-3)
    else:
        sched = optax.cosine_decay_schedule(3e-3, len(spans))
        opt = optax.adamw(sched, weight_decay=0.01)  # PyTorch's and gradlang's default

    def loss_fn(p, xb, yb, key):
        logits = forward(p, xb, key)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        return loss, jnp.sum(jnp.argmax(logits, -1) == yb)

    base = jax.random.PRNGKey(0)

    @jax.jit
    def step(p, state, xb, yb, i):
        key = jax.random.fold_in(base, i)  # the step's dropout key
        (loss, correct), g = jax.value_and_grad(loss_fn, has_aux=True)(p, xb, yb, key)
        updates, state = opt.update(g, state, p)
        return optax.apply_updates(p, updates), state, loss * xb.shape[0], correct

    def epoch(p, state, which):
        sums = []
        for i in which:
            lo, hi = spans[i]
            p, state, loss, correct = step(p, state, x[lo:hi], y[lo:hi], i)
            sums.append((loss, correct))
        return jax.block_until_ready((p, state)), sums

    p = init()
    epoch(p, opt.init(p), [0, len(spans) - 1])  # warm-up: compiles both batch shapes
    p = init()
    state = opt.init(p)
    t0 = time.perf_counter()
    _, sums = epoch(p, state, range(len(spans)))
    t = time.perf_counter() - t0
    loss = sum(float(v) for v, _ in sums) / len(x)
    return {"time": t, "steps": len(spans), "examples": len(x), "loss": loss}


WORKERS = {"torch": worker_torch, "jax": worker_jax}

# ----------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------


def one_cpu():
    """Pins the calling (child) process to one CPU: with `--threads 1` every
    process gets the same single core (XLA's CPU backend ignores its thread
    flags and would use every core)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run(cmd, env=None, threads=None):
    pin = one_cpu if threads == 1 and hasattr(os, "sched_setaffinity") else None
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, preexec_fn=pin)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return p.stdout, p.stderr


def profile_ms(err, phase):
    m = re.search(rf"^\s*{re.escape(phase)}\s+([0-9.]+) ms", err, re.M)
    if not m:
        raise RuntimeError(f"no `{phase}` line in gradlang's --profile report:\n{err}")
    return float(m.group(1)) / 1e3


def measure_gradlang(binary, program, data, batch, threads, tmp):
    cmd = [binary, "train", os.path.join(ROOT, program), "--inputs", data, "--epochs", "1",
           "--batch-size", str(batch), "--no-shuffle", "--progress", "none",
           "--threads", str(threads), "--out", os.path.join(tmp, "out"), "--profile"]
    t0 = time.perf_counter()
    _, err = run(cmd, threads=threads)
    wall = time.perf_counter() - t0
    m = re.search(r"^profile: .*: (\d+) steps?, (\d+) examples", err, re.M)
    loop = profile_ms(err, "loop")
    build = profile_ms(err, "graph build")
    val = profile_ms(err, "validation")
    fwdbwd = profile_ms(err, "forward + backward")
    gather = profile_ms(err, "gather + dropout masks")
    optimizer = profile_ms(err, "optimizer + clipping")
    return {
        "time": loop - build - val,  # like the references: compilation excluded
        "loop": loop,
        "build": build,
        "fwdbwd": fwdbwd,
        "forward": profile_ms(err, "forward"),
        "backward": profile_ms(err, "backward"),
        "gather": gather,
        "optimizer": optimizer,
        "other": loop - build - val - fwdbwd - gather - optimizer,
        "process": wall,
        "steps": int(m.group(1)),
        "examples": int(m.group(2)),
    }


def measure_python(python, framework, workload, data, batch, threads):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["JAX_PLATFORMS"] = "cpu"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    out, _ = run([python, os.path.abspath(__file__), "--worker", framework, workload, data,
                  str(batch), str(threads)], env, threads)
    return json.loads(out.strip().splitlines()[-1])


def available(python, module):
    r = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
    return r.returncode == 0


def med(samples, key):
    return statistics.median(s[key] for s in samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gradlang", required=True, help="path to the gradlang binary")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter with numpy, torch, jax and optax (the venv's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default=None, help="comma-separated workload keys")
    ap.add_argument("--baseline", default=None,
                    help="another gradlang binary (say, main's) timed in the same rounds")
    ap.add_argument("--json", default=None, help="also write raw results here")
    args = ap.parse_args()

    have = {"torch": available(args.python, "torch"),
            "jax": available(args.python, "jax") and available(args.python, "optax")}
    for fw, ok in have.items():
        if not ok:
            print(f"note: {fw} is not installed for {args.python}; skipped", file=sys.stderr)
    chosen = [w for w in WORKLOADS if args.only is None or w[0] in args.only.split(",")]

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for key, _, data, *_ in chosen:
            if data in files:
                continue
            try:
                files[data] = digits_data(tmp) if data == "digits" else mlp60k_data(tmp)
            except ImportError as e:
                print(f"note: cannot make the {data} data ({e}); its workloads skipped",
                      file=sys.stderr)
                files[data] = None
        for key, program, data, batch, label in chosen:
            path = files[data]
            if path is None:
                continue
            samples = {"gradlang": [], "baseline": [], "torch": [], "jax": []}
            for rnd in range(args.rounds):
                print(f"[{label}] round {rnd + 1}/{args.rounds}", file=sys.stderr, flush=True)
                samples["gradlang"].append(
                    measure_gradlang(args.gradlang, program, path, batch, args.threads, tmp))
                if args.baseline:
                    samples["baseline"].append(measure_gradlang(args.baseline, program, path,
                                                                batch, args.threads, tmp))
                for fw in ("torch", "jax"):
                    if have[fw]:
                        samples[fw].append(measure_python(args.python, fw, key, path, batch,
                                                          args.threads))
            results[key] = {"label": label, "samples": samples}

    # ---- the tables ----
    print(f"Training, one epoch, {args.threads} threads, f32, medians of {args.rounds} rounds; "
          "examples/s of the training loop (gradlang: without graph build, as JAX without "
          "compilation)\n")
    cols = ["gradlang", "torch", "jax"] + (["baseline"] if args.baseline else [])
    names = {"gradlang": "gradlang", "torch": "PyTorch eager", "jax": "JAX jit",
             "baseline": "gradlang baseline"}
    print("| workload | " + " | ".join(names[c] for c in cols) + " | "
          + " | ".join(f"gradlang / {names[c]}" for c in cols[1:]) + " |")
    print("|---|" + "---|" * (2 * len(cols) - 1))
    for key, r in results.items():
        s = r["samples"]
        g = s["gradlang"]
        n = g[0]["examples"]
        rate = {fw: n / med(v, "time") for fw, v in s.items() if v}
        cells = [f"{rate[fw]:,.0f}" if fw in rate else "—" for fw in cols]
        ratios = [f"{rate['gradlang'] / rate[fw]:.2f}x" if fw in rate else "—"
                  for fw in cols[1:]]
        print(f"| {r['label']} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    print()
    print("Per step (ms, medians): gradlang's loop and its parts; PyTorch's forward + backward "
          "(to `loss.backward()`) and the rest of its step; JAX's whole jitted step\n")
    print("| workload | steps | gradlang step | fwd+bwd (fwd / bwd) | gather | optimizer | "
          "other | fwd+bwd share | graph build (once) | process wall | PyTorch step | "
          "PyTorch fwd+bwd | JAX step |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, r in results.items():
        s = r["samples"]
        for which in ("gradlang", "baseline"):
            g = s[which]
            if not g:
                continue
            steps = g[0]["steps"]
            per = lambda v, k: 1e3 * med(v, k) / steps  # noqa: E731
            step = per(g, "time")
            fb = per(g, "fwdbwd")
            other = per(g, "other")
            torch_cells = ([f"{per(s['torch'], 'time'):.3f}", f"{per(s['torch'], 'fwdbwd'):.3f}"]
                           if s["torch"] else ["—", "—"])
            jax_cell = f"{per(s['jax'], 'time'):.3f}" if s["jax"] else "—"
            label = r["label"] + (" (baseline binary)" if which == "baseline" else "")
            print(f"| {label} | {steps} | {step:.3f} | {fb:.3f} ({per(g, 'forward'):.3f} / "
                  f"{per(g, 'backward'):.3f}) | {per(g, 'gather'):.3f} | "
                  f"{per(g, 'optimizer'):.3f} | {other:.3f} | {100 * fb / step:.0f}% | "
                  f"{1e3 * med(g, 'build'):.2f} | {med(g, 'process'):.3f} s | "
                  + " | ".join(torch_cells) + f" | {jax_cell} |")
    print()
    print("Best round instead of the median (what an idle machine comes closer to):\n")
    print("| workload | " + " | ".join(names[c] for c in cols) + " | "
          + " | ".join(f"gradlang / {names[c]}" for c in cols[1:]) + " |")
    print("|---|" + "---|" * (2 * len(cols) - 1))
    for key, r in results.items():
        s = r["samples"]
        n = s["gradlang"][0]["examples"]
        rate = {fw: n / min(x["time"] for x in v) for fw, v in s.items() if v}
        cells = [f"{rate[fw]:,.0f}" if fw in rate else "—" for fw in cols]
        ratios = [f"{rate['gradlang'] / rate[fw]:.2f}x" if fw in rate else "—"
                  for fw in cols[1:]]
        print(f"| {r['label']} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        fw, wl, data, batch, threads = sys.argv[2:7]
        print(json.dumps(WORKERS[fw](wl, data, int(batch), int(threads))))
    else:
        main()
