//! Reading responses: JSONL/NDJSON and CSV/TSV files (or JSONL on stdin) into
//! [`Record`]s, streaming, one record at a time.
//!
//! Every record read is either yielded as a [`Record`] or as a [`Reject`] that
//! names its file, line and reason — never silently dropped. A file that cannot
//! be read at all (missing, gzip, UTF-16, a JSON array, unknown type) is a
//! [`CorpusError`] raised by [`CorpusReader::open`] before anything is read, so
//! the caller can stop with nothing written.

mod csv_reader;
mod jsonl;
mod xlsx_reader;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Where responses come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputSource {
    File(PathBuf),
    /// The sample corpus bundled in the binary (`corpora/care-review/responses.jsonl`).
    Bundled,
    /// JSONL on standard input (`-` on the command line).
    Stdin,
}

impl InputSource {
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            InputSource::Stdin
        } else {
            InputSource::File(PathBuf::from(arg))
        }
    }

    pub fn display_name(&self) -> String {
        match self {
            InputSource::File(p) => p.display().to_string(),
            InputSource::Stdin => "<stdin>".to_owned(),
            InputSource::Bundled => BUNDLED_SAMPLE_NAME.to_owned(),
        }
    }
}

/// The bundled sample corpus, embedded so `thematic run` works from anywhere.
pub const BUNDLED_SAMPLE: &str = include_str!("../../corpora/care-review/responses.jsonl");
pub const BUNDLED_SAMPLE_NAME: &str = "corpora/care-review/responses.jsonl";

/// Which fields are the id and the texts; every other field is an attribute.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    pub id_field: String,
    /// One or more text fields; each becomes a separately coded question.
    pub text_fields: Vec<String>,
    /// The worksheet of XLSX inputs (default: the first).
    pub sheet: Option<String>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            id_field: "id".to_owned(),
            text_fields: vec!["text".to_owned()],
            sheet: None,
        }
    }
}

/// One usable response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub file: String,
    /// 1-based line where the record starts.
    pub line: u64,
    /// Attribute fields in file order (name, value); values NFC-normalised.
    pub attributes: Vec<(String, String)>,
    /// One entry per text field, in `ReadOptions::text_fields` order; `None`
    /// when the respondent did not answer that question. At least one is `Some`.
    pub answers: Vec<Option<String>>,
}

/// A record that could not be used, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

/// What reading one record gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Record(Record),
    Reject(Reject),
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: no such file; check the path and try again")]
    NotFound { path: String },
    #[error("{path}: cannot read: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: this is a gzip-compressed file; decompress it first (gunzip -k {path})")]
    Gzip { path: String },
    #[error("{path}: {message}")]
    Xlsx { path: String, message: String },
    #[error("{path}: this is a ZIP archive (an .xlsx workbook? name it .xlsx); or save it as CSV")]
    Zip { path: String },
    #[error(
        "{path}: this file is UTF-16 encoded; re-save it as UTF-8 (for example: iconv -f UTF-16 -t UTF-8 {path} > converted.csv)"
    )]
    Utf16 { path: String },
    #[error(
        "{path}: its first JSON object spans several lines (pretty-printed JSON); expected one object per line (JSONL). Convert it with: jq -c . {path} > responses.jsonl"
    )]
    PrettyJson { path: String },
    #[error("{path}: unknown file type; name it .jsonl, .ndjson, .json, .csv, .tsv or .xlsx")]
    UnknownFormat { path: String },
    #[error(
        "{path}: this is a JSON array; expected one object per line (JSONL). Convert it with: jq -c '.[]' {path} > responses.jsonl"
    )]
    JsonArray { path: String },
    #[error(
        "{path}: no column named `{field}` (columns: {columns}); name the text column with --text-field"
    )]
    MissingTextColumn {
        path: String,
        field: String,
        columns: String,
    },
    #[error("{path}: the id field `{field}` is also a text field; choose a different --id-field")]
    IdIsText { path: String, field: String },
    #[error(
        "{path}: columns {first} and {second} are both named `{column}`, so one's values would be lost; rename one of them"
    )]
    DuplicateColumn {
        path: String,
        column: String,
        first: usize,
        second: usize,
    },
    #[error(
        "{path}: line {line}: a quote opened here is never closed, so the rest of the file would be read as one field; close the quote or remove it"
    )]
    UnclosedQuote { path: String, line: u64 },
}

