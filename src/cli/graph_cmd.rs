//! `gradlang graph FILE [--of NAME,..] [--backward] -o OUT.svg|OUT.dot`: the
//! computation as a picture (SPEC section 12), written atomically.

use super::backward_cmd::{load, misuse_unknown};
use crate::show::draw::{to_dot, to_svg, DrawOptions};
use std::path::Path;
use std::process::ExitCode;

enum Kind {
    Svg,
    Dot,
}

pub fn run(
    file: &Path,
    of: Option<Vec<String>>,
    backward: bool,
    out: &Path,
    dims: &[(String, usize)],
) -> ExitCode {
    let kind = match out.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => Kind::Svg,
        Some(e) if e.eq_ignore_ascii_case("dot") || e.eq_ignore_ascii_case("gv") => Kind::Dot,
        _ => {
            eprintln!(
                "error: cannot tell the format of `{}`: -o takes a file ending in .svg or .dot",
                out.display()
            );
            return ExitCode::from(2);
        }
    };
    let loaded = match load(file, dims) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let dot = match to_dot(
        &loaded.checked,
        &loaded.prepared.lowered,
        &loaded.prepared.dims,
        &DrawOptions {
            of: of.as_deref(),
            backward,
        },
    ) {
        Ok(d) => d,
        Err(u) => {
            misuse_unknown("binding", &u.name, u.suggestion.as_deref());
            return ExitCode::from(2);
        }
    };
    let bytes = match kind {
        Kind::Dot => dot,
        Kind::Svg => match to_svg(&dot) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: internal error while laying out the graph: {e}");
                return ExitCode::from(1);
            }
        },
    };
    match crate::data::write_atomic(out, bytes.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
