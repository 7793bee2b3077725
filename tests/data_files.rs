//! Tests of the data module through its public API: `.npy`/`.npz` reading against
//! fixtures made by real NumPy (tests/data/gen_fixtures.py), every error path, atomic
//! writing, NumPy-style printing (expected strings from NumPy) and JSON encoding.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gradlang::data::{
    array_to_json, encode_npy, format_array, format_array_f32, format_array_f64, format_array_i64,
    format_scalar, read_npy, read_npy_bytes, read_npz, read_safetensors_bytes, write_atomic,
    write_npy_atomic, ArrayData, ArrayRef, DataError, DataErrorKind,
};
use ndarray::{arr0, array, ArrayD, IxDyn};
use proptest::prelude::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/npy")
        .join(name)
}

fn a23() -> ArrayD<f64> {
    array![[1.5, -2.25, 3.0], [4.125, 0.1, -6.0]].into_dyn()
}

fn i34() -> ArrayD<i64> {
    ArrayD::from_shape_vec(IxDyn(&[3, 4]), (0..12).map(|x| x - 5).collect()).unwrap()
}

fn a3() -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(&[2, 3, 4]), (0..24).map(|x| x as f64 / 4.0).collect()).unwrap()
}

/// A version 1.0 `.npy` file with the given header dict and data bytes.
fn npy_v1(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

fn err_of(r: Result<ArrayData, DataError>) -> DataError {
    match r {
        Ok(a) => panic!("expected an error, got an array of shape {:?}", a.shape()),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------- reading fixtures

#[test]
fn reads_float_fixtures_in_both_byte_orders_and_layouts() {
    for name in [
        "f8_le_c.npy",
        "f8_be_c.npy",
        "f8_le_f.npy",
        "f8_v2.npy",
        "f8_v3.npy",
    ] {
        let a = read_npy(&fixture(name)).unwrap();
        assert_eq!(a.dtype_name(), "float64", "{name}");
        assert_eq!(a.shape(), &[2, 3], "{name}");
        let ArrayData::F64(v) = &a else {
            panic!("{name}: not f64")
        };
        assert!(v.is_standard_layout(), "{name}");
        assert_eq!(v, &a23(), "{name}");
    }
    for name in ["f4_le_c.npy", "f4_be_c.npy"] {
        let a = read_npy(&fixture(name)).unwrap();
        assert_eq!(a.dtype_name(), "float32");
        assert_eq!(a.to_f32().unwrap(), a23().mapv(|x| x as f32), "{name}");
        assert_eq!(
            a.to_f64().unwrap(),
            a23().mapv(|x| f64::from(x as f32)),
            "{name}"
        );
        assert!(a.to_i64().is_none());
    }
}

#[test]
fn reads_int_fixtures_in_both_byte_orders_and_layouts() {
    for (name, dtype) in [
        ("i4_le_c.npy", "int32"),
        ("i4_be_f.npy", "int32"),
        ("i8_le_f.npy", "int64"),
        ("i8_be_c.npy", "int64"),
    ] {
        let a = read_npy(&fixture(name)).unwrap();
        assert_eq!(a.dtype_name(), dtype, "{name}");
        assert_eq!(a.to_i64().unwrap(), i34(), "{name}");
        assert!(a.to_f64().is_none() && a.to_f32().is_none());
        match &a {
            ArrayData::I32(v) => assert!(v.is_standard_layout()),
            ArrayData::I64(v) => assert!(v.is_standard_layout()),
            _ => panic!("{name}: not an int array"),
        }
    }
}

#[test]
fn reads_3d_fortran_order_as_row_major() {
    for name in ["f8_3d_c.npy", "f8_3d_f.npy"] {
        let ArrayData::F64(v) = read_npy(&fixture(name)).unwrap() else {
            panic!("{name}: not f64")
        };
        assert!(v.is_standard_layout());
        assert_eq!(v, a3(), "{name}");
        assert_eq!(v.iter().copied().collect::<Vec<_>>()[..3], [0.0, 0.25, 0.5]);
    }
    let a = read_npy(&fixture("f4_3d_be_f.npy")).unwrap();
    assert_eq!(a.to_f64().unwrap(), a3());
}

#[test]
fn reads_0d_and_empty_arrays() {
    let a = read_npy(&fixture("f8_0d.npy")).unwrap();
    assert_eq!(a.shape(), &[] as &[usize]);
    assert_eq!(a.to_f64().unwrap(), arr0(3.5).into_dyn());
    let i = read_npy(&fixture("i8_0d.npy")).unwrap();
    assert_eq!(i.to_i64().unwrap(), arr0(-7i64).into_dyn());
    let e = read_npy(&fixture("f8_empty.npy")).unwrap();
    assert_eq!(e.shape(), &[0, 3]);
}

#[test]
fn reads_hand_made_headers() {
    // double quotes, no trailing comma, shape as `(2,)`, Python 2 longs, '=' order
    let data: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let bytes = npy_v1(
        r#"{"descr": "<f8", "fortran_order": False, "shape": (2,)}"#,
        &data,
    );
    assert_eq!(read_npy_bytes(&bytes).unwrap().shape(), &[2]);
    let bytes = npy_v1(
        "{'shape': (1L, 2L), 'descr': '<f8', 'fortran_order': False, }",
        &data,
    );
    assert_eq!(read_npy_bytes(&bytes).unwrap().shape(), &[1, 2]);
    let ne: Vec<u8> = [1i32, -2].iter().flat_map(|x| x.to_ne_bytes()).collect();
    let bytes = npy_v1(
        "{'descr': '=i4', 'fortran_order': False, 'shape': (2,), }",
        &ne,
    );
    assert_eq!(
        read_npy_bytes(&bytes).unwrap().to_i64().unwrap(),
        array![1i64, -2].into_dyn()
    );
}

// ---------------------------------------------------------------- writing

#[test]
fn writer_is_byte_identical_to_numpy_save() {
    let cases: Vec<(&str, ArrayData)> = vec![
        (
            "written_f8_2d.npy",
            ArrayData::F64(
                ArrayD::from_shape_vec(IxDyn(&[3, 4]), (0..12).map(f64::from).collect()).unwrap(),
            ),
        ),
        (
            "written_f4_1d.npy",
            ArrayData::F32(array![0.5f32, -1.0, 2.0].into_dyn()),
        ),
        ("written_i8_0d.npy", ArrayData::I64(arr0(42i64).into_dyn())),
        (
            "written_i4_3d.npy",
            ArrayData::I32(ArrayD::from_shape_vec(IxDyn(&[2, 3, 4]), (0..24).collect()).unwrap()),
        ),
    ];
    for (name, value) in cases {
        let expected = std::fs::read(fixture(name)).unwrap();
        assert_eq!(encode_npy(value.view()), expected, "{name}");
    }
}

#[test]
fn write_then_read_round_trips_every_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let values = [
        ArrayData::F32(a3().mapv(|x| x as f32)),
        ArrayData::F64(a23()),
        ArrayData::I32(i34().mapv(|x| x as i32)),
        ArrayData::I64(i34()),
        ArrayData::F64(arr0(f64::NAN).into_dyn()),
        ArrayData::F64(ArrayD::zeros(IxDyn(&[0, 5]))),
    ];
    for (k, v) in values.iter().enumerate() {
        let path = dir.path().join(format!("v{k}.npy"));
        write_npy_atomic(&path, v).unwrap();
        let back = read_npy(&path).unwrap();
        assert_eq!(back.dtype_name(), v.dtype_name());
        assert_eq!(back.shape(), v.shape());
        // NaN != NaN, so compare the encodings
        assert_eq!(encode_npy(back.view()), encode_npy(v.view()));
        let bytes = std::fs::read(&path).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!(
            (10 + header_len) % 64,
            0,
            "data must start at a multiple of 64"
        );
    }
}

#[test]
fn writing_a_transposed_view_writes_c_order() {
    let dir = tempfile::tempdir().unwrap();
    let a = a23();
    let t = a.t(); // not standard layout
    let path = dir.path().join("t.npy");
    write_npy_atomic(&path, ArrayRef::F64(t.view())).unwrap();
    let back = read_npy(&path).unwrap();
    assert_eq!(back.shape(), &[3, 2]);
    assert_eq!(back.to_f64().unwrap(), a.t().to_owned());
}

#[test]
fn atomic_write_leaves_only_the_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    write_atomic(&path, b"first version, longer").unwrap();
    write_atomic(&path, b"second").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["out.bin".to_string()], "no temporary file left");
}