/// Columns named in an error message: the first few, each cut short, so a
/// header that swallowed the file does not print the file.
pub(crate) fn column_list(headers: &[String]) -> String {
    const SHOWN: usize = 12;
    const CHARS: usize = 40;
    let mut list: Vec<String> = headers
        .iter()
        .take(SHOWN)
        .map(|h| {
            let h = h.replace(['\n', '\r'], " ");
            match h.char_indices().nth(CHARS) {
                Some((cut, _)) => format!("{}…", &h[..cut]),
                None => h,
            }
        })
        .collect();
    if headers.len() > SHOWN {
        list.push(format!("and {} more", headers.len() - SHOWN));
    }
    list.join(", ")
}

/// What every header row (CSV, TSV, a sheet's first row) must satisfy
/// before any record is read: no name twice (the later column's values
/// would silently replace the earlier's), and every `--text-field` present
/// (a misspelt question would otherwise become an attribute and go
/// uncoded). A header with no names at all is an empty file: no records.
pub(crate) fn check_header(
    path: &str,
    headers: &[String],
    text_fields: &[String],
) -> Result<(), CorpusError> {
    if headers.iter().all(|h| h.is_empty()) {
        return Ok(());
    }
    for (second, name) in headers.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        if let Some(first) = headers[..second].iter().position(|h| h == name) {
            return Err(CorpusError::DuplicateColumn {
                path: path.to_owned(),
                column: name.clone(),
                first: first + 1,
                second: second + 1,
            });
        }
    }
    if let Some(missing) = text_fields.iter().find(|f| !headers.contains(f)) {
        return Err(CorpusError::MissingTextColumn {
            path: path.to_owned(),
            field: missing.clone(),
            columns: column_list(headers),
        });
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Jsonl,
    Csv(u8),
    Xlsx,
}

/// Reads several inputs as one corpus, in order, checking ids for uniqueness
/// across all of them.
pub struct CorpusReader {
    options: ReadOptions,
    pending: std::vec::IntoIter<(InputSource, Format)>,
    current: Option<FileReader>,
    seen_ids: rustc_hash::FxHashSet<String>,
    /// Total bytes of the file inputs (for progress); stdin counts 0.
    total_bytes: u64,
}

enum FileReader {
    Jsonl(jsonl::JsonlReader),
    Csv(Box<csv_reader::CsvReader>),
    Xlsx(Box<xlsx_reader::XlsxReader>),
}

/// Raw fields of one record before validation, shared by both formats.
pub(crate) struct RawRecord {
    pub file: String,
    pub line: u64,
    pub fields: Vec<(String, RawValue)>,
}

pub(crate) enum RawValue {
    Str(String),
    Null,
    Number(String),
    Bool(bool),
    Array(Vec<serde_json::Value>),
    Object(String),
}

impl CorpusReader {
    /// Check every input can be read (exists, a known type, UTF-8, not
    /// compressed) before reading any record.
    pub fn open(inputs: &[InputSource], options: ReadOptions) -> Result<Self, CorpusError> {
        let mut planned = Vec::with_capacity(inputs.len());
        let mut total_bytes = 0;
        for input in inputs {
            let format = match input {
                InputSource::Stdin => Format::Jsonl,
                InputSource::Bundled => {
                    total_bytes += BUNDLED_SAMPLE.len() as u64;
                    Format::Jsonl
                }
                InputSource::File(path) => {
                    let format = format_of(path)?;
                    total_bytes += sniff(path, format)?;
                    if let Format::Csv(delimiter) = format {
                        // Header problems stop the run before any output
                        // directory exists; the reader is opened again to read.
                        let file = File::open(path).map_err(|e| io_error(path, e))?;
                        csv_reader::CsvReader::new(
                            input.display_name(),
                            Box::new(BufReader::with_capacity(1 << 16, file)),
                            delimiter,
                            &options.text_fields,
                        )?;
                    }
                    format
                }
            };
            if options.text_fields.contains(&options.id_field) {
                return Err(CorpusError::IdIsText {
                    path: input.display_name(),
                    field: options.id_field.clone(),
                });
            }
            planned.push((input.clone(), format));
        }
        Ok(CorpusReader {
            options,
            pending: planned.into_iter(),
            current: None,
            seen_ids: rustc_hash::FxHashSet::default(),
            total_bytes,
        })
    }

    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Bytes consumed so far from the current file (for progress bars).
    pub fn bytes_read_in_current(&self) -> u64 {
        match &self.current {
            Some(FileReader::Jsonl(r)) => r.bytes_read(),
            Some(FileReader::Csv(r)) => r.bytes_read(),
            Some(FileReader::Xlsx(_)) => 0,
            None => 0,
        }
    }

