//! `--log FILE.jsonl|FILE.csv`: every epoch's record appended to a file, in
//! one `write` per epoch, so a run that stops at any point leaves whole lines.
//!
//! Everything that can make the file unusable for this run (an extension
//! naming no format, an existing CSV with other columns) is decided by
//! [`Log::open`], before training starts; appending misaligned rows to a CSV
//! someone will plot later would be worse than refusing.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::{ReportError, ReportErrorKind};
use super::record::{number_text, EpochRecord};

/// An open log file, appended to once per epoch.
#[derive(Debug)]
pub struct Log {
    file: File,
    path: PathBuf,
    format: Format,
    /// Written before the next record: the CSV header when the file was empty,
    /// and/or a newline when the file ended inside a line (a run killed
    /// mid-write), so the next record starts a line of its own.
    pending: String,
}

#[derive(Debug)]
enum Format {
    Jsonl,
    Csv { columns: Vec<String>, has_val: bool },
}

impl Log {
    /// Opens (creating if needed) `path` for appending. `columns` are the names
    /// of the training values, `"loss"` first, then each metric; `has_val`
    /// whether the run has validation data (the CSV then has `val_` columns).
    ///
    /// Refused ([`ReportErrorKind::Refused`]) when the extension is neither
    /// `.jsonl` nor `.csv`, or when an existing, non-empty CSV's header differs
    /// from this run's. The parent directory must exist.
    pub fn open(path: &Path, columns: &[String], has_val: bool) -> Result<Log, ReportError> {
        let format = match extension(path).as_deref() {
            Some("jsonl") => Format::Jsonl,
            Some("csv") => Format::Csv {
                columns: columns.to_vec(),
                has_val,
            },
            _ => {
                return Err(ReportError::new(
                    ReportErrorKind::Refused,
                    path,
                    "a log file must be named *.jsonl (JSON lines) or *.csv",
                ))
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| ReportError::io(path, "open the log", &e))?;
        let meta = file
            .metadata()
            .map_err(|e| ReportError::io(path, "open the log", &e))?;
        // Only a regular file can be inspected; a device or pipe (a log named
        // `x.jsonl` linking to /dev/stderr) is written to as it comes.
        let existing = if meta.is_file() { meta.len() } else { 0 };
        let mut pending = String::new();
        if let Format::Csv { columns, has_val } = &format {
            let header = csv_header(columns, *has_val);
            if existing == 0 {
                pending = header + "\n";
            } else {
                let found = first_line(&mut file, header.len())
                    .map_err(|e| ReportError::io(path, "read the log's header", &e))?;
                if found != header {
                    return Err(ReportError::new(
                        ReportErrorKind::Refused,
                        path,
                        format!(
                            "the log has the columns `{}` but this run writes `{header}`: \
                             log to another file, or move this one away",
                            shorten(&found)
                        ),
                    ));
                }
            }
        }
        if existing > 0
            && !ends_with_newline(&mut file, existing)
                .map_err(|e| ReportError::io(path, "read the log", &e))?
        {
            pending.insert(0, '\n');
        }
        Ok(Log {
            file,
            path: path.to_path_buf(),
            format,
            pending,
        })
    }

    /// Appends one record (a JSON line, or a CSV row with the columns of
    /// [`Log::open`]) in a single write. Values the record lacks are empty CSV
    /// cells; values the columns do not name are not written.
    pub fn append(&mut self, record: &EpochRecord) -> Result<(), ReportError> {
        let mut text = self.pending.clone();
        match &self.format {
            Format::Jsonl => {
                text.push_str(&record.to_json().to_string());
            }
            Format::Csv { columns, has_val } => {
                text.push_str(&csv_row(record, columns, *has_val));
            }
        }
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| ReportError::io(&self.path, "append to the log", &e))?;
        self.pending.clear();
        Ok(())
    }

    /// The file as given to [`Log::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The extension, lower-cased (`RUN.CSV` is a CSV file).
fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// `epoch,step,lr,train_loss,train_acc,..,val_loss,val_acc,..,time_s`.
pub(crate) fn csv_header(columns: &[String], has_val: bool) -> String {
    let mut fields = vec!["epoch".to_string(), "step".into(), "lr".into()];
    fields.extend(columns.iter().map(|c| csv_field(&format!("train_{c}"))));
    if has_val {
        fields.extend(columns.iter().map(|c| csv_field(&format!("val_{c}"))));
    }
    fields.push("time_s".into());
    fields.join(",")
}

fn csv_row(r: &EpochRecord, columns: &[String], has_val: bool) -> String {
    let cell = |values: Option<&[(String, f64)]>, name: &str| {
        values
            .and_then(|v| v.iter().find(|(n, _)| n == name))
            .map_or(String::new(), |(_, x)| number_text(*x))
    };
    let mut fields = vec![r.epoch.to_string(), r.step.to_string(), number_text(r.lr)];
    fields.extend(columns.iter().map(|c| cell(Some(&r.train), c)));
    if has_val {
        fields.extend(columns.iter().map(|c| cell(r.val.as_deref(), c)));
    }
    fields.push(number_text(r.time_s));
    fields.join(",")
}

/// A CSV field, quoted (RFC 4180) when it holds a comma, quote or line break.
/// Metric names are identifiers, so this is a guard rather than a habit.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The file's first line without its line ending (and without a UTF-8 byte
/// order mark, which spreadsheet programs add), reading at most 64 KiB or a
/// little more than `expected_len` bytes: a longer first line differs anyway,
/// and a file without line breaks is not read whole.
fn first_line(file: &mut File, expected_len: usize) -> std::io::Result<String> {
    file.seek(SeekFrom::Start(0))?;
    let limit = u64::try_from(expected_len)
        .unwrap_or(u64::MAX)
        .saturating_add(8)
        .max(64 * 1024);
    let mut bytes = Vec::new();
    BufReader::new(&mut *file)
        .take(limit)
        .read_until(b'\n', &mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

fn ends_with_newline(file: &mut File, len: u64) -> std::io::Result<bool> {
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// At most 120 characters of a found header, for the message.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(120) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_train_then_val_columns() {
        let cols = vec!["loss".to_string(), "acc".to_string()];
        assert_eq!(
            csv_header(&cols, true),
            "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,time_s"
        );
        assert_eq!(
            csv_header(&cols, false),
            "epoch,step,lr,train_loss,train_acc,time_s"
        );
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }

    #[test]
    fn rows_follow_the_columns_not_the_record_order() {
        let cols = vec!["loss".to_string(), "acc".to_string()];
        let r = EpochRecord {
            epoch: 2,
            step: 20,
            lr: 0.5,
            train: vec![("acc".into(), 0.75), ("loss".into(), f64::NAN)],
            val: None,
            time_s: 1.0,
        };
        assert_eq!(csv_row(&r, &cols, true), "2,20,0.5,nan,0.75,,,1.0");
        assert_eq!(csv_row(&r, &cols, false), "2,20,0.5,nan,0.75,1.0");
    }

    #[test]
    fn long_headers_are_shortened_in_messages() {
        let long = "x".repeat(500);
        assert_eq!(shorten(&long).len(), 123);
        assert_eq!(shorten("a,b"), "a,b");
    }
}