#[test]
fn atomic_write_into_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("x.npy");
    let e = write_npy_atomic(&path, ArrayRef::I64(i34().view())).unwrap_err();
    assert_eq!(e.kind(), DataErrorKind::Io);
    assert_eq!(e.path(), Some(path.as_path()));
    assert!(e.to_string().contains("no such file or directory"), "{e}");
    assert!(!dir.path().join("missing").exists());
}

#[test]
fn atomic_write_onto_a_directory_is_an_error_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sub");
    std::fs::create_dir(&target).unwrap();
    let e = write_atomic(&target, b"x").unwrap_err();
    assert_eq!(e.kind(), DataErrorKind::Io);
    assert!(e.to_string().contains("is a directory"), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

// ---------------------------------------------------------------- npz

#[test]
fn reads_stored_npz_with_two_arrays() {
    let arrays = read_npz(&fixture("two.npz")).unwrap();
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x", "labels"]);
    assert_eq!(arrays[0].1.to_f64().unwrap(), a23());
    assert_eq!(arrays[1].1.to_i64().unwrap(), array![0i64, 2, 1].into_dyn());
}

#[test]
fn reads_deflated_npz() {
    let arrays = read_npz(&fixture("deflated.npz")).unwrap();
    assert_eq!(arrays.len(), 2);
    let (name, w) = &arrays[0];
    assert_eq!(name, "w");
    assert_eq!(w.dtype_name(), "float32");
    assert_eq!(w.shape(), &[10, 10]);
    assert_eq!(w.to_f64().unwrap()[[9, 9]], 99.0);
    assert_eq!(arrays[1].0, "b");
    assert_eq!(
        arrays[1].1.to_f64().unwrap(),
        ArrayD::<f64>::zeros(IxDyn(&[10]))
    );
}

#[test]
fn npz_errors_name_the_member() {
    let e = read_npz(&fixture("bad_member.npz")).unwrap_err();
    assert_eq!(e.member(), Some("bad.npy"));
    let text = e.to_string();
    assert!(
        text.contains("bad_member.npz (member 'bad.npy'): truncated data"),
        "{text}"
    );

    let e = read_npz(&fixture("not_npy_member.npz")).unwrap_err();
    assert_eq!(e.member(), Some("readme.txt"));
    assert!(e.to_string().contains("is not a .npy file"), "{e}");

    let e = read_npz(&fixture("f8_le_c.npy")).unwrap_err();
    assert_eq!(e.kind(), DataErrorKind::Format);
    assert!(e.to_string().contains("not an .npz file"), "{e}");

    let e = read_npz(&fixture("nope.npz")).unwrap_err();
    assert_eq!(e.kind(), DataErrorKind::Io);
    assert!(e.to_string().contains("no such file or directory"), "{e}");

    let e = read_npz(&fixture("")).unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
}

#[test]
fn npz_member_lying_about_its_size_is_refused() {
    // A stored member whose local and central headers claim 1 GB uncompressed.
    let inner = npy_v1(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    let mut zip = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("a.npy", opts).unwrap();
        std::io::Write::write_all(&mut w, &inner).unwrap();
        w.finish().unwrap();
    }
    // Patch the declared uncompressed size (local header offset 22, central 24).
    let huge = 1_000_000_000u32.to_le_bytes();
    zip[22..26].copy_from_slice(&huge);
    let cd = zip
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("central directory");
    zip[cd + 24..cd + 28].copy_from_slice(&huge);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.npz");
    std::fs::write(&path, &zip).unwrap();
    let e = read_npz(&path).unwrap_err();
    assert_eq!(e.kind(), DataErrorKind::TooLarge, "{e}");
    assert_eq!(e.member(), Some("a.npy"));
}

// ---------------------------------------------------------------- error paths

#[test]
fn missing_file_and_directory_are_io_errors_with_the_path() {
    let p = fixture("does_not_exist.npy");
    let e = err_of(read_npy(&p));
    assert_eq!(e.kind(), DataErrorKind::Io);
    assert_eq!(e.path(), Some(p.as_path()));
    assert!(e.to_string().starts_with(&p.display().to_string()));
    assert!(e.to_string().contains("no such file or directory"), "{e}");

    let d = fixture("");
    let e = err_of(read_npy(&d));
    assert_eq!(e.kind(), DataErrorKind::Io);
    assert!(e.to_string().contains("is a directory"), "{e}");
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_a_permission_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("secret.npy");
    std::fs::copy(fixture("f8_le_c.npy"), &p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&p).is_ok() {
        return; // running as root: permissions are not enforced
    }
    let e = err_of(read_npy(&p));
    assert!(e.to_string().contains("permission denied"), "{e}");
}

#[test]
fn empty_file_and_bad_magic() {
    let e = err_of(read_npy_bytes(b""));
    assert_eq!(e.to_string(), "not a .npy file: the file is empty");
    let e = err_of(read_npy_bytes(b"hello world, this is text"));
    assert_eq!(e.kind(), DataErrorKind::Format);
    assert!(e.to_string().contains("magic string"), "{e}");
    let npz = std::fs::read(fixture("two.npz")).unwrap();
    let e = err_of(read_npy_bytes(&npz));
    assert!(e.to_string().contains("zip archive"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.npy");
    std::fs::write(&p, b"").unwrap();
    let e = err_of(read_npy(&p));
    assert_eq!(
        e.to_string(),
        format!("{}: not a .npy file: the file is empty", p.display())
    );
}

#[test]
fn unsupported_version() {
    let mut bytes = std::fs::read(fixture("f8_le_c.npy")).unwrap();
    bytes[6] = 4;
    let e = err_of(read_npy_bytes(&bytes));
    assert_eq!(e.kind(), DataErrorKind::Unsupported);
    assert!(e.to_string().contains("format version 4.0"), "{e}");
}

#[test]
fn truncated_header() {
    let bytes = std::fs::read(fixture("f8_le_c.npy")).unwrap();
    for cut in [7, 9, 40] {
        let e = err_of(read_npy_bytes(&bytes[..cut]));
        assert_eq!(e.kind(), DataErrorKind::Format);
        assert!(e.to_string().contains("truncated header"), "cut {cut}: {e}");
    }
    let e = err_of(read_npy_bytes(&bytes[..40]));
    assert!(
        e.to_string()
            .contains("declares 118 header bytes but only 30 follow"),
        "{e}"
    );
}

#[test]
fn truncated_data_says_expected_and_actual_bytes() {
    let bytes = std::fs::read(fixture("f8_le_c.npy")).unwrap();
    let e = err_of(read_npy_bytes(&bytes[..bytes.len() - 8]));
    assert_eq!(
        e.to_string(),
        "truncated data: shape (2, 3) of float64 needs 48 bytes (6 elements) but the file \
         holds only 40 bytes of data"
    );
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut bytes = std::fs::read(fixture("i4_le_c.npy")).unwrap();
    bytes.extend_from_slice(b"xyz");
    let e = err_of(read_npy_bytes(&bytes));
    assert_eq!(e.kind(), DataErrorKind::Format);
    assert_eq!(
        e.to_string(),
        "3 unexpected bytes after the data: shape (3, 4) of int32 needs 48 bytes but the \
         file holds 51 bytes of data"
    );
}

#[test]
fn giant_declared_shape_fails_fast_without_allocating() {
    let start = Instant::now();
    let bytes = npy_v1(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000000,), }",
        &[0; 16],
    );
    let e = err_of(read_npy_bytes(&bytes));
    assert_eq!(e.kind(), DataErrorKind::TooLarge);
    assert!(
        e.to_string().contains("needs 8000000000000000 bytes"),
        "{e}"
    );
    let bytes = npy_v1(
        "{'descr': '<i8', 'fortran_order': True, 'shape': (4294967296, 4294967296, 16), }",
        &[],
    );
    let e = err_of(read_npy_bytes(&bytes));
    assert_eq!(e.kind(), DataErrorKind::TooLarge);
    assert!(
        e.to_string()
            .contains("more elements than can be addressed"),
        "{e}"
    );
    let bytes = npy_v1(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
        &[],
    );
    assert_eq!(
        err_of(read_npy_bytes(&bytes)).kind(),
        DataErrorKind::TooLarge
    );
    assert!(start.elapsed().as_secs() < 2);
}

#[test]
fn unsupported_dtypes_are_named() {
    for (name, descr, what) in [
        ("c16.npy", "'<c16'", "complex128"),
        ("u3.npy", "'<U3'", "unicode string"),
        ("u1.npy", "'|u1'", "uint8"),
    ] {
        let e = err_of(read_npy(&fixture(name)));
        assert_eq!(e.kind(), DataErrorKind::Unsupported, "{name}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("unsupported dtype {descr} ({what})")),
            "{name}: {text}"
        );
        assert!(
            text.contains("supported dtypes are float32 ('<f4', '>f4')"),
            "{text}"
        );
    }
    let e = err_of(read_npy(&fixture("object.npy")));
    assert_eq!(e.kind(), DataErrorKind::Unsupported);
    assert!(
        e.to_string()
            .contains("object arrays (dtype '|O') are not supported"),
        "{e}"
    );
    let e = err_of(read_npy_bytes(&npy_v1(
        "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    )));
    assert!(e.to_string().contains("structured dtypes"), "{e}");
}

#[test]
fn malformed_headers() {
    let cases = [
        (
            "{'descr': '<f8', 'shape': (2,), }",
            "missing the key 'fortran_order'",
        ),
        (
            "{'fortran_order': False, }",
            "missing the keys 'descr', 'shape'",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1, }",
            "unexpected key 'extra'",
        ),
        (
            "{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }",
            "must be True or False",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }",
            "negative dimension",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2.5,), }",
            "expected an integer",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': 'x', }",
            "must be a tuple",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,",
            "not a valid Python dict",
        ),
        ("['descr']", "expected '{'"),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } junk",
            "after the dict",
        ),
        ("{'descr: '<f8'}", "not a valid Python dict"),
    ];
    for (header, needle) in cases {
        let e = err_of(read_npy_bytes(&npy_v1(header, &[0; 16])));
        assert_eq!(e.kind(), DataErrorKind::Format, "{header}");
        assert!(e.to_string().contains(needle), "{header}: {e}");
    }
}

