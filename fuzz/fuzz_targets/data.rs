//! The `.npy`, `.npz` and safetensors readers on any bytes: an error or an array whose
//! size agrees with its shape, never a panic or an oversized allocation
//! (libFuzzer's -rss_limit_mb catches those).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = gradlang::data::read_npy_bytes(data) {
        let n: usize = a.shape().iter().product();
        let _ = n;
        let _ = gradlang::data::format_array(a.view());
    }
    // Unknown length too (a pipe): the same answer as with a known length.
    let streamed = gradlang::data::read_npy_from(&mut &data[..], None);
    assert_eq!(
        streamed.is_ok(),
        gradlang::data::read_npy_bytes(data).is_ok(),
        "streamed and in-memory reads disagree"
    );
    if let Ok(members) = gradlang::data::read_npz_from(std::io::Cursor::new(data)) {
        let mut names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate member names accepted");
    }
    if let Ok(file) = gradlang::data::read_safetensors_bytes(data) {
        for (_, a) in &file.tensors {
            let _ = gradlang::data::format_array(a.view());
        }
    }
});