    fn open_next(&mut self) -> Result<bool, CorpusError> {
        let Some((input, format)) = self.pending.next() else {
            return Ok(false);
        };
        let name = input.display_name();
        if format == Format::Xlsx {
            let InputSource::File(path) = &input else {
                return Err(CorpusError::Xlsx {
                    path: name,
                    message: "a workbook must be a file, not standard input".to_owned(),
                });
            };
            self.current = Some(FileReader::Xlsx(Box::new(xlsx_reader::XlsxReader::open(
                path,
                name,
                self.options.sheet.as_deref(),
                &self.options.text_fields,
            )?)));
            return Ok(true);
        }
        let source: Box<dyn BufRead + Send> = match &input {
            InputSource::Stdin => Box::new(BufReader::with_capacity(1 << 16, io::stdin())),
            InputSource::Bundled => Box::new(io::Cursor::new(BUNDLED_SAMPLE.as_bytes())),
            InputSource::File(path) => {
                let file = File::open(path).map_err(|e| io_error(path, e))?;
                Box::new(BufReader::with_capacity(1 << 16, file))
            }
        };
        self.current = Some(match format {
            Format::Jsonl => FileReader::Jsonl(jsonl::JsonlReader::new(name, source)),
            Format::Csv(delimiter) => FileReader::Csv(Box::new(csv_reader::CsvReader::new(
                name,
                source,
                delimiter,
                &self.options.text_fields,
            )?)),
            Format::Xlsx => unreachable!("workbooks are opened above"),
        });
        Ok(true)
    }

    /// Turn a raw record into a [`Record`] or a [`Reject`].
    fn validate(&mut self, raw: RawRecord) -> Item {
        let reject = |reason: String| {
            Item::Reject(Reject {
                file: raw.file.clone(),
                line: raw.line,
                reason,
            })
        };
        let mut id = None;
        let mut answers: Vec<Option<String>> = vec![None; self.options.text_fields.len()];
        let mut present = vec![false; self.options.text_fields.len()];
        let mut attributes = Vec::new();
        for (name, value) in &raw.fields {
            if *name == self.options.id_field {
                id = match value {
                    RawValue::Str(s) if !s.trim().is_empty() => Some(nfc(s.trim())),
                    RawValue::Number(n) => Some(n.clone()),
                    RawValue::Str(_) | RawValue::Null => None,
                    other => {
                        return reject(format!(
                            "id field `{name}` is {}; expected a string or a number",
                            other.kind()
                        ));
                    }
                };
                continue;
            }
            if let Some(q) = self.options.text_fields.iter().position(|f| f == name) {
                present[q] = true;
                match value {
                    // As written: evidence offsets point into the original
                    // text; the tokeniser normalises each word it reads.
                    RawValue::Str(s) => answers[q] = Some(s.clone()),
                    RawValue::Null => {}
                    other => {
                        return reject(format!(
                            "text field `{name}` is {}; expected a string",
                            other.kind()
                        ));
                    }
                }
                continue;
            }
            if let Some(v) = value.as_attribute().filter(|v| !v.is_empty()) {
                attributes.push((name.clone(), nfc(&v)));
            }
        }
        if answers.iter().all(Option::is_none) {
            let fields = self.options.text_fields.join("`, `");
            return if present.iter().any(|p| *p) {
                reject(format!("text field `{fields}` is null; expected a string"))
            } else {
                reject(format!(
                    "no text field `{fields}`; name the field that holds the response with --text-field"
                ))
            };
        }
        let id = id.unwrap_or_else(|| format!("{}:{}", raw.file, raw.line));
        if id.chars().any(char::is_control) {
            return reject(format!(
                "id {id:?} contains a line break or control character; ids must be one line"
            ));
        }
        if !self.seen_ids.insert(id.clone()) {
            return reject(format!(
                "duplicate id `{id}`; the first record with this id was kept"
            ));
        }
        Item::Record(Record {
            id,
            file: raw.file,
            line: raw.line,
            attributes,
            answers,
        })
    }
}

