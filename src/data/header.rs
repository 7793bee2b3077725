//! The `.npy` header: a Python dict literal such as
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
//!
//! This is a small recursive-descent parser for the subset of Python literals NumPy
//! writes (strings, ints, `True`/`False`/`None`, tuples, lists, dicts), plus the
//! writer that produces the header byte-for-byte as `numpy.save` does.

use super::error::{DataError, DataErrorKind};

/// Element types this module reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    I32,
    I64,
    /// NumPy's `|b1`: one byte per element, 0 or 1.
    Bool,
}

impl Dtype {
    pub fn item_size(self) -> usize {
        match self {
            Dtype::Bool => 1,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }

    /// The little-endian descr NumPy writes, e.g. `<f8`.
    pub fn descr_le(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::I32 => "<i4",
            Dtype::I64 => "<i8",
            Dtype::Bool => "|b1",
        }
    }
}

/// The parsed, validated header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub dtype: Dtype,
    pub big_endian: bool,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

const SUPPORTED: &str = "supported dtypes are float32 ('<f4', '>f4'), float64 ('<f8', '>f8'), \
                         int32 ('<i4', '>i4'), int64 ('<i8', '>i8') and bool ('|b1')";

fn format_err(msg: impl Into<String>) -> DataError {
    DataError::new(DataErrorKind::Format, msg)
}

fn unsupported(msg: impl Into<String>) -> DataError {
    DataError::new(DataErrorKind::Unsupported, msg)
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

impl Lit {
    fn describe(&self) -> String {
        match self {
            Lit::Str(s) => format!("'{s}'"),
            Lit::Int(i) => i.to_string(),
            Lit::Bool(true) => "True".into(),
            Lit::Bool(false) => "False".into(),
            Lit::None => "None".into(),
            Lit::Tuple(_) => "a tuple".into(),
            Lit::List(_) => "a list".into(),
            Lit::Dict(_) => "a dict".into(),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

/// Nesting deeper than this is not a NumPy header; refusing it keeps recursion bounded.
const MAX_DEPTH: usize = 32;

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn err(&self, what: &str) -> DataError {
        format_err(format!(
            "the header is not a valid Python dict literal: {what} at character {}",
            self.pos + 1
        ))
    }

    fn expect(&mut self, c: u8) -> Result<(), DataError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Lit, DataError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            None => Err(self.err("unexpected end")),
            Some(b'\'') | Some(b'"') => self.string(),
            Some(b'(') => {
                self.pos += 1;
                let (items, trailing_comma) = self.sequence(b')', depth)?;
                // `(3)` is just the int 3 in Python; only `(3,)` is a tuple.
                if items.len() == 1 && !trailing_comma {
                    Ok(items.into_iter().next().unwrap_or(Lit::None))
                } else {
                    Ok(Lit::Tuple(items))
                }
            }
            Some(b'[') => {
                self.pos += 1;
                Ok(Lit::List(self.sequence(b']', depth)?.0))
            }
            Some(b'{') => {
                self.pos += 1;
                self.dict(depth)
            }
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_alphanumeric() {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Lit::Bool(true)),
                    b"False" => Ok(Lit::Bool(false)),
                    b"None" => Ok(Lit::None),
                    _ => {
                        self.pos = start;
                        Err(self.err("unexpected name"))
                    }
                }
            }
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn string(&mut self) -> Result<Lit, DataError> {
        let quote = self.s[self.pos];
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.pos) {
                None => return Err(self.err("unterminated string")),
                Some(&c) if c == quote => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    let next = self.s.get(self.pos + 1).copied();
                    match next {
                        Some(c @ (b'\\' | b'\'' | b'"')) => out.push(c),
                        Some(b'n') => out.push(b'\n'),
                        Some(b't') => out.push(b'\t'),
                        _ => return Err(self.err("unsupported escape in string")),
                    }
                    self.pos += 2;
                }
                Some(&c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(Lit::Str(String::from_utf8_lossy(&out).into_owned()))
    }

    fn int(&mut self) -> Result<Lit, DataError> {
        let start = self.pos;
        if matches!(self.s[self.pos], b'-' | b'+') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(self.err("expected a number"));
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        let value: i128 = text
            .parse()
            .map_err(|_| self.err(&format!("integer '{text}' is out of range")))?;
        // Python 2 long suffix, as in headers written by old NumPy: `(3L, 4L)`.
        if self.pos < self.s.len() && matches!(self.s[self.pos], b'L' | b'l') {
            self.pos += 1;
        }
        if self.pos < self.s.len() && matches!(self.s[self.pos], b'.' | b'e' | b'E' | b'j') {
            return Err(self.err("expected an integer"));
        }
        Ok(Lit::Int(value))
    }

    /// Items up to `close`; returns whether the last item had a trailing comma.
    fn sequence(&mut self, close: u8, depth: usize) -> Result<(Vec<Lit>, bool), DataError> {
        let mut items = Vec::new();
        let mut trailing = false;
        loop {
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((items, trailing));
            }
            items.push(self.value(depth + 1)?);
            trailing = false;
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    trailing = true;
                }
                Some(c) if c == close => {}
                _ => return Err(self.err(&format!("expected ',' or '{}'", close as char))),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Lit, DataError> {
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Lit::Dict(items));
            }
            let key = self.value(depth + 1)?;
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            items.push((key, value));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }
}

