//! CSV and TSV through the `csv` crate: quoted fields with newlines, doubled
//! quotes, a UTF-8 BOM and CRLF line ends. The header row names the fields.
//! Ragged rows and rows with invalid UTF-8 are rejects; the rows around them
//! are kept.

use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::sync::{Arc, Mutex};

use super::{CorpusError, RawRecord, RawValue, ReadOptions, Reject};

pub(crate) struct CsvReader {
    name: String,
    reader: csv::Reader<CountingReader>,
    headers: Vec<String>,
    record: csv::ByteRecord,
    lines: Arc<Mutex<LineTracker>>,
}

/// Where the line breaks are, so a record's physical line can be told from
/// its byte offset (the csv crate's own line count skips newlines inside
/// quoted fields). A line ends at `\n`, `\r\n` or a lone `\r` (old Mac
/// exports), as it does for the csv crate. Offsets before the last record
/// asked about are forgotten, so memory stays bounded.
///
/// The csv crate skips blank lines itself and gives the record after them
/// the offset where they began, so the tracker also keeps each run of
/// line-break bytes: a record starting inside one starts where it ends
/// (its line is the record's, not the first blank line's), and whether
/// that byte is a quote tells a quoted empty field (`""`, a record) from a
/// line of spaces (blank).
///
/// It also follows the csv crate's quoting, byte by byte, to tell where a
/// quote opened that the file never closes: the csv crate reads such a
/// field to the end of the file, swallowing every later row.
#[derive(Default)]
struct LineTracker {
    bytes: u64,
    breaks: VecDeque<u64>,
    forgotten: u64,
    /// The csv crate strips a UTF-8 BOM and leaves it out of its byte offsets.
    bom: bool,
    /// The last byte seen was a `\r` (its `\n`, if any, ends the same line).
    after_cr: bool,
    delimiter: u8,
    quoting: Quoting,
    /// Byte offset where the quote now open was opened.
    quote_opened_at: u64,
    /// The source has no more bytes.
    at_end: bool,
    /// Runs of line-break bytes not yet passed by a record.
    runs: VecDeque<BreakRun>,
    /// The last byte seen was `\r` or `\n` (the last run is still growing).
    in_run: bool,
}

/// Consecutive `\r`/`\n` bytes: offsets `start..end` (raw, BOM included).
#[derive(Clone, Copy)]
struct BreakRun {
    start: u64,
    end: u64,
    /// The byte after the run is a `"`.
    quote_after: bool,
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Quoting {
    #[default]
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: it closes the field, or with a second
    /// `"` stands for one.
    QuoteInQuoted,
}

impl LineTracker {
    /// 1-based line of the byte at `raw`, counted in the file's own bytes
    /// (a BOM included), as the quote tracker counts them.
    fn line_of_raw(&mut self, offset: u64) -> u64 {
        let before = self.breaks.partition_point(|&n| n < offset);
        self.breaks.drain(..before);
        self.forgotten += before as u64;
        self.forgotten + 1
    }

    /// Where a record the csv crate places at `offset` really starts (past
    /// the blank lines it skipped): its 1-based line, and whether its first
    /// byte is a quote.
    fn record_start(&mut self, offset: u64) -> (u64, bool) {
        let raw = offset + if self.bom { 3 } else { 0 };
        let passed = self.runs.partition_point(|r| r.end < raw);
        self.runs.drain(..passed);
        let (start, quoted) = match self.runs.front() {
            Some(r) if r.start <= raw => (r.end, r.quote_after),
            _ => (raw, false),
        };
        (self.line_of_raw(start), quoted)
    }