#[test]
fn deeply_nested_header_does_not_overflow_the_stack() {
    let header = format!("{{'descr': {}", "(".repeat(100_000));
    let e = err_of(read_npy_bytes(&npy_v1(&header, &[])));
    assert!(e.to_string().contains("nesting too deep"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = read_npy_bytes(&bytes);
        let mut with_magic = b"\x93NUMPY\x01\x00".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = read_npy_bytes(&with_magic);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        edits in proptest::collection::vec((0usize..200, any::<u8>()), 1..6),
        cut in 0usize..200,
    ) {
        let mut bytes = npy_v1("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", &[0; 48]);
        for (pos, b) in edits {
            let n = bytes.len();
            bytes[pos % n] = b;
        }
        let n = bytes.len();
        bytes.truncate(n - cut % 20);
        let _ = read_npy_bytes(&bytes);
    }

    #[test]
    fn arbitrary_and_mutated_safetensors_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        edits in proptest::collection::vec((0usize..200, any::<u8>()), 1..6),
        cut in 0usize..200,
    ) {
        let _ = read_safetensors_bytes(&bytes);
        let header = br#"{"__metadata__":{"a":"b"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"m":{"dtype":"BOOL","shape":[2],"data_offsets":[24,26]}}"#;
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header);
        file.extend_from_slice(&[0; 26]);
        assert!(read_safetensors_bytes(&file).is_ok());
        for (pos, b) in edits {
            let n = file.len();
            file[pos % n] = b;
        }
        let n = file.len();
        file.truncate(n - cut % 20);
        if let Ok(f) = read_safetensors_bytes(&file) {
            for (_, a) in &f.tensors {
                let count: usize = a.shape().iter().product();
                prop_assert!(count <= file.len());
            }
        }
    }

    #[test]
    fn f64_values_round_trip(values in proptest::collection::vec(any::<f64>(), 0..50)) {
        let a = ArrayData::F64(ArrayD::from_shape_vec(IxDyn(&[values.len()]), values).unwrap());
        let back = read_npy_bytes(&encode_npy(a.view())).unwrap();
        prop_assert_eq!(encode_npy(back.view()), encode_npy(a.view()));
    }
}

