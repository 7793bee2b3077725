#!/usr/bin/env python3
"""Loading a 64 MiB array: gradlang against NumPy (and safetensors' NumPy loader),
the same files, in one run.

    python benches/load_npy.py --gradlang target/release/gradlang [--rounds 5] [--mib 64]

Needs numpy (and safetensors for the .safetensors row) in the Python that runs it,
e.g. the venv `benches/run.sh --load` prepares, and /usr/bin/time.

Cases: a float32 .npy read as f32 (`np.load`), the same file read into an f64 run
(`np.load(..).astype(np.float64)`), a float64 .npy read as f32, the float32 array
in a stored and in a deflated .npz (`np.load(..)['W']`), and in a .safetensors file
(`safetensors.numpy.load_file`).

Every measurement is one fresh process loading the file once (files are in the
page cache after the first round: this measures the copy into memory, not the
disk). gradlang's time is the `bind/load` phase of `--profile` (reading the file,
binding dimensions, building the leaf values); NumPy's is the load call itself.
"extra RSS" is what the value costs: for gradlang, the run's peak RSS (through
/usr/bin/time) minus that of the same run loading a one-element file; for NumPy,
the growth of the process's peak RSS during the load. The median over `--rounds` rounds is
reported, gradlang and NumPy interleaved within a round. Only ratios of one run
mean anything on a shared machine; the target is a ratio of at most 1.5 and an
extra RSS of about the size of the value (the data size, or the converted size).
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

PROGRAM = "dim N, D\ninput W: [N, D]\ns = W[0, 0]\n"
TIME = "/usr/bin/time"


def worker(kind, path):
    """Runs in a child: load `path` once; print the time and the growth of the
    peak RSS (after `import numpy`, so the interpreter and NumPy do not count)."""
    import resource

    import numpy as np

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if kind == "safetensors":
        from safetensors.numpy import load_file

        load = lambda: load_file(path)["W"]  # noqa: E731
    elif kind == "npz":
        load = lambda: np.load(path)["W"]  # noqa: E731
    elif kind == "astype64":
        load = lambda: np.load(path).astype(np.float64)  # noqa: E731
    elif kind == "astype32":
        load = lambda: np.load(path).astype(np.float32)  # noqa: E731
    else:
        load = lambda: np.load(path)  # noqa: E731
    t0 = time.perf_counter()
    a = load()
    t = time.perf_counter() - t0
    assert a.size > 0
    extra = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"time": t, "extra_mib": extra / 1024.0}))


def run_child(cmd):
    """Runs cmd; returns (stdout, stderr)."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    return p.stdout, p.stderr


def gradlang_load(binary, program, args):
    """(bind/load seconds, peak RSS MiB) of one `gradlang run`.

    The peak comes from /usr/bin/time: a child's peak RSS starts at its
    parent's RSS at fork, and this Python process is larger than gradlang's
    baseline, while `time` is tiny."""
    _, err = run_child([TIME, "-f", "peak-rss-kib %M", binary, "run", program, *args,
                        "--repeat", "1", "--profile"])
    m = re.search(r"^\s*bind/load\s+([0-9.]+) ms", err, re.M)
    rss = re.search(r"^peak-rss-kib (\d+)", err, re.M)
    return float(m.group(1)) / 1e3, int(rss.group(1)) / 1024.0


def numpy_load(python, kind, path):
    """(load seconds, extra peak RSS MiB) of one NumPy process."""
    out, _ = run_child([python, os.path.abspath(__file__), "--worker", kind, path])
    r = json.loads(out.strip().splitlines()[-1])
    return r["time"], r["extra_mib"]