    fn see(&mut self, at: u64, byte: u8) {
        if byte == b'\r' || byte == b'\n' {
            match self.runs.back_mut() {
                Some(run) if self.in_run => run.end = at + 1,
                _ => self.runs.push_back(BreakRun {
                    start: at,
                    end: at + 1,
                    quote_after: false,
                }),
            }
            self.in_run = true;
        } else if self.in_run {
            if let Some(run) = self.runs.back_mut() {
                run.quote_after = byte == b'"';
            }
            self.in_run = false;
        }
        let line_break = match byte {
            b'\r' => true,
            b'\n' => !self.after_cr,
            _ => false,
        };
        self.after_cr = byte == b'\r';
        if line_break {
            self.breaks.push_back(at);
        }
        let ends_field = byte == self.delimiter || byte == b'\n' || byte == b'\r';
        self.quoting = match (self.quoting, byte) {
            (Quoting::FieldStart, b'"') => {
                self.quote_opened_at = at;
                Quoting::Quoted
            }
            (Quoting::FieldStart | Quoting::Unquoted, _) if ends_field => Quoting::FieldStart,
            (Quoting::FieldStart | Quoting::Unquoted, _) => Quoting::Unquoted,
            (Quoting::Quoted, b'"') => Quoting::QuoteInQuoted,
            (Quoting::Quoted, _) => Quoting::Quoted,
            (Quoting::QuoteInQuoted, b'"') => Quoting::Quoted,
            (Quoting::QuoteInQuoted, _) if ends_field => Quoting::FieldStart,
            (Quoting::QuoteInQuoted, _) => Quoting::Unquoted,
        };
    }

    /// Where a quote opened that the whole rest of the file did not close,
    /// once the file has been read to its end.
    fn unclosed_quote(&self) -> Option<u64> {
        (self.at_end && self.quoting == Quoting::Quoted).then_some(self.quote_opened_at)
    }
}

/// Records line breaks, quoting and byte counts as the csv reader pulls bytes.
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
            // The csv crate strips a BOM before parsing: a quote right after
            // it opens the first field, so quoting starts after it here too.
            let skip = if base == 0 && t.bom { 3 } else { 0 };
            for (i, &b) in buf[..n].iter().enumerate().skip(skip) {
                t.see(base + i as u64, b);
            }
            t.bytes += n as u64;
            t.at_end |= n == 0 && !buf.is_empty();
        }
        Ok(n)
    }
}

impl CsvReader {
    pub fn new(
        name: String,
        source: Box<dyn BufRead + Send>,
        delimiter: u8,
        options: &ReadOptions,
    ) -> Result<Self, CorpusError> {
        let lines = Arc::new(Mutex::new(LineTracker {
            delimiter,
            ..LineTracker::default()
        }));
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
        let reader_state = CsvReader {
            name,
            reader,
            headers,
            record: csv::ByteRecord::new(),
            lines,
        };
        // A header that opens a quote and never closes it has swallowed
        // the file: say so rather than list the file as column names.
        if let Some(at) = reader_state.unclosed_quote() {
            return Err(CorpusError::UnclosedQuote {
                line: reader_state.line_at_raw(at),
                path: reader_state.name,
            });
        }
        super::check_header(&reader_state.name, &reader_state.headers, options)?;
        Ok(reader_state)
    }

    fn unclosed_quote(&self) -> Option<u64> {
        self.lines.lock().ok().and_then(|t| t.unclosed_quote())
    }

    /// 1-based line of a raw byte offset (BOM included).
    fn line_at_raw(&self, raw: u64) -> u64 {
        self.lines.lock().map_or(0, |mut t| t.line_of_raw(raw))
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
                    let line = e.position().map_or(0, |p| self.record_start(p.byte()).0);
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
            let start = self.record.position().map_or(0, |p| p.byte());
            let (line, quoted) = self.record_start(start);
            if let Some(opened) = self.unclosed_quote() {
                // In this order: the tracker forgets the breaks before each
                // offset asked about.
                let opened = self.line_at_raw(opened);
                let last = self.line_at_raw(self.bytes_read().saturating_sub(1));
                return Ok(Some(Err(Reject {
                    file: self.name.clone(),
                    line,
                    reason: format!(
                        "a quote opened on line {opened} is never closed, so lines {opened}-{last} were read as one field and not coded; close the quote (or remove it) and run again"
                    ),
                })));
            }
            // A line of nothing but spaces is a blank line, not a record;
            // a quoted empty field (`""`) is an empty answer.
            if !quoted
                && self.record.len() == 1
                && self.record[0].iter().all(u8::is_ascii_whitespace)
            {
                continue;
            }
            return Ok(Some(self.convert(line)));
        }
    }

    fn record_start(&self, byte: u64) -> (u64, bool) {
        self.lines
            .lock()
            .map_or((0, false), |mut t| t.record_start(byte))
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
