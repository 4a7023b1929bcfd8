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
            InputSource::Stdin => STDIN_NAME.to_owned(),
            InputSource::Bundled => BUNDLED_SAMPLE_NAME.to_owned(),
        }
    }
}

/// How standard input is named in messages and rejects.
pub const STDIN_NAME: &str = "<stdin>";

/// The bundled sample corpus, embedded so `thematic run` works from anywhere.
pub const BUNDLED_SAMPLE: &str = include_str!("../../corpora/care-review/responses.jsonl");
pub const BUNDLED_SAMPLE_NAME: &str = "corpora/care-review/responses.jsonl";

/// Which fields are the id and the texts; every other field is an attribute.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    pub id_field: String,
    /// The id field was named (`--id-field`) rather than defaulted: a header
    /// without it is an error and a record without an id a reject, where
    /// the default `id` lets such records be numbered `FILE:LINE`.
    pub id_field_explicit: bool,
    /// One or more text fields; each becomes a separately coded question.
    pub text_fields: Vec<String>,
    /// The worksheet of XLSX inputs (default: the first).
    pub sheet: Option<String>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            id_field: "id".to_owned(),
            id_field_explicit: false,
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
    #[error(
        "{path}: this is a gzip-compressed file; decompress it first ({})",
        hint(path, "gunzip -k", "gunzip -c", "")
    )]
    Gzip { path: String },
    #[error("{path}: {message}")]
    Xlsx { path: String, message: String },
    #[error("{path}: this is a ZIP archive (an .xlsx workbook? {}", if path == STDIN_NAME { "give its path instead of -); standard input takes JSONL only" } else { "name it .xlsx); or save it as CSV" })]
    Zip { path: String },
    #[error(
        "{path}: this file is UTF-16 encoded; re-save it as UTF-8 (for example: {})",
        hint(
            path,
            "iconv -f UTF-16 -t UTF-8",
            "iconv -f UTF-16 -t UTF-8",
            " > converted.csv"
        )
    )]
    Utf16 { path: String },
    #[error(
        "{path}: its first JSON object spans several lines (pretty-printed JSON); expected one object per line (JSONL). Convert it with: {}",
        hint(path, "jq -c .", "jq -c .", " > responses.jsonl")
    )]
    PrettyJson { path: String },
    #[error("{path}: unknown file type; name it .jsonl, .ndjson, .json, .csv, .tsv or .xlsx")]
    UnknownFormat { path: String },
    #[error(
        "{path}: this is a JSON array; expected one object per line (JSONL). Convert it with: {}",
        hint(path, "jq -c '.[]'", "jq -c '.[]'", " > responses.jsonl")
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
    #[error(
        "{path}: no column named `{field}`, which --id-field names (columns: {columns}); name the id column with --id-field, or leave --id-field out to number responses FILE:LINE"
    )]
    MissingIdColumn {
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

/// A command that converts `path`: `file_command PATH suffix` for a file,
/// `… | stdin_command | thematic run -` for standard input, which has no
/// path to give a command.
fn hint(path: &str, file_command: &str, stdin_command: &str, suffix: &str) -> String {
    if path == STDIN_NAME {
        format!("… | {stdin_command} | thematic run -")
    } else {
        format!("{file_command} {path}{suffix}")
    }
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
/// would silently replace the earlier's), every `--text-field` present
/// (a misspelt question would otherwise become an attribute and go
/// uncoded), and an explicit `--id-field` present (every record would
/// otherwise be numbered `FILE:LINE`). A header with no names at all is an
/// empty file: no records.
pub(crate) fn check_header(
    path: &str,
    headers: &[String],
    options: &ReadOptions,
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
    if let Some(missing) = options.text_fields.iter().find(|f| !headers.contains(f)) {
        return Err(CorpusError::MissingTextColumn {
            path: path.to_owned(),
            field: missing.clone(),
            columns: column_list(headers),
        });
    }
    if options.id_field_explicit && !headers.contains(&options.id_field) {
        return Err(CorpusError::MissingIdColumn {
            path: path.to_owned(),
            field: options.id_field.clone(),
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
    /// Each input, its format, and its reader when [`CorpusReader::open`]
    /// already opened it (standard input, whose first bytes it read; the
    /// first input when it is a workbook, whose header it checked).
    pending: std::vec::IntoIter<(InputSource, Format, Option<FileReader>)>,
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
    /// compressed, and for CSV, TSV and workbooks a usable header) before
    /// reading any record, so a caller can stop before writing anything.
    pub fn open(inputs: &[InputSource], options: ReadOptions) -> Result<Self, CorpusError> {
        let mut planned = Vec::with_capacity(inputs.len());
        let mut total_bytes = 0;
        let mut stdin_read = false;
        for (i, input) in inputs.iter().enumerate() {
            let mut opened = None;
            let format = match input {
                // Standard input cannot be read twice: its first bytes are
                // sniffed like a file's and handed back to the reader
                // ahead of the rest. A second `-` reads what the first
                // left, nothing, as it always did.
                InputSource::Stdin if !stdin_read => {
                    stdin_read = true;
                    let source = sniffed_stdin()?;
                    opened = Some(FileReader::Jsonl(jsonl::JsonlReader::new(
                        input.display_name(),
                        source,
                    )));
                    Format::Jsonl
                }
                InputSource::Stdin => Format::Jsonl,
                InputSource::Bundled => {
                    total_bytes += BUNDLED_SAMPLE.len() as u64;
                    Format::Jsonl
                }
                InputSource::File(path) => {
                    let format = format_of(path)?;
                    total_bytes += sniff(path, format)?;
                    // Header problems stop the run before any output
                    // directory exists. A CSV is opened again to read; the
                    // first input's workbook is kept open (its thread holds
                    // the shared strings, so later ones are opened again
                    // rather than all held at once).
                    match format {
                        Format::Csv(delimiter) => {
                            let file = File::open(path).map_err(|e| io_error(path, e))?;
                            csv_reader::CsvReader::new(
                                input.display_name(),
                                Box::new(BufReader::with_capacity(1 << 16, file)),
                                delimiter,
                                &options,
                            )?;
                        }
                        Format::Xlsx => {
                            let reader = xlsx_reader::XlsxReader::open(
                                path,
                                input.display_name(),
                                &options,
                            )?;
                            if i == 0 {
                                opened = Some(FileReader::Xlsx(Box::new(reader)));
                            }
                        }
                        Format::Jsonl => {}
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
            planned.push((input.clone(), format, opened));
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
        let Some((input, format, opened)) = self.pending.next() else {
            return Ok(false);
        };
        if opened.is_some() {
            self.current = opened;
            return Ok(true);
        }
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
                &self.options,
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
                &self.options,
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
        let mut id_present = false;
        let mut answers: Vec<Option<String>> = vec![None; self.options.text_fields.len()];
        let mut present = vec![false; self.options.text_fields.len()];
        let mut attributes = Vec::new();
        for (name, value) in &raw.fields {
            if *name == self.options.id_field {
                id_present = true;
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
        if id.is_none() && self.options.id_field_explicit {
            let field = &self.options.id_field;
            let what = if id_present {
                format!("id field `{field}` is empty")
            } else {
                format!("no id field `{field}`")
            };
            return reject(format!(
                "{what}, and --id-field names it; give this record its id, or leave --id-field out to number responses FILE:LINE"
            ));
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

/// Bytes read from the start of an input to sniff it: enough for a JSONL
/// input's first object to show whether it spans lines.
const SNIFF_BYTES: u64 = 1 << 16;

/// Look at the first bytes of a file for the cases that are not worth reading
/// record by record. Returns the file size.
fn sniff(path: &Path, format: Format) -> Result<u64, CorpusError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let size = file.metadata().map_err(|e| io_error(path, e))?.len();
    let wanted = if format == Format::Jsonl {
        SNIFF_BYTES
    } else {
        512
    };
    let mut head = Vec::with_capacity(wanted as usize);
    file.take(wanted)
        .read_to_end(&mut head)
        .map_err(|e| io_error(path, e))?;
    sniff_head(&path.display().to_string(), &head, format)?;
    Ok(size)
}

/// Standard input, sniffed as a JSONL file is: its first bytes are read,
/// checked, and handed back ahead of the rest.
fn sniffed_stdin() -> Result<Box<dyn BufRead + Send>, CorpusError> {
    let mut head = Vec::with_capacity(SNIFF_BYTES as usize);
    io::stdin()
        .take(SNIFF_BYTES)
        .read_to_end(&mut head)
        .map_err(|source| CorpusError::Io {
            path: STDIN_NAME.to_owned(),
            source,
        })?;
    sniff_head(STDIN_NAME, &head, Format::Jsonl)?;
    Ok(Box::new(BufReader::with_capacity(
        1 << 16,
        io::Cursor::new(head).chain(io::stdin()),
    )))
}

/// The checks on an input's first bytes (at most [`SNIFF_BYTES`]), for a
/// file or standard input alike.
fn sniff_head(name: &str, head: &[u8], format: Format) -> Result<(), CorpusError> {
    let name = || name.to_owned();
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(CorpusError::Gzip { path: name() });
    }
    if format == Format::Xlsx {
        return Ok(());
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
        if first_object_spans_lines(head) {
            return Err(CorpusError::PrettyJson { path: name() });
        }
    }
    Ok(())
}

/// Whether the input's first JSON object is spread over several lines
/// (pretty-printed JSON), which read line by line would give one reject per
/// line instead of one record per object. `head` is the first 64 KiB; an
/// object longer than that counts as spread over lines only when its first
/// line is a lone `{`.
fn first_object_spans_lines(head: &[u8]) -> bool {
    let body = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let Some(start) = body.iter().position(|b| !b.is_ascii_whitespace()) else {
        return false;
    };
    let body = &body[start..];
    let first_line = body.split(|&b| b == b'\n').next().unwrap_or(body);
    if first_line.trim_ascii() == b"{" {
        return true;
    }
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>();
    match values.next() {
        Some(Ok(serde_json::Value::Object(_))) => body[..values.byte_offset()].contains(&b'\n'),
        _ => false,
    }
}