def make_files(tmp, mib):
    """Writes the files (in a child, so this process never holds the arrays)."""
    import numpy as np

    n = 4096
    d = mib * (1 << 20) // 4 // n
    W = np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)
    files = {}

    def put(name, fn):
        files[name] = os.path.join(tmp, name)
        fn(files[name])

    put("W.npy", lambda p: np.save(p, W))
    put("W64.npy", lambda p: np.save(p, W[:, : d // 2].astype(np.float64)))
    put("W.npz", lambda p: np.savez(p, W=W))
    put("Wc.npz", lambda p: np.savez_compressed(p, W=W))
    put("tiny.npy", lambda p: np.save(p, np.ones((1, 1), np.float32)))
    put("tiny.npz", lambda p: np.savez(p, W=np.ones((1, 1), np.float32)))
    try:
        from safetensors.numpy import save_file

        put("W.safetensors", lambda p: save_file({"W": W}, p))
        put("tiny.safetensors", lambda p: save_file({"W": np.ones((1, 1), np.float32)}, p))
    except ImportError:
        print("note: the safetensors package is not installed; its row is skipped",
              file=sys.stderr)
    print(json.dumps(files))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gradlang", help="path to the gradlang binary (required)")
    ap.add_argument("--python", default=sys.executable,
                    help="Python with numpy (and safetensors) for the reference")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mib", type=int, default=64, help="size of the float32 array")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--make-files", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if args.make_files:
        make_files(args.make_files[0], int(args.make_files[1]))
        return
    if not args.gradlang:
        ap.error("--gradlang is required")
    if not os.access(TIME, os.X_OK):
        ap.error(f"{TIME} is needed for gradlang's peak RSS (Debian: apt-get install time)")

    with tempfile.TemporaryDirectory() as tmp:
        out, err = run_child([args.python, os.path.abspath(__file__), "--make-files", tmp,
                              str(args.mib)])
        sys.stderr.write(err)
        files = json.loads(out.strip().splitlines()[-1])
        program = os.path.join(tmp, "load.grad")
        with open(program, "w") as f:
            f.write(PROGRAM)
        # (label, gradlang args, tiny-file args, numpy kind, file, value MiB in memory)
        mib = args.mib
        cases = [
            ("f32 .npy -> f32", ["--input", f"W={files['W.npy']}"],
             ["--input", f"W={files['tiny.npy']}"], "npy", files["W.npy"], mib),
            ("f32 .npy -> f64", ["--input", f"W={files['W.npy']}", "--dtype", "f64"],
             ["--input", f"W={files['tiny.npy']}", "--dtype", "f64"], "astype64",
             files["W.npy"], 2 * mib),
            ("f64 .npy -> f32", ["--input", f"W={files['W64.npy']}"],
             ["--input", f"W={files['tiny.npy']}"], "astype32", files["W64.npy"], mib // 2),
            ("stored .npz", ["--inputs", files["W.npz"]], ["--inputs", files["tiny.npz"]],
             "npz", files["W.npz"], mib),
            ("deflated .npz", ["--inputs", files["Wc.npz"]], ["--inputs", files["tiny.npz"]],
             "npz", files["Wc.npz"], mib),
        ]
        if "W.safetensors" in files:
            cases.append(("safetensors", ["--inputs", files["W.safetensors"]],
                          ["--inputs", files["tiny.safetensors"]], "safetensors",
                          files["W.safetensors"], mib))
        rows = []
        for label, big, tiny, kind, path, value_mib in cases:
            try:
                gradlang_load(args.gradlang, program, tiny)
            except RuntimeError as e:
                lines = str(e).splitlines()
                why = next((ln for ln in lines if ln.startswith("error")), lines[-1])
                print(f"note: {label} skipped (this gradlang cannot read it): {why}",
                      file=sys.stderr)
                continue
            g, n, g_rss, n_rss, base = [], [], [], [], []
            for _ in range(args.rounds):
                t, rss = gradlang_load(args.gradlang, program, big)
                g.append(t)
                g_rss.append(rss)
                base.append(gradlang_load(args.gradlang, program, tiny)[1])
                t, extra = numpy_load(args.python, kind, path)
                n.append(t)
                n_rss.append(extra)
            gt, nt = statistics.median(g), statistics.median(n)
            rows.append((label, gt, nt, gt / nt,
                         statistics.median(g_rss) - statistics.median(base),
                         statistics.median(n_rss), value_mib))
        print(f"loading a {args.mib} MiB float32 array ({args.rounds} rounds, medians)")
        print(f"{'case':<18}{'gradlang':>10}{'numpy':>10}{'ratio':>8}"
              f"{'extra RSS gradlang':>20}{'numpy':>8}{'value':>8}")
        for label, gt, nt, ratio, grss, nrss, value in rows:
            print(f"{label:<18}{gt * 1e3:>8.1f}ms{nt * 1e3:>8.1f}ms{ratio:>7.2f}x"
                  f"{grss:>16.0f} MiB{nrss:>4.0f} MiB{value:>4d} MiB")


if __name__ == "__main__":
    main()
