#!/usr/bin/env bash
# gradlang against NumPy, JAX and (with --torch) PyTorch, side by side in one run.
#
#   benches/run.sh [--torch] [--train | --train-only] [--load] [--quick] [--only W,W]
#                  [--rounds N] [--threads N] [--json FILE]
#
# Builds gradlang (release), creates a venv with numpy and jax (PyTorch, CPU wheels,
# only with --torch), runs `cargo bench --bench check`, then benches/compare.py,
# which prints the table (--only conv,mlp: just those workloads). --train adds
# benches/train_compare.py: gradlang train against PyTorch eager and JAX jit +
# optax, one epoch of each training workload (installs torch and optax, and
# scikit-learn for the digits data when examples/data/digits_train.npz is
# missing); --train-only runs just that. --load adds benches/load_npy.py (loading
# a 64 MiB array against np.load; safetensors installed in the venv). A reference
# that cannot be installed is skipped, with a note. Environment: CARGO_TARGET_DIR
# (as for cargo), GRADLANG_BENCH_VENV (default benches/.venv), PYTHON (default
# python3).
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH=0
TRAIN=0
WORKLOADS=1
LOAD=0
PASS=()
TRAIN_PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) TORCH=1 ;;
    --train) TRAIN=1; TORCH=1 ;;
    --train-only) TRAIN=1; TORCH=1; WORKLOADS=0 ;;
    --load) LOAD=1 ;;
    --quick) PASS+=(--quick) ;;
    --only) PASS+=("$1" "$2"); shift ;;
    --rounds|--threads) PASS+=("$1" "$2"); TRAIN_PASS+=("$1" "$2"); shift ;;
    --json) PASS+=("$1" "$2"); TRAIN_PASS+=("$1" "${2%.json}-train.json"); shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
TARGET="${CARGO_TARGET_DIR:-target}"
PY="${PYTHON:-python3}"
VENV="${GRADLANG_BENCH_VENV:-benches/.venv}"

echo "== building gradlang (release)" >&2
cargo build --release --quiet
BIN="$TARGET/release/gradlang"

echo "== python references in $VENV" >&2
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || echo "note: cannot create a venv; references skipped" >&2
fi
VPY="$VENV/bin/python"
if [ -x "$VPY" ]; then
  "$VPY" -c "import numpy" 2>/dev/null || "$VPY" -m pip install -q numpy \
    || echo "note: cannot install numpy; skipped" >&2
  "$VPY" -c "import jax" 2>/dev/null || "$VPY" -m pip install -q "jax[cpu]" \
    || echo "note: cannot install jax; skipped" >&2
  if [ "$TORCH" = 1 ]; then
    # CPU wheels first (~200 MB); else PyPI's (with CUDA libraries, several GB)
    "$VPY" -c "import torch" 2>/dev/null \
      || "$VPY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu \
      || "$VPY" -m pip install -q torch \
      || echo "note: cannot install torch; skipped" >&2
  fi
  if [ "$TRAIN" = 1 ]; then
    "$VPY" -c "import optax" 2>/dev/null || "$VPY" -m pip install -q optax \
      || echo "note: cannot install optax; JAX skipped in the training benchmark" >&2
    if [ ! -f examples/data/digits_train.npz ]; then
      "$VPY" -c "import sklearn" 2>/dev/null || "$VPY" -m pip install -q scikit-learn \
        || echo "note: cannot install scikit-learn; the digits workloads are skipped" >&2
    fi
  fi
else
  VPY="$PY"
fi

if [ "$WORKLOADS" = 1 ]; then
  echo "== parse + check of a 10,000-line program (cargo bench --bench check)" >&2
  CHECK=$(cargo bench --quiet --bench check 2>/dev/null | grep "^  parse + check" | sed 's/^ *parse + check *//; s/ *(target.*//')

  echo "== workloads" >&2
  "$VPY" benches/compare.py --gradlang "$BIN" --python "$VPY" --check-line "$CHECK" "${PASS[@]}"
fi
if [ "$TRAIN" = 1 ]; then
  echo "== training, one epoch per workload (benches/train_compare.py)" >&2
  if [ "$WORKLOADS" = 1 ]; then echo; fi
  "$VPY" benches/train_compare.py --gradlang "$BIN" --python "$VPY" "${TRAIN_PASS[@]}"
fi
if [ "$LOAD" = 1 ]; then
  echo "== loading a 64 MiB array (benches/load_npy.py)" >&2
  "$VPY" -c "import safetensors" 2>/dev/null || "$VPY" -m pip install -q safetensors \
    || echo "note: cannot install safetensors; its row is skipped" >&2
  "$VPY" benches/load_npy.py --gradlang "$BIN" --python "$VPY"
fi