/// Parse and validate a header dict (the text between the length field and the data).
pub fn parse_header(text: &str) -> Result<Header, DataError> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    if p.peek() != Some(b'{') {
        return Err(p.err("expected '{'"));
    }
    let lit = p.value(0)?;
    if p.peek().is_some() {
        return Err(p.err("unexpected text after the dict"));
    }
    let Lit::Dict(items) = lit else {
        return Err(p.err("expected a dict"));
    };

    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (k, v) in items {
        let Lit::Str(key) = k else {
            return Err(format_err(format!(
                "the header has a non-string key {}",
                k.describe()
            )));
        };
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            other => {
                return Err(format_err(format!(
                    "the header has an unexpected key '{other}' (expected exactly 'descr', \
                     'fortran_order' and 'shape')"
                )))
            }
        };
        if slot.is_some() {
            return Err(format_err(format!("the header has the key '{key}' twice")));
        }
        *slot = Some(v);
    }
    let missing: Vec<&str> = [
        ("descr", descr.is_none()),
        ("fortran_order", fortran.is_none()),
        ("shape", shape.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(k, _)| *k)
    .collect();
    if !missing.is_empty() {
        return Err(format_err(format!(
            "the header is missing the key{} {}",
            if missing.len() > 1 { "s" } else { "" },
            missing
                .iter()
                .map(|k| format!("'{k}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let (descr, fortran, shape) = match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => (d, f, s),
        _ => return Err(format_err("the header is missing keys")),
    };

    let (dtype, big_endian) = match descr {
        Lit::Str(s) => parse_descr(&s)?,
        Lit::List(_) => {
            return Err(unsupported(
                "structured dtypes (record arrays) are not supported; ".to_string() + SUPPORTED,
            ))
        }
        other => {
            return Err(format_err(format!(
                "the header's 'descr' must be a string, found {}",
                other.describe()
            )))
        }
    };
    let fortran_order = match fortran {
        Lit::Bool(b) => b,
        other => {
            return Err(format_err(format!(
                "the header's 'fortran_order' must be True or False, found {}",
                other.describe()
            )))
        }
    };
    let shape = match shape {
        Lit::Tuple(items) => {
            let mut dims = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Lit::Int(n) if n >= 0 => match usize::try_from(n) {
                        Ok(n) => dims.push(n),
                        Err(_) => {
                            return Err(DataError::new(
                                DataErrorKind::TooLarge,
                                format!("the header's shape has a dimension {n} that is too large"),
                            ))
                        }
                    },
                    Lit::Int(n) => {
                        return Err(format_err(format!(
                            "the header's shape has a negative dimension {n}"
                        )))
                    }
                    other => {
                        return Err(format_err(format!(
                            "the header's shape must hold integers, found {}",
                            other.describe()
                        )))
                    }
                }
            }
            dims
        }
        Lit::Int(n) if n >= 0 => match usize::try_from(n) {
            Ok(n) => vec![n],
            Err(_) => {
                return Err(DataError::new(
                    DataErrorKind::TooLarge,
                    format!("the header's shape has a dimension {n} that is too large"),
                ))
            }
        },
        other => {
            return Err(format_err(format!(
                "the header's 'shape' must be a tuple of integers, found {}",
                other.describe()
            )))
        }
    };
    Ok(Header {
        dtype,
        big_endian,
        fortran_order,
        shape,
    })
}

/// Parse a NumPy type string such as `<f8`, `>i4`, `|b1`.
fn parse_descr(descr: &str) -> Result<(Dtype, bool), DataError> {
    let (order, rest) = match descr.as_bytes().first() {
        Some(b'<') => ('<', &descr[1..]),
        Some(b'>') => ('>', &descr[1..]),
        Some(b'=') => ('=', &descr[1..]),
        Some(b'|') => ('|', &descr[1..]),
        _ => ('=', descr),
    };
    let big_endian = match order {
        '>' => true,
        '<' => false,
        // '=' is native order; '|' means "not applicable" and NumPy treats it as native.
        _ => cfg!(target_endian = "big"),
    };
    let dtype = match rest {
        "f4" => Some(Dtype::F32),
        "f8" => Some(Dtype::F64),
        "i4" => Some(Dtype::I32),
        "i8" => Some(Dtype::I64),
        "b1" => Some(Dtype::Bool),
        _ => None,
    };
    if let Some(d) = dtype {
        return Ok((d, big_endian));
    }
    let mut chars = rest.chars();
    let kind = chars.next();
    let size: Option<u32> = chars.as_str().parse().ok();
    if kind == Some('O') {
        return Err(unsupported(format!(
            "object arrays (dtype '{descr}') are not supported: they hold pickled Python \
             objects, not numbers; {SUPPORTED}"
        )));
    }
    let what = match (kind, size) {
        (Some('f'), Some(2)) => "float16".to_string(),
        (Some('f'), Some(n)) => format!("float{}", n * 8),
        (Some('i'), Some(n)) => format!("int{}", n * 8),
        (Some('u'), Some(n)) => format!("uint{}", n * 8),
        (Some('c'), Some(n)) => format!("complex{}", n * 8),
        (Some('b'), _) => "bool".to_string(),
        (Some('U'), _) => "unicode string".to_string(),
        (Some('S'), _) | (Some('a'), _) => "byte string".to_string(),
        (Some('V'), _) => "raw bytes (void)".to_string(),
        (Some('M'), _) => "datetime".to_string(),
        (Some('m'), _) => "timedelta".to_string(),
        _ => "unknown".to_string(),
    };
    Err(unsupported(format!(
        "unsupported dtype '{descr}' ({what}); {SUPPORTED}"
    )))
}

/// Python's `repr` of a shape tuple: `()`, `(3,)`, `(3, 4)`.
pub(crate) fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The full preamble (magic, version, header length, header) exactly as
/// `numpy.save` writes it for a little-endian C-order array: keys sorted, the spare
/// space NumPy reserves for growing the first axis, padded with spaces and a final
/// newline so the data starts at a multiple of 64 bytes. Version 1.0 unless the header
/// is too long for a 16-bit length, then 2.0.
pub fn write_preamble(dtype: Dtype, shape: &[usize]) -> Vec<u8> {
    const GROWTH_AXIS_MAX_DIGITS: usize = 21;
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        dtype.descr_le(),
        shape_repr(shape)
    );
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        header.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let hlen = header.len() + 1; // + '\n'
    let (version, len_bytes) = if (10 + hlen).div_ceil(64) * 64 - 10 <= u16::MAX as usize {
        (1u8, 2usize)
    } else {
        (2u8, 4usize)
    };
    let prefix = 6 + 2 + len_bytes;
    let padlen = 64 - ((prefix + hlen) % 64);
    let total_header = hlen + padlen;
    let mut out = Vec::with_capacity(prefix + total_header);
    out.extend_from_slice(b"\x93NUMPY");
    out.push(version);
    out.push(0);
    if len_bytes == 2 {
        out.extend_from_slice(&(total_header as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(total_header as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend(std::iter::repeat_n(b' ', padlen));
    out.push(b'\n');
    out
}
