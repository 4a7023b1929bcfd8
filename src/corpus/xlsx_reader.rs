//! XLSX workbooks (calamine): the first sheet, or the one `--sheet` names.
//! The first non-empty row gives the field names; every later row is a
//! record numbered by its spreadsheet row, with the same id/text/attribute
//! rules as CSV. Empty rows are not records. Formula cells give the value
//! the workbook last calculated.
//!
//! A sheet is read as a stream of its non-empty cells, never as a dense
//! grid: one stray value at XFD1048576 makes a sheet's used area 2^34
//! cells, and a grid of that aborts the process. `.xlsx`/`.xlsm` go
//! through calamine's cell reader, cell by cell on a thread of its own
//! (the reader borrows the workbook, so the two live there together), a
//! few hundred rows at a time through a bounded channel: memory follows
//! the rows in flight, not the sheet. `.xls` and `.ods` have no such
//! reader; calamine builds their grid when it opens the workbook (bounded
//! by those formats' own limits), and a grid far larger than its values
//! is refused with the far cells named rather than walked.
//!
//! Every cell is a field or a reject: a value under an empty header cell,
//! or right of the header's last name, rejects its row. The header must
//! pass [`super::check_header`] (no name twice, every text field present)
//! before any row is read. In a text column a number is read as its text,
//! as CSV reads it, and an error cell (`#N/A`) rejects its row by name.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{Data, ExcelDateTime, ExcelDateTimeType, Range, Reader, Sheets, open_workbook_auto};

use super::{CorpusError, RawRecord, RawValue, ReadOptions};
use crate::corpus::Reject;

/// A worksheet's bounds (xlsx and ods): cells beyond them are malformed.
const MAX_ROWS: u32 = 1_048_576;
const MAX_COLUMNS: u32 = 16_384;
/// Rows per message from the reading thread, and messages in flight.
const BATCH: usize = 256;
const CHANNEL_DEPTH: usize = 4;
/// A dense sheet (`.xls`, `.ods`) is refused above this many cells, or
/// when it is larger than [`SPARSE_FLOOR`] and has fewer than one value
/// per [`SPARSE_RATIO`] cells: a stray far value, not a table.
const DENSE_CAP: u64 = 50_000_000;
const SPARSE_FLOOR: u64 = 1_000_000;
const SPARSE_RATIO: u64 = 1_000;

pub(crate) struct XlsxReader {
    name: String,
    /// Header names by column from A (empty where the header cell is
    /// empty), up to the last named column.
    header: Vec<String>,
    /// The named columns in order: column, name, and whether it is a text field.
    named: Vec<(u32, String, bool)>,
    rows: RowSource,
}

/// One row's non-empty cells, by column.
struct SheetRow {
    /// 0-based spreadsheet row.
    row: u32,
    cells: Vec<(u32, Data)>,
}

enum Chunk {
    Rows(Vec<SheetRow>),
    End,
    Failed(String),
}

impl XlsxReader {
    pub(crate) fn open(
        path: &Path,
        name: String,
        options: &ReadOptions,
    ) -> Result<Self, CorpusError> {
        let (tx, rx) = sync_channel(CHANNEL_DEPTH);
        let path: PathBuf = path.to_owned();
        let sheet = options.sheet.clone();
        std::thread::Builder::new()
            .name("xlsx-reader".to_owned())
            .spawn(move || {
                let end = match read_sheet(&path, sheet.as_deref(), &tx) {
                    Ok(()) => Chunk::End,
                    Err(Stop::Failed(message)) => Chunk::Failed(message),
                    Err(Stop::Gone) => return,
                };
                let _ = tx.send(end);
            })
            .map_err(|e| CorpusError::Xlsx {
                path: name.clone(),
                message: format!("cannot start reading the workbook ({e})"),
            })?;
        let mut reader = XlsxReader {
            name,
            header: Vec::new(),
            named: Vec::new(),
            rows: RowSource {
                rx,
                batch: Vec::new().into_iter(),
                done: false,
            },
        };
        // The header is the first row with any content; it ends at its
        // last name.
        while let Some(row) = reader.next_row()? {
            let Some(last) = row.cells.iter().rev().find(|(_, c)| !is_blank(c)) else {
                continue;
            };
            let mut header = vec![String::new(); last.0 as usize + 1];
            for (col, cell) in &row.cells {
                if let Some(slot) = header.get_mut(*col as usize) {
                    *slot = cell_text(cell);
                }
            }
            reader.header = header;
            break;
        }
        super::check_header(&reader.name, &reader.header, options)?;
        reader.named = (0u32..)
            .zip(&reader.header)
            .filter(|(_, h)| !h.is_empty())
            .map(|(col, h)| (col, h.clone(), options.text_fields.contains(h)))
            .collect();
        Ok(reader)
    }

