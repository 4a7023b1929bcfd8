//! CSV and TSV through the `csv` crate: quoted fields with newlines, doubled
//! quotes, a UTF-8 BOM and CRLF line ends. The header row names the fields.
//! Ragged rows and rows with invalid UTF-8 are rejects; the rows around them
//! are kept.

use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{CorpusError, RawRecord, RawValue, Reject};

pub(crate) struct CsvReader {
    name: String,
    reader: csv::Reader<CountingReader>,
    headers: Vec<String>,
    record: csv::ByteRecord,
    bytes_read: Arc<AtomicU64>,
}

/// Counts bytes as the csv reader pulls them, for progress bars.
struct CountingReader {
    inner: Box<dyn BufRead + Send>,
    count: Arc<AtomicU64>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
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
        let bytes_read = Arc::new(AtomicU64::new(0));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(CountingReader {
                inner: source,
                count: Arc::clone(&bytes_read),
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
            bytes_read,
        })
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    pub fn next_raw(&mut self) -> Result<Option<Result<RawRecord, Reject>>, CorpusError> {
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
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
            let line = self.record.position().map_or(0, |p| p.line());
            // A row of one empty field is a blank line, not a record.
            if self.record.len() == 1 && self.record[0].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(self.convert(line)));
        }
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
