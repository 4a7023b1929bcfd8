//! XLSX workbooks (calamine): the first sheet, or the one `--sheet` names.
//! The first non-empty row gives the field names; every later row is a
//! record numbered by its spreadsheet row, with the same id/text/attribute
//! rules as CSV. Empty rows are not records. Formula cells give the value
//! the workbook last calculated.

use std::path::Path;

use calamine::{Data, Range, Reader, open_workbook_auto};

use super::{CorpusError, RawRecord, RawValue};
use crate::corpus::Reject;

pub(crate) struct XlsxReader {
    name: String,
    header: Vec<String>,
    range: Range<Data>,
    /// Next row to read, 0-based within `range`.
    next: usize,
    /// Spreadsheet row number of `range`'s first row (1-based).
    first_row: u64,
}

impl XlsxReader {
    pub(crate) fn open(
        path: &Path,
        name: String,
        sheet: Option<&str>,
    ) -> Result<Self, CorpusError> {
        let unreadable = |message: String| CorpusError::Xlsx {
            path: name.clone(),
            message,
        };
        let mut workbook = open_workbook_auto(path)
            .map_err(|e| unreadable(format!("not a readable workbook ({e})")))?;
        let names = workbook.sheet_names().to_vec();
        let chosen = match sheet {
            Some(s) => names
                .iter()
                .find(|n| n.as_str() == s)
                .cloned()
                .ok_or_else(|| {
                    unreadable(format!(
                        "no sheet named `{s}`; the sheets are: {}",
                        names.join(", ")
                    ))
                })?,
            None => names
                .first()
                .cloned()
                .ok_or_else(|| unreadable("the workbook has no sheets".to_owned()))?,
        };
        let range = workbook
            .worksheet_range(&chosen)
            .map_err(|e| unreadable(format!("sheet `{chosen}` cannot be read ({e})")))?;
        let first_row = range.start().map_or(1, |(row, _)| u64::from(row) + 1);
        let mut reader = XlsxReader {
            name,
            header: Vec::new(),
            range,
            next: 0,
            first_row,
        };
        // The header is the first row with any content.
        while reader.next < reader.range.height() {
            let row = reader.next;
            reader.next += 1;
            let cells = reader.row(row);
            if cells.iter().any(|c| !is_blank(c)) {
                let header = cells.iter().map(|c| cell_text(c)).collect();
                reader.header = header;
                break;
            }
        }
        Ok(reader)
    }

    pub(crate) fn next_raw(&mut self) -> Result<Option<Result<RawRecord, Reject>>, CorpusError> {
        while self.next < self.range.height() {
            let row = self.next;
            self.next += 1;
            let cells = self.row(row);
            if cells.iter().all(|c| is_blank(c)) {
                continue;
            }
            let line = self.first_row + row as u64;
            if cells.len() > self.header.len()
                && cells[self.header.len()..].iter().any(|c| !is_blank(c))
            {
                return Ok(Some(Err(Reject {
                    file: self.name.clone(),
                    line,
                    reason: format!(
                        "row has values beyond the {} named columns; give those columns a header",
                        self.header.len()
                    ),
                })));
            }
            let fields = self
                .header
                .iter()
                .zip(cells.iter().copied())
                .filter(|(name, _)| !name.is_empty())
                .map(|(name, cell)| (name.clone(), raw_value(cell)))
                .collect();
            return Ok(Some(Ok(RawRecord {
                file: self.name.clone(),
                line,
                fields,
            })));
        }
        Ok(None)
    }
}

impl XlsxReader {
    /// The cells of row `i` (0-based within the range). By position, not
    /// `rows().nth(i)`, which walks from the first row every time and made
    /// reading a sheet quadratic in its length.
    fn row(&self, i: usize) -> Vec<&Data> {
        (0..self.range.width())
            .filter_map(|c| self.range.get((i, c)))
            .collect()
    }
}

fn is_blank(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn cell_text(cell: &Data) -> String {
    match raw_value(cell) {
        RawValue::Str(s) | RawValue::Number(s) => s.trim().to_owned(),
        RawValue::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn raw_value(cell: &Data) -> RawValue {
    match cell {
        Data::Empty | Data::Error(_) => RawValue::Null,
        Data::String(s) => RawValue::Str(s.clone()),
        Data::Int(i) => RawValue::Number(i.to_string()),
        // Whole numbers as integers: ids and ages read as "12", not "12.0".
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
            RawValue::Number(format!("{}", *f as i64))
        }
        Data::Float(f) => RawValue::Number(f.to_string()),
        Data::Bool(b) => RawValue::Bool(*b),
        Data::DateTime(d) => RawValue::Str(excel_date(d.as_f64())),
        Data::DateTimeIso(s) | Data::DurationIso(s) => RawValue::Str(s.clone()),
    }
}

/// An Excel date serial (days since 1899-12-30) as ISO 8601: the date alone
/// when there is no time of day.
fn excel_date(serial: f64) -> String {
    if !serial.is_finite() || !(0.0..3_000_000.0).contains(&serial) {
        return serial.to_string();
    }
    let days = serial.floor() as i64 - 25_569; // days since 1970-01-01
    // Civil date from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let seconds = ((serial - serial.floor()) * 86_400.0).round() as i64;
    if seconds == 0 {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn excel_serials_become_iso_dates() {
        assert_eq!(super::excel_date(44_197.0), "2021-01-01");
        assert_eq!(super::excel_date(44_197.5), "2021-01-01T12:00:00");
        assert_eq!(super::excel_date(25_569.0), "1970-01-01");
    }
}