    pub(crate) fn next_raw(&mut self) -> Result<Option<Result<RawRecord, Reject>>, CorpusError> {
        loop {
            let Some(row) = self.next_row()? else {
                return Ok(None);
            };
            if row.cells.iter().all(|(_, c)| is_blank(c)) {
                continue;
            }
            let line = u64::from(row.row) + 1;
            let reject = |reason: String| {
                Ok(Some(Err(Reject {
                    file: self.name.clone(),
                    line,
                    reason,
                })))
            };
            for (col, cell) in &row.cells {
                if is_blank(cell) {
                    continue;
                }
                match self.header.get(*col as usize) {
                    None => {
                        return reject(format!(
                            "row has values beyond the {} named columns (in column {}); give those columns a header",
                            self.named.len(),
                            column_name(*col)
                        ));
                    }
                    Some(h) if h.is_empty() => {
                        return reject(format!(
                            "row has a value in column {}, which has no header; give it a header",
                            column_name(*col)
                        ));
                    }
                    Some(_) => {}
                }
            }
            // Every named column is a field (null when its cell is empty);
            // both lists are in column order.
            let mut fields = Vec::with_capacity(self.named.len());
            let mut cells = row.cells.into_iter().peekable();
            for (col, name, is_text) in &self.named {
                while cells.next_if(|(c, _)| c < col).is_some() {}
                let value = match cells.next_if(|(c, _)| c == col) {
                    None => RawValue::Null,
                    Some((_, cell)) if *is_text => match text_value(cell) {
                        Ok(value) => value,
                        Err(error) => {
                            return reject(format!(
                                "text field `{name}`: cell {}{line} has the error {error}; expected a string",
                                column_name(*col)
                            ));
                        }
                    },
                    Some((_, cell)) => raw_value(cell),
                };
                fields.push((name.clone(), value));
            }
            return Ok(Some(Ok(RawRecord {
                file: self.name.clone(),
                line,
                fields,
            })));
        }
    }

    fn next_row(&mut self) -> Result<Option<SheetRow>, CorpusError> {
        self.rows.next().map_err(|message| CorpusError::Xlsx {
            path: self.name.clone(),
            message,
        })
    }
}

/// The receiving end of the reading thread.
struct RowSource {
    rx: Receiver<Chunk>,
    batch: std::vec::IntoIter<SheetRow>,
    done: bool,
}

impl RowSource {
    fn next(&mut self) -> Result<Option<SheetRow>, String> {
        loop {
            if let Some(row) = self.batch.next() {
                return Ok(Some(row));
            }
            if self.done {
                return Ok(None);
            }
            match self.rx.recv() {
                Ok(Chunk::Rows(rows)) => self.batch = rows.into_iter(),
                Ok(Chunk::End) => self.done = true,
                Ok(Chunk::Failed(message)) => {
                    self.done = true;
                    return Err(message);
                }
                Err(_) => {
                    self.done = true;
                    return Err("reading the workbook stopped unexpectedly".to_owned());
                }
            }
        }
    }
}

/// Why the reading thread stopped early.
#[derive(Debug)]
enum Stop {
    Failed(String),
    /// The reader was dropped: nobody wants the rest.
    Gone,
}

/// Gathers cells (in row order) into rows of their non-empty cells and
/// sends them in batches.
struct Sink<'t> {
    tx: &'t SyncSender<Chunk>,
    sheet: String,
    batch: Vec<SheetRow>,
    current: Option<SheetRow>,
    /// The current row's cells are out of column order (or repeat one).
    unsorted: bool,
}

impl<'t> Sink<'t> {
    fn new(tx: &'t SyncSender<Chunk>, sheet: String) -> Self {
        Sink {
            tx,
            sheet,
            batch: Vec::with_capacity(BATCH),
            current: None,
            unsorted: false,
        }
    }

