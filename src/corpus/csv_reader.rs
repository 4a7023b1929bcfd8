//! CSV and TSV through the `csv` crate: quoted fields with newlines, doubled
//! quotes, a UTF-8 BOM and CRLF line ends. The header row names the fields.
//! Ragged rows and rows with invalid UTF-8 are rejects; the rows around them
//! are kept.

use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::sync::{Arc, Mutex};

use super::{CorpusError, RawRecord, RawValue, Reject};

pub(crate) struct CsvReader {
    name: String,
    reader: csv::Reader<CountingReader>,
    headers: Vec<String>,
    record: csv::ByteRecord,
    lines: Arc<Mutex<LineTracker>>,
}

/// Where the newlines are, so a record's physical line can be told from its
/// byte offset (the csv crate's own line count skips newlines inside quoted
/// fields). Offsets before the last record asked about are forgotten, so
/// memory stays bounded.
#[derive(Default)]
struct LineTracker {
    bytes: u64,
    newlines: VecDeque<u64>,
    forgotten: u64,
    /// The csv crate strips a UTF-8 BOM and leaves it out of its byte offsets.
    bom: bool,
}

impl LineTracker {
    /// 1-based line of the byte at `offset`.
    fn line_of(&mut self, offset: u64) -> u64 {
        let offset = offset + if self.bom { 3 } else { 0 };
        let before = self.newlines.partition_point(|&n| n < offset);
        self.newlines.drain(..before);
        self.forgotten += before as u64;
        self.forgotten + 1
    }
}

/// Records newline offsets and byte counts as the csv reader pulls bytes.
struct CountingReader {
    inner: Box<dyn BufRead + Send>,
    lines: Arc<Mutex<LineTracker>>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut t) = self.lines.lock() {
            let base = t.bytes;
            if base == 0 && buf[..n].starts_with(b"\xef\xbb\xbf") {
                t.bom = true;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                if *b == b'\n' {
                    t.newlines.push_back(base + i as u64);
                }
            }
            t.bytes += n as u64;
        }
        Ok(n)
    }
}

impl CsvReader {
    pub fn new(
        name: String,
        source: Box<dyn BufRead + Send>,
        delimiter: u8,
        text_fields: &[String],
    ) -> Result<Self, CorpusError> {
        let lines = Arc::new(Mutex::new(LineTracker::default()));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(CountingReader {
                inner: source,
                lines: Arc::clone(&lines),
            });
        let headers = match reader.byte_headers() {
            Ok(h) => h
                .iter()
                .map(|f| {
                    let f = f.strip_prefix(b"\xef\xbb\xbf").unwrap_or(f);
                    String::from_utf8_lossy(f).trim().to_owned()
                })
                .collect::<Vec<_>>(),
            Err(e) => {
                return Err(CorpusError::Io {
                    path: name,
                    source: std::io::Error::other(e.to_string()),
                });
            }
        };
        let is_empty = headers.len() == 1 && headers[0].is_empty();
        if !is_empty && !text_fields.iter().any(|f| headers.contains(f)) {
            return Err(CorpusError::MissingTextColumn {
                path: name,
                field: text_fields.join("`, `"),
                columns: headers.join(", "),
            });
        }
        Ok(CsvReader {
            name,
            reader,
            headers,
            record: csv::ByteRecord::new(),
            lines,
        })
    }

    pub fn bytes_read(&self) -> u64 {
        self.lines.lock().map_or(0, |t| t.bytes)
    }

    pub fn next_raw(&mut self) -> Result<Option<Result<RawRecord, Reject>>, CorpusError> {
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| self.line_at(p.byte()));
                    if let csv::ErrorKind::Io(io) = e.kind() {
                        return Err(CorpusError::Io {
                            path: self.name.clone(),
                            source: std::io::Error::new(io.kind(), io.to_string()),
                        });
                    }
                    return Ok(Some(Err(Reject {
                        file: self.name.clone(),
                        line,
                        reason: format!("unreadable CSV row: {e}"),
                    })));
                }
            }
            let line = self.record.position().map_or(0, |p| p.byte());
            let line = self.line_at(line);
            // A row of one empty field is a blank line, not a record.
            if self.record.len() == 1 && self.record[0].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(self.convert(line)));
        }
    }

    fn line_at(&self, byte: u64) -> u64 {
        self.lines.lock().map_or(0, |mut t| t.line_of(byte))
    }

    fn convert(&self, line: u64) -> Result<RawRecord, Reject> {
        let reject = |reason: String| Reject {
            file: self.name.clone(),
            line,
            reason,
        };
        if self.record.len() != self.headers.len() {
            return Err(reject(format!(
                "expected {} fields (as in the header), found {}; check for a missing or extra delimiter",
                self.headers.len(),
                self.record.len()
            )));
        }
        let mut fields = Vec::with_capacity(self.headers.len());
        for (name, bytes) in self.headers.iter().zip(self.record.iter()) {
            let value = std::str::from_utf8(bytes).map_err(|e| {
                reject(format!(
                    "invalid UTF-8 in field `{name}` at byte {}; re-save the file as UTF-8",
                    e.valid_up_to() + 1
                ))
            })?;
            fields.push((name.clone(), RawValue::Str(value.to_owned())));
        }
        Ok(RawRecord {
            file: self.name.clone(),
            line,
            fields,
        })
    }
}