// ---------------------------------------------------------------- printing

proptest! {
    #[test]
    fn printing_any_values_never_panics_and_fits_75_columns(
        values in proptest::collection::vec(any::<f64>(), 1..120),
        cols in 1usize..8,
    ) {
        let rows = values.len() / cols;
        prop_assume!(rows >= 1);
        let a = ArrayD::from_shape_vec(IxDyn(&[rows, cols]), values[..rows * cols].to_vec()).unwrap();
        for text in [
            format_array_f64(&a.view()),
            format_array_f32(&a.mapv(|x| x as f32).view()),
            format_array_i64(&a.mapv(|x| x as i64).view()),
        ] {
            prop_assert!(text.starts_with("[[") && text.ends_with("]]"), "{}", text);
            for line in text.lines() {
                prop_assert!(line.len() <= 75, "line too long: {:?}", line);
            }
        }
    }
}

#[test]
fn printing_matches_numpy() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/print_cases.json"),
    )
    .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut failures = Vec::new();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() > 50);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let data = case["data"].as_array().unwrap();
        let float = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
        let got = match case["dtype"].as_str().unwrap() {
            "f64" => {
                let a = ArrayD::from_shape_vec(IxDyn(&shape), data.iter().map(float).collect())
                    .unwrap();
                format_array_f64(&a.view())
            }
            "f32" => {
                let a = ArrayD::from_shape_vec(
                    IxDyn(&shape),
                    data.iter().map(|v| float(v) as f32).collect(),
                )
                .unwrap();
                format_array_f32(&a.view())
            }
            "i64" => {
                let a = ArrayD::from_shape_vec(
                    IxDyn(&shape),
                    data.iter().map(|v| v.as_i64().unwrap()).collect(),
                )
                .unwrap();
                format_array_i64(&a.view())
            }
            "i32" => {
                let a = ArrayD::from_shape_vec(
                    IxDyn(&shape),
                    data.iter().map(|v| v.as_i64().unwrap() as i32).collect(),
                )
                .unwrap();
                format_array(ArrayRef::I32(a.view()))
            }
            other => panic!("unknown dtype {other}"),
        };
        let expected = case["expected"].as_str().unwrap();
        if got != expected {
            failures.push(format!("--- {name}\nexpected:\n{expected}\ngot:\n{got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn printing_examples() {
    let f = |v: ArrayD<f64>| format_array_f64(&v.view());
    assert_eq!(f(array![1.0, 2.0, 3.0].into_dyn()), "[1. 2. 3.]");
    assert_eq!(f(array![1.5, 2.25].into_dyn()), "[1.5  2.25]");
    assert_eq!(
        f(array![[1.0, -2.0], [3.0, 4.0]].into_dyn()),
        "[[ 1. -2.]\n [ 3.  4.]]"
    );
    assert_eq!(f(array![1e-5, 1.0].into_dyn()), "[1.e-05 1.e+00]");
    assert_eq!(
        f(array![1.0, f64::NAN, f64::NEG_INFINITY].into_dyn()),
        "[  1.  nan -inf]"
    );
    assert_eq!(f(arr0(3.5).into_dyn()), "3.5");
    assert_eq!(format_array_f32(&arr0(0.1f32).into_dyn().view()), "0.1");
    assert_eq!(format_array_i64(&arr0(-3i64).into_dyn().view()), "-3");
    assert_eq!(format_scalar(1e20f64), "1e+20");
    assert_eq!(format_scalar(2.0f32), "2.0");
    assert_eq!(format_scalar(f64::INFINITY), "inf");
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_encoding_is_flat_row_major() {
    let a = array![[1.5f64, -2.0], [3.0, 4.25]].into_dyn();
    let v = array_to_json(ArrayRef::F64(a.t().into_dyn()));
    assert_eq!(
        v,
        json!({"dtype": "f64", "shape": [2, 2], "data": [1.5, 3.0, -2.0, 4.25]})
    );
    let v = array_to_json(ArrayRef::I64(i34().view()));
    assert_eq!(v["dtype"], "int");
    assert_eq!(v["shape"], json!([3, 4]));
    assert_eq!(v["data"][0], json!(-5));
    assert_eq!(v["data"].as_array().unwrap().len(), 12);
    let v = array_to_json(ArrayRef::I32(arr0(7i32).into_dyn().view()));
    assert_eq!(v, json!({"dtype": "int", "shape": [], "data": [7]}));
}

#[test]
fn json_f32_uses_shortest_decimal_and_non_finite_strings() {
    let a = array![
        0.1f32,
        1.0 / 3.0,
        1e-7,
        3e38,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY
    ]
    .into_dyn();
    let text = serde_json::to_string(&array_to_json(ArrayRef::F32(a.view()))).unwrap();
    assert!(
        text.contains(r#""data":[0.1,0.33333334,1e-7,3e+38,"nan","inf","-inf"]"#),
        "{text}"
    );
    assert!(text.contains(r#""dtype":"f32""#));
    let v = array_to_json(ArrayRef::F64(
        array![f64::NAN, -f64::INFINITY].into_dyn().view(),
    ));
    assert_eq!(v["data"], json!(["nan", "-inf"]));
}
