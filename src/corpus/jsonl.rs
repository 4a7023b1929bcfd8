//! JSON Lines: one object per line. Blank lines are not records and are
//! skipped; every other line is a record or a reject.

use std::io::BufRead;

use super::{CorpusError, RawRecord, RawValue, Reject};

pub(crate) struct JsonlReader {
    name: String,
    source: Box<dyn BufRead + Send>,
    line_no: u64,
    bytes_read: u64,
    buf: Vec<u8>,
}

impl JsonlReader {
    pub fn new(name: String, source: Box<dyn BufRead + Send>) -> Self {
        JsonlReader {
            name,
            source,
            line_no: 0,
            bytes_read: 0,
            buf: Vec::with_capacity(4096),
        }
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    pub fn next_raw(&mut self) -> Result<Option<Result<RawRecord, Reject>>, CorpusError> {
        loop {
            self.buf.clear();
            let n = self
                .source
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| CorpusError::Io {
                    path: self.name.clone(),
                    source,
                })?;
            if n == 0 {
                return Ok(None);
            }
            self.bytes_read += n as u64;
            self.line_no += 1;
            let mut line: &[u8] = &self.buf;
            if self.line_no == 1 {
                line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
            }
            while let [rest @ .., b'\n' | b'\r'] = line {
                line = rest;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(self.parse_line(line)));
        }
    }

    fn parse_line(&self, line: &[u8]) -> Result<RawRecord, Reject> {
        let reject = |reason: String| Reject {
            file: self.name.clone(),
            line: self.line_no,
            reason,
        };
        let text = std::str::from_utf8(line).map_err(|e| {
            reject(format!(
                "invalid UTF-8 at byte {} of the line; re-save the file as UTF-8",
                e.valid_up_to() + 1
            ))
        })?;
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            let hint = if e.is_eof() {
                " (the line ends early: truncated?)"
            } else {
                ""
            };
            // serde_json says "at line 1" of the one line it was given;
            // the reject's own line is the file's.
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            reject(format!(
                "not valid JSON at column {}: {message}{hint}",
                e.column()
            ))
        })?;
        let serde_json::Value::Object(map) = value else {
            return Err(reject(format!(
                "expected a JSON object, found {}",
                json_kind(&value)
            )));
        };
        let fields = map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => RawValue::Str(s),
                    serde_json::Value::Null => RawValue::Null,
                    serde_json::Value::Number(n) => RawValue::Number(n.to_string()),
                    serde_json::Value::Bool(b) => RawValue::Bool(b),
                    serde_json::Value::Array(a) => RawValue::Array(a),
                    obj @ serde_json::Value::Object(_) => RawValue::Object(obj.to_string()),
                };
                (k, v)
            })
            .collect();
        Ok(RawRecord {
            file: self.name.clone(),
            line: self.line_no,
            fields,
        })
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