    fn cell(&mut self, (row, col): (u32, u32), value: Data) -> Result<(), Stop> {
        if matches!(value, Data::Empty) {
            return Ok(());
        }
        if row >= MAX_ROWS || col >= MAX_COLUMNS {
            return Err(Stop::Failed(format!(
                "sheet `{}` has a cell at row {}, column {}, outside a worksheet's {MAX_ROWS} rows and {MAX_COLUMNS} columns; the workbook is damaged",
                self.sheet,
                u64::from(row) + 1,
                u64::from(col) + 1
            )));
        }
        match &mut self.current {
            Some(current) if current.row == row => {
                if current.cells.last().is_some_and(|(c, _)| *c >= col) {
                    self.unsorted = true;
                }
                current.cells.push((col, value));
                return Ok(());
            }
            Some(current) if current.row > row => {
                return Err(Stop::Failed(format!(
                    "sheet `{}`: row {} comes after row {}, out of order; open the workbook and save it again",
                    self.sheet,
                    u64::from(row) + 1,
                    u64::from(current.row) + 1
                )));
            }
            _ => {}
        }
        self.flush_row()?;
        self.current = Some(SheetRow {
            row,
            cells: vec![(col, value)],
        });
        Ok(())
    }

    fn flush_row(&mut self) -> Result<(), Stop> {
        let Some(mut row) = self.current.take() else {
            return Ok(());
        };
        if std::mem::take(&mut self.unsorted) {
            // Column order; of two values for one cell the later holds, as
            // in calamine's own grid.
            row.cells.sort_by_key(|(c, _)| *c);
            let mut cells: Vec<(u32, Data)> = Vec::with_capacity(row.cells.len());
            for cell in row.cells {
                match cells.last_mut() {
                    Some(last) if last.0 == cell.0 => *last = cell,
                    _ => cells.push(cell),
                }
            }
            row.cells = cells;
        }
        self.batch.push(row);
        if self.batch.len() >= BATCH {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), Stop> {
        let rows = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.send(Chunk::Rows(rows)).map_err(|_| Stop::Gone)
    }

    fn finish(mut self) -> Result<(), Stop> {
        self.flush_row()?;
        if !self.batch.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

/// On the reading thread: open the workbook, choose the sheet, send its rows.
fn read_sheet(path: &Path, sheet: Option<&str>, tx: &SyncSender<Chunk>) -> Result<(), Stop> {
    let mut workbook = open_workbook_auto(path)
        .map_err(|e| Stop::Failed(format!("not a readable workbook ({e})")))?;
    let names = workbook.sheet_names().to_vec();
    let chosen = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| {
                Stop::Failed(format!(
                    "no sheet named `{s}`; the sheets are: {}",
                    names.join(", ")
                ))
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| Stop::Failed("the workbook has no sheets".to_owned()))?,
    };
    let unreadable =
        |e: &dyn std::fmt::Display| Stop::Failed(format!("sheet `{chosen}` cannot be read ({e})"));
    let mut sink = Sink::new(tx, chosen.clone());
    if let Sheets::Xlsx(xlsx) = &mut workbook {
        let mut cells = xlsx
            .worksheet_cells_reader(&chosen)
            .map_err(|e| unreadable(&e))?;
        while let Some(cell) = cells.next_cell().map_err(|e| unreadable(&e))? {
            let position = cell.get_position();
            sink.cell(position, Data::from(cell.get_value().clone()))?;
        }
    } else {
        let range = workbook
            .worksheet_range(&chosen)
            .map_err(|e| unreadable(&e))?;
        if let Some(refusal) = dense_refusal(&chosen, &range) {
            return Err(Stop::Failed(refusal));
        }
        let (top, left) = range.start().unwrap_or((0, 0));
        for (row, cells) in (top..).zip(range.rows()) {
            for (col, cell) in (left..).zip(cells) {
                sink.cell((row, col), cell.clone())?;
            }
        }
    }
    sink.finish()
}

/// Why a dense sheet is not read: far larger than its values.
fn dense_refusal(sheet: &str, range: &Range<Data>) -> Option<String> {
    let (Some(start), Some(end)) = (range.start(), range.end()) else {
        return None;
    };
    let area = range.width() as u64 * range.height() as u64;
    if area <= SPARSE_FLOOR {
        return None;
    }
    // The value in the lowest row (the last in row order) and the one
    // furthest right: between them they stretch the sheet.
    let mut values = 0u64;
    let mut lowest = start;
    let mut rightmost = start;
    if area <= DENSE_CAP {
        for (r, c, cell) in range.used_cells() {
            if is_blank(cell) {
                continue;
            }
            values += 1;
            let at = (start.0 + r as u32, start.1 + c as u32);
            lowest = at;
            if at.1 > rightmost.1 {
                rightmost = at;
            }
        }
    } else {
        lowest = end;
        rightmost = end;
    }
    dense_verdict(sheet, start, end, area, values, lowest, rightmost)
}

fn dense_verdict(
    sheet: &str,
    start: (u32, u32),
    end: (u32, u32),
    area: u64,
    values: u64,
    lowest: (u32, u32),
    rightmost: (u32, u32),
) -> Option<String> {
    let too_big = area > DENSE_CAP;
    let too_sparse = area > SPARSE_FLOOR && area / SPARSE_RATIO > values;
    if !too_big && !too_sparse {
        return None;
    }
    let cell = |(r, c): (u32, u32)| format!("{}{}", column_name(c), u64::from(r) + 1);
    let far = if lowest == rightmost {
        cell(lowest)
    } else {
        format!("{} and {}", cell(lowest), cell(rightmost))
    };
    let why = if too_big {
        format!("more than the {DENSE_CAP} this reader takes")
    } else {
        format!("for only {values} values")
    };
    Some(format!(
        "sheet `{sheet}` spans {}:{} ({area} cells), {why}: its far values are at {far}; delete stray values there (or copy the responses to a new sheet) and try again",
        cell(start),
        cell(end)
    ))
}

/// A 0-based column as its letters: 0 → A, 26 → AA, 16383 → XFD.
fn column_name(col: u32) -> String {
    let mut n = u64::from(col) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

fn is_blank(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn cell_text(cell: &Data) -> String {
    match raw_value(cell.clone()) {
        RawValue::Str(s) | RawValue::Number(s) => s.trim().to_owned(),
        RawValue::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A text column's cell: a number as its text (CSV reads `12345` as text
/// too), an error cell as the error it is.
fn text_value(cell: Data) -> Result<RawValue, calamine::CellErrorType> {
    match cell {
        Data::Error(e) => Err(e),
        other => Ok(match raw_value(other) {
            RawValue::Number(n) => RawValue::Str(n),
            value => value,
        }),
    }
}

fn raw_value(cell: Data) -> RawValue {
    match cell {
        Data::Empty | Data::Error(_) => RawValue::Null,
        Data::String(s) => RawValue::Str(s),
        Data::Int(i) => RawValue::Number(i.to_string()),
        // Whole numbers as integers: ids and ages read as "12", not "12.0".
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
            RawValue::Number(format!("{}", f as i64))
        }
        Data::Float(f) => RawValue::Number(f.to_string()),
        Data::Bool(b) => RawValue::Bool(b),
        Data::DateTime(d) => RawValue::Str(excel_date(serial_1900(&d))),
        Data::DateTimeIso(s) | Data::DurationIso(s) => RawValue::Str(s),
    }
}

/// Days between the 1900 and 1904 date systems' day 0.
const DAYS_1904: f64 = 1_462.0;

/// The serial in the 1900 date system, for workbooks saved in the 1904 one
/// (old Mac Excel), whose serial 0 is 1904-01-01. calamine keeps which
/// system a date uses private; a date equals itself rebuilt as 1904 only
/// when it is one.
fn serial_1900(d: &ExcelDateTime) -> f64 {
    let kind = if d.is_duration() {
        ExcelDateTimeType::TimeDelta
    } else {
        ExcelDateTimeType::DateTime
    };
    if *d == ExcelDateTime::new(d.as_f64(), kind, true) {
        d.as_f64() + DAYS_1904
    } else {
        d.as_f64()
    }
}

/// An Excel date serial (days since 1899-12-30) as ISO 8601: the date alone
/// when there is no time of day. Seconds are rounded first, so a time that
/// rounds to midnight is the next day, not `T24:00:00`.
fn excel_date(serial: f64) -> String {
    if !serial.is_finite() || !(0.0..3_000_000.0).contains(&serial) {
        return serial.to_string();
    }
    let total = (serial * 86_400.0).round() as i64;
    let days = total.div_euclid(86_400) - 25_569; // days since 1970-01-01
    let seconds = total.rem_euclid(86_400);
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
    use super::*;

    #[test]
    fn excel_serials_become_iso_dates() {
        assert_eq!(excel_date(44_197.0), "2021-01-01");
        assert_eq!(excel_date(44_197.5), "2021-01-01T12:00:00");
        assert_eq!(excel_date(25_569.0), "1970-01-01");
        assert_eq!(excel_date(44_197.999_988_4), "2021-01-01T23:59:59");
    }

    #[test]
    fn a_time_that_rounds_to_midnight_is_the_next_day() {
        assert_eq!(excel_date(44_197.999_999_99), "2021-01-02");
        assert_eq!(excel_date(44_196.999_999_99), "2021-01-01");
        // The last day of a month and of a leap February carry too.
        assert_eq!(excel_date(44_255.999_999_99), "2021-03-01");
        assert_eq!(excel_date(43_889.999_999_99), "2020-02-29");
    }

    #[test]
    fn dates_of_the_1904_system_are_shifted_to_1900_serials() {
        let d1904 = ExcelDateTime::new(42_735.0, ExcelDateTimeType::DateTime, true);
        let d1900 = ExcelDateTime::new(44_197.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(excel_date(serial_1900(&d1904)), "2021-01-01");
        assert_eq!(excel_date(serial_1900(&d1900)), "2021-01-01");
    }

    #[test]
    fn columns_are_named_by_their_letters() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
        assert_eq!(column_name(16_383), "XFD");
    }

    #[test]
    fn a_dense_sheet_far_larger_than_its_values_is_refused_naming_the_far_cells() {
        // 65,536 x 256 (an .xls sheet's limit) for 5,001 values.
        let refusal = dense_verdict(
            "Responses",
            (0, 0),
            (65_535, 255),
            65_536 * 256,
            5_001,
            (65_535, 0),
            (2, 255),
        )
        .expect("refused");
        assert!(
            refusal.contains("sheet `Responses` spans A1:IV65536"),
            "{refusal}"
        );
        assert!(refusal.contains("A65536 and IV3"), "{refusal}");
        // A full sheet of the same size is read; so is a small sparse one.
        assert!(
            dense_verdict(
                "S",
                (0, 0),
                (65_535, 255),
                65_536 * 256,
                65_536 * 200,
                (65_535, 0),
                (0, 255)
            )
            .is_none()
        );
        assert!(dense_verdict("S", (0, 0), (999, 999), 1_000_000, 3, (999, 0), (0, 999)).is_none());
        // Above the cap, whatever the values.
        assert!(
            dense_verdict(
                "S",
                (0, 0),
                (99_999, 999),
                100_000_000,
                90_000_000,
                (0, 0),
                (0, 0)
            )
            .is_some()
        );
    }

    fn rows_of(cells: Vec<((u32, u32), Data)>) -> Result<Vec<(u32, Vec<u32>)>, Stop> {
        let (tx, rx) = sync_channel(1_000);
        let mut sink = Sink::new(&tx, "S".to_owned());
        for (at, value) in cells {
            sink.cell(at, value)?;
        }
        sink.finish()?;
        drop(tx);
        Ok(rx
            .into_iter()
            .flat_map(|chunk| match chunk {
                Chunk::Rows(rows) => rows,
                _ => Vec::new(),
            })
            .map(|r| (r.row, r.cells.iter().map(|(c, _)| *c).collect()))
            .collect())
    }

    #[test]
    fn cells_are_grouped_into_rows_of_their_values_in_column_order() {
        let s = |t: &str| Data::String(t.to_owned());
        let rows = rows_of(vec![
            ((0, 0), s("a")),
            ((0, 2), Data::Empty),
            ((0, 1), s("b")),
            ((4, 3), s("c")),
            ((4, 3), s("d")),
        ])
        .unwrap();
        assert_eq!(rows, [(0, vec![0, 1]), (4, vec![3])]);
        let out_of_order = rows_of(vec![((4, 0), s("a")), ((2, 0), s("b"))]);
        assert!(
            matches!(out_of_order, Err(Stop::Failed(m)) if m.contains("row 3 comes after row 5"))
        );
        let outside = rows_of(vec![((0, MAX_COLUMNS), s("a"))]);
        assert!(matches!(outside, Err(Stop::Failed(m)) if m.contains("outside a worksheet")));
    }
}