impl Iterator for CorpusReader {
    type Item = Result<Item, CorpusError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.is_none() {
                match self.open_next() {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => return Some(Err(e)),
                }
            }
            let next = match self.current.as_mut() {
                Some(FileReader::Jsonl(r)) => r.next_raw(),
                Some(FileReader::Csv(r)) => r.next_raw(),
                Some(FileReader::Xlsx(r)) => r.next_raw(),
                None => return None,
            };
            match next {
                Ok(Some(Ok(raw))) => return Some(Ok(self.validate(raw))),
                Ok(Some(Err(reject))) => return Some(Ok(Item::Reject(reject))),
                Ok(None) => self.current = None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl RawValue {
    fn kind(&self) -> &'static str {
        match self {
            RawValue::Str(_) => "a string",
            RawValue::Null => "null",
            RawValue::Number(_) => "a number",
            RawValue::Bool(_) => "a boolean",
            RawValue::Array(_) => "an array",
            RawValue::Object(_) => "an object",
        }
    }

    /// Attribute text; `None` for null (an absent attribute).
    fn as_attribute(&self) -> Option<String> {
        match self {
            RawValue::Str(s) => Some(s.clone()),
            RawValue::Null => None,
            RawValue::Number(n) => Some(n.clone()),
            RawValue::Bool(b) => Some(b.to_string()),
            RawValue::Array(items) => Some(
                items
                    .iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            RawValue::Object(json) => Some(json.clone()),
        }
    }
}

/// NFC-normalise, skipping the work for text that is already NFC (nearly all).
pub fn nfc(s: &str) -> String {
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => s.to_owned(),
        _ => s.nfc().collect(),
    }
}

fn io_error(path: &Path, e: io::Error) -> CorpusError {
    let path = path.display().to_string();
    if e.kind() == io::ErrorKind::NotFound {
        CorpusError::NotFound { path }
    } else {
        CorpusError::Io { path, source: e }
    }
}

fn format_of(path: &Path) -> Result<Format, CorpusError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("jsonl" | "ndjson" | "json") => Ok(Format::Jsonl),
        Some("csv") => Ok(Format::Csv(b',')),
        Some("tsv" | "tab") => Ok(Format::Csv(b'\t')),
        Some("xlsx" | "xlsm" | "xls" | "ods") => Ok(Format::Xlsx),
        _ => {
            // Say "no such file" before "unknown type" when both are true.
            if !path.exists() {
                return Err(CorpusError::NotFound {
                    path: path.display().to_string(),
                });
            }
            Err(CorpusError::UnknownFormat {
                path: path.display().to_string(),
            })
        }
    }
}

/// Look at the first bytes of a file for the cases that are not worth reading
/// record by record. Returns the file size.
fn sniff(path: &Path, format: Format) -> Result<u64, CorpusError> {
    let name = || path.display().to_string();
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let size = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut head = [0u8; 512];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(path, e)),
        }
    }
    let head = &head[..filled];
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(CorpusError::Gzip { path: name() });
    }
    if format == Format::Xlsx {
        return Ok(size);
    }
    if head.starts_with(b"PK\x03\x04") {
        return Err(CorpusError::Zip { path: name() });
    }
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        return Err(CorpusError::Utf16 { path: name() });
    }
    if format == Format::Jsonl {
        let body = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(CorpusError::JsonArray { path: name() });
        }
        if first_object_spans_lines(path)? {
            return Err(CorpusError::PrettyJson { path: name() });
        }
    }
    Ok(size)
}

/// Whether the file's first JSON object is spread over several lines
/// (pretty-printed JSON), which read line by line would give one reject per
/// line instead of one record per object. Only the first 64 KiB are read;
/// an object longer than that counts as spread over lines only when its
/// first line is a lone `{`.
fn first_object_spans_lines(path: &Path) -> Result<bool, CorpusError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut head = Vec::with_capacity(1 << 16);
    file.take(1 << 16)
        .read_to_end(&mut head)
        .map_err(|e| io_error(path, e))?;
    let body = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&head);
    let Some(start) = body.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Ok(false);
    };
    let body = &body[start..];
    let first_line = body.split(|&b| b == b'\n').next().unwrap_or(body);
    if first_line.trim_ascii() == b"{" {
        return Ok(true);
    }
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>();
    Ok(match values.next() {
        Some(Ok(serde_json::Value::Object(_))) => body[..values.byte_offset()].contains(&b'\n'),
        _ => false,
    })
}
