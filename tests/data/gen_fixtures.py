"""Regenerate the NumPy fixtures used by tests/data_files.rs.

Run with a Python that has NumPy (the committed files were made with NumPy 2.4.6):
    python3 tests/data/gen_fixtures.py
The Rust tests never run Python; they read the committed outputs.
"""
import io
import json
import os
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
NPY = os.path.join(HERE, "npy")
os.makedirs(NPY, exist_ok=True)


def save(name, arr, version=None):
    path = os.path.join(NPY, name)
    if version is None:
        np.save(path, arr)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, arr, version=version)


a23 = np.array([[1.5, -2.25, 3.0], [4.125, 0.1, -6.0]])
save("f4_le_c.npy", a23.astype("<f4"))
save("f4_be_c.npy", a23.astype(">f4"))
save("f8_le_c.npy", a23.astype("<f8"))
save("f8_be_c.npy", a23.astype(">f8"))
i34 = np.arange(12).reshape(3, 4) - 5
save("i4_le_c.npy", i34.astype("<i4"))
save("i4_be_f.npy", np.asfortranarray(i34.astype(">i4")))
save("i8_le_f.npy", np.asfortranarray(i34.astype("<i8")))
save("i8_be_c.npy", i34.astype(">i8"))
save("f8_le_f.npy", np.asfortranarray(a23))
a3 = np.arange(24, dtype="<f8").reshape(2, 3, 4) / 4
save("f8_3d_c.npy", a3)
save("f8_3d_f.npy", np.asfortranarray(a3))
save("f4_3d_be_f.npy", np.asfortranarray(a3.astype(">f4")))
save("f8_0d.npy", np.array(3.5))
save("i8_0d.npy", np.array(-7, dtype="<i8"))
save("f8_v2.npy", a23, version=(2, 0))
save("f8_v3.npy", a23, version=(3, 0))
save("f8_empty.npy", np.zeros((0, 3)))
# unsupported dtypes
save("c16.npy", np.array([1 + 2j]))
save("b1.npy", np.array([True, False]))
save("u3.npy", np.array(["abc", "de"]))
save("u1.npy", np.array([1, 2], dtype=np.uint8))
np.save(os.path.join(NPY, "object.npy"), np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
# written by numpy, for byte-exact comparison with our writer
save("written_f8_2d.npy", np.arange(12, dtype="<f8").reshape(3, 4))
save("written_f4_1d.npy", np.array([0.5, -1.0, 2.0], dtype="<f4"))
save("written_i8_0d.npy", np.array(42, dtype="<i8"))
save("written_i4_3d.npy", np.arange(24, dtype="<i4").reshape(2, 3, 4))
# npz
np.savez(os.path.join(NPY, "two.npz"), x=a23, labels=np.array([0, 2, 1], dtype="<i8"))
np.savez_compressed(os.path.join(NPY, "deflated.npz"), w=np.arange(100, dtype="<f4").reshape(10, 10), b=np.zeros(10))
with zipfile.ZipFile(os.path.join(NPY, "bad_member.npz"), "w") as z:
    buf = io.BytesIO()
    np.save(buf, np.arange(3.0))
    z.writestr("good.npy", buf.getvalue())
    z.writestr("bad.npy", buf.getvalue()[:-5])  # truncated member
with zipfile.ZipFile(os.path.join(NPY, "not_npy_member.npz"), "w") as z:
    z.writestr("readme.txt", "hello")

# printing cases
rng = np.random.default_rng(0)
cases = []


def case(name, arr):
    arr = np.asarray(arr)
    kind = {"float32": "f32", "float64": "f64", "int32": "i32", "int64": "i64"}[str(arr.dtype)]
    if kind.startswith("f"):
        data = [repr(float(x)) for x in arr.ravel()]
    else:
        data = [int(x) for x in arr.ravel()]
    cases.append({"name": name, "dtype": kind, "shape": list(arr.shape), "data": data, "expected": str(arr)})


case("int_1d", np.arange(10))
case("int_negative", np.array([-5, 10, 200, -3000]))
case("int_2d", np.arange(12).reshape(3, 4) - 4)
case("int32_2d", (np.arange(6).reshape(2, 3) * 1000).astype(np.int32))
case("int_3d", np.arange(24).reshape(2, 3, 4))
case("int_4d", np.arange(16).reshape(2, 2, 2, 2))
case("int_40x40", np.arange(1600).reshape(40, 40))
case("int_long_1d", np.arange(100))
case("int_summarized_1d", np.arange(2000))
case("int_0d", np.array(7))
case("float_fractions", np.array([1.5, 2.25, -3.125]))
case("float_whole", np.array([1.0, 2.0, 3.0]))
case("float_zero_one", np.array([0.0, 1.0]))
case("float_neg_zero", np.array([-0.0, 1.0]))
case("float_negative", np.array([-1.5, 2.0, -0.25]))
case("float_sci_small", np.array([1e-5, 1.0, 1234.5]))
case("float_sci_big", np.array([1e10, 1.0]))
case("float_sci_both", np.array([1e-5, 1e10]))
case("float_sci_neg", np.array([-1e-5, 1e10, 2.5]))
case("float_sci_3digit_exp", np.array([1e100, 1e-100]))
case("float_sci_single", np.array([1e8]))
case("float_sci_ratio", np.array([0.5, 600.0]))
case("float_ratio_ok", np.array([0.5, 400.0]))
case("float_1e15_1e16", np.array([1e15, 1e16]))
case("float_precision_cut", np.array([0.123456789, 1.0]))
case("float_precision_big", np.array([123456.123456789]))
case("float_tie", np.array([0.001953125, 1.0]))
case("float_nan_inf", np.array([1.0, np.nan, np.inf, -np.inf]))
case("float_nan_inf_only", np.array([np.nan, np.inf]))
case("float_nan_neginf_only", np.array([np.nan, -np.inf]))
case("float_nan_frac", np.array([1.5, np.nan]))
case("float_sci_nan", np.array([1e-5, np.nan, -np.inf]))
case("float_2d", np.array([[1.0, 2.5], [-3.0, 4.0]]))
case("float_3d", np.arange(24.0).reshape(2, 3, 4) / 3)
case("float_40x40", np.arange(1600.0).reshape(40, 40) / 7)
case("float_summarized_3d", np.arange(12.0 ** 3).reshape(12, 12, 12) * 0.5)
case("float_summarized_sci", np.linspace(0, 1e9, 1500))
case("float_long_1d", np.linspace(0, 1, 30))
case("float_random_1d", rng.standard_normal(50))
case("float_random_2d_wide", rng.standard_normal((3, 30)))
case("float_random_3x4", rng.standard_normal((3, 4)))
case("float_empty", np.zeros((0,)))
case("float_empty_2d", np.zeros((2, 0)))
case("float_0d", np.array(3.5))
case("float_0d_whole", np.array(1.0))
case("float_0d_big", np.array(1e20))
case("float_0d_small", np.array(1.5e-5))
case("float_0d_nan", np.array(np.nan))
case("float_0d_neg_zero", np.array(-0.0))
case("float_0d_long", np.array(0.123456789123))
case("f32_tenths", np.array([0.1, 0.2, 0.3], dtype=np.float32))
case("f32_random", rng.standard_normal((3, 4)).astype(np.float32))
case("f32_sci", np.array([1e-7, 3.3], dtype=np.float32))
case("f32_thirds", (np.arange(6, dtype=np.float32) / 3).reshape(2, 3))
case("f32_0d", np.array(0.1, dtype=np.float32))
case("f32_0d_big", np.array(3e20, dtype=np.float32))
for v in [1e6, 999999.9, 1e-4, 0.00010001, 123456789.0, 16777216.0]:
    case(f"f32_0d_{v!r}", np.array(v, dtype=np.float32))
for v in [1e16, 9999999999999998.0, 1e-4, 9.9e-5, -2.5e-300]:
    case(f"f64_0d_{v!r}", np.array(v))
case("f32_cutoff_1e6", np.array([1e6, 1.5], dtype=np.float32))
case("f32_below_cutoff", np.array([999999.0, 1000.5], dtype=np.float32))
case("f32_long_wrap", (rng.standard_normal(40) * 100).astype(np.float32))

# randomized cases: mixed magnitudes, signs, shapes, non-finite values, both float types
for k in range(150):
    ndim = int(rng.integers(1, 4))
    shape = tuple(int(n) for n in rng.integers(1, 5, size=ndim))
    scale = 10.0 ** rng.integers(-9, 12, size=shape)
    kind = k % 5
    if kind == 0:
        arr = rng.standard_normal(shape) * scale
    elif kind == 1:
        arr = np.round(rng.standard_normal(shape) * 100, int(rng.integers(0, 4)))
    elif kind == 2:
        arr = rng.standard_normal(shape) * float(10.0 ** rng.integers(-5, 9))
    elif kind == 3:
        arr = rng.integers(-10**int(rng.integers(1, 12)), 10**int(rng.integers(1, 12)), size=shape)
    else:
        arr = rng.standard_normal(shape) * float(10.0 ** rng.integers(-3, 5))
        arr.ravel()[rng.integers(0, arr.size)] = [np.nan, np.inf, -np.inf, 0.0, -0.0][k % 5]
    if kind != 3 and k % 2 == 0:
        arr = arr.astype(np.float32)
    case(f"random_{k}", arr)

with open(os.path.join(HERE, "print_cases.json"), "w") as f:
    json.dump({"numpy_version": np.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
print(len(cases), "print cases")
