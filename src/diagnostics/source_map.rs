//! Byte offsets to 1-based line/column (columns count Unicode scalar values, as
//! rustc does) and to LSP positions (UTF-16 code units).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineCol {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
}

/// Line starts of one source text, for offset conversions.
pub struct SourceMap<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceMap<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceMap { text, line_starts }
    }

    /// Clamps `offset` into the text and onto a character boundary.
    fn clamp(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// 0-based line index containing `offset`.
    pub fn line_index(&self, offset: usize) -> usize {
        let offset = self.clamp(offset);
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// Byte offset where 0-based `line` starts; the text's length past the last line.
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len())
    }

    /// Length in bytes of 0-based `line`, without its newline.
    pub fn line_len(&self, line: usize) -> usize {
        let start = self.line_start(line);
        let end = self.line_start(line + 1);
        let text = &self.text.as_bytes()[start..end];
        text.strip_suffix(b"\n").unwrap_or(text).len()
    }

    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = self.clamp(offset);
        let line = self.line_index(offset);
        let start = self.line_starts[line];
        LineCol {
            line: line + 1,
            column: self.text[start..offset].chars().count() + 1,
        }
    }

    /// LSP position: 0-based line and UTF-16 code units into the line.
    pub fn utf16_position(&self, offset: usize) -> (u32, u32) {
        let offset = self.clamp(offset);
        let line = self.line_index(offset);
        let start = self.line_starts[line];
        let units: usize = self.text[start..offset].chars().map(char::len_utf16).sum();
        (line as u32, units as u32)
    }

    /// Inverse of [`SourceMap::utf16_position`]; positions past a line's end clamp
    /// to the end of that line.
    pub fn offset_of_utf16(&self, line: u32, character: u32) -> usize {
        let line = line as usize;
        if line >= self.line_starts.len() {
            return self.text.len();
        }
        let start = self.line_starts[line];
        let end = self
            .line_starts
            .get(line + 1)
            .map(|next| next - 1)
            .unwrap_or(self.text.len());
        let mut units = 0u32;
        for (i, ch) in self.text[start..end].char_indices() {
            if units >= character {
                return start + i;
            }
            units += ch.len_utf16() as u32;
        }
        end
    }
}
