//! report.xlsx: the counts an analyst takes into a spreadsheet — Themes,
//! Codes (0/1 per theme, frozen header, filters), Crosstab, Quotes and
//! Campaigns. Every text cell is written as a string, never as a formula, so
//! a response or attribute starting with `=` stays text.

use std::sync::Arc;

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::sanitize::display_safe;
use super::{Report, ResponseRows};

/// Excel's last row is 1,048,576; the Codes sheet keeps one for its header.
const MAX_DATA_ROWS: usize = 1_048_575;

/// report.xlsx built in two steps: the Codes sheet, which is most of the
/// work and needs only the per-response rows, then the sheets that need the
/// finished report. `run` and `code` start the first while the report is
/// being finished, so the spreadsheet is less of a serial tail.
pub struct XlsxReport {
    book: Workbook,
}

impl XlsxReport {
    /// A workbook with its Codes sheet written, after an empty Themes sheet
    /// so the sheet order is fixed.
    pub fn start(rows: &ResponseRows) -> Result<XlsxReport, XlsxError> {
        let mut book = new_book()?;
        let header: Vec<&str> = rows.header().collect();
        let shown = rows.len().min(MAX_DATA_ROWS);
        let sheet = codes_sheet(&mut book, &header)?;
        for i in 0..shown {
            let (id, attrs, codes) = rows.row(i);
            write_codes_row(sheet, i as u32 + 1, id, attrs, codes)?;
        }
        end_codes_sheet(sheet, shown, header.len())?;
        Ok(XlsxReport { book })
    }

    /// Fill in the other sheets from `report`, whose rows are the ones
    /// given to [`XlsxReport::start`], and return the file's bytes.
    pub fn finish(self, report: &Report) -> Result<Vec<u8>, XlsxError> {
        write_other_sheets(self.book, report)
    }
}

/// An empty workbook with its fixed settings and the (empty) Themes sheet.
fn new_book() -> Result<Workbook, XlsxError> {
    let mut book = Workbook::new();
    // Level 1 deflate: packaging is the last single-threaded step of
    // `run` and `code`. A 100k-row workbook compresses in about 0.1 s
    // instead of level 3's 0.25 s (the default level 6: 1.1 s), for a
    // file of 7.2 MB instead of 4.8 MB (4.1 MB).
    book.set_zip_compression_level(1);
    // A fixed creation date keeps report.xlsx byte-identical across runs.
    let fixed = ExcelDateTime::from_ymd(2000, 1, 1)?;
    book.set_properties(&DocProperties::new().set_creation_datetime(&fixed));
    book.add_worksheet().set_name("Themes")?;
    Ok(book)
}

/// The Codes sheet with its header row, streamed row by row in constant memory.
fn codes_sheet<'b>(
    book: &'b mut Workbook,
    header: &[&str],
) -> Result<&'b mut Worksheet, XlsxError> {
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet_with_constant_memory()?;
    sheet.set_name("Codes")?;
    write_header(sheet, header, &bold)?;
    Ok(sheet)
}

/// Row `r` of the Codes sheet: id, attribute values, 0/1 codes.
fn write_codes_row<'v>(
    sheet: &mut Worksheet,
    r: u32,
    id: &str,
    attrs: impl Iterator<Item = &'v str>,
    codes: &[bool],
) -> Result<(), XlsxError> {
    sheet.write_string(r, 0, cell(id))?;
    let mut c = 1u16;
    for value in attrs {
        sheet.write_string(r, c, cell(value))?;
        c += 1;
    }
    for code in codes {
        sheet.write_number(r, c, u8::from(*code))?;
        c += 1;
    }
    Ok(())
}

/// Frozen header and filters over the `shown` data rows.
fn end_codes_sheet(sheet: &mut Worksheet, shown: usize, columns: usize) -> Result<(), XlsxError> {
    sheet.set_freeze_panes(1, 0)?;
    if columns > 0 {
        sheet.autofilter(0, 0, shown as u32, columns as u16 - 1)?;
    }
    Ok(())
}

/// One response's row of the Codes sheet, sent while the corpus is coded.
pub struct SheetRow {
    pub id: String,
    /// Values in the header's attribute order, "" where absent.
    pub attrs: Vec<String>,
    pub codes: Vec<bool>,
}

enum SheetMessage {
    Rows(Vec<SheetRow>),
    Finish(Arc<Report>),
}

type WorkbookThread = std::thread::JoinHandle<Option<Result<Vec<u8>, XlsxError>>>;

/// report.xlsx built while the corpus is coded. Its Codes sheet, most of
/// the workbook's cost (about 5 µs a row), is written on a thread of its
/// own from rows sent as responses are coded, instead of after the run
/// when nothing else is left to overlap it. The first row fixes the
/// header; a caller that later meets a new attribute drops the stream and
/// builds the workbook with [`XlsxReport::start`] instead.
pub struct StreamedWorkbook {
    tx: Option<crossbeam_channel::Sender<SheetMessage>>,
    handle: Option<WorkbookThread>,
}

impl StreamedWorkbook {
    /// Start the workbook thread with the Codes sheet's header.
    pub fn start(header: Vec<String>) -> StreamedWorkbook {
        // A few batches in flight: enough to keep both sides busy.
        let (tx, rx) = crossbeam_channel::bounded::<SheetMessage>(8);
        let handle = std::thread::spawn(move || build_streamed(&header, rx));
        StreamedWorkbook {
            tx: Some(tx),
            handle: Some(handle),
        }
    }

    /// Send the next rows, in response order.
    pub fn send(&mut self, rows: Vec<SheetRow>) {
        if let Some(tx) = &self.tx
            && tx.send(SheetMessage::Rows(rows)).is_err()
        {
            self.tx = None;
        }
    }

    /// Fill in the other sheets from `report` and return the file's bytes;
    /// `None` when the workbook thread is gone.
    pub fn finish(mut self, report: Arc<Report>) -> Option<Result<Vec<u8>, XlsxError>> {
        let tx = self.tx.take()?;
        tx.send(SheetMessage::Finish(report)).ok()?;
        drop(tx);
        self.handle.take()?.join().ok().flatten()
    }
}

impl Drop for StreamedWorkbook {
    /// An abandoned stream closes its channel, which ends its thread, and
    /// waits for it: no thread outlives the run.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The workbook thread: the Codes sheet from the rows received, then the
/// other sheets once the report comes; `None` if it never comes.
fn build_streamed(
    header: &[String],
    rx: crossbeam_channel::Receiver<SheetMessage>,
) -> Option<Result<Vec<u8>, XlsxError>> {
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut book = None;
    let mut failed = None;
    match new_book() {
        Ok(b) => book = Some(b),
        Err(e) => failed = Some(e),
    }
    if let Some(b) = book.as_mut()
        && let Err(e) = codes_sheet(b, &names)
    {
        failed = Some(e);
    }
    let mut written = 0usize;
    for message in rx {
        match message {
            SheetMessage::Rows(rows) => {
                if failed.is_some() {
                    continue;
                }
                let Some(sheet) = book
                    .as_mut()
                    .and_then(|b| b.worksheet_from_name("Codes").ok())
                else {
                    continue;
                };
                for row in rows.iter().take(MAX_DATA_ROWS.saturating_sub(written)) {
                    written += 1;
                    let attrs = row.attrs.iter().map(String::as_str);
                    if let Err(e) =
                        write_codes_row(sheet, written as u32, &row.id, attrs, &row.codes)
                    {
                        failed = Some(e);
                        break;
                    }
                }
            }
            SheetMessage::Finish(report) => {
                if let Some(e) = failed {
                    return Some(Err(e));
                }
                let mut book = book?;
                let ended = book
                    .worksheet_from_name("Codes")
                    .and_then(|sheet| end_codes_sheet(sheet, written, names.len()));
                return Some(ended.and_then(|()| write_other_sheets(book, &report)));
            }
        }
    }
    None
}

fn write_other_sheets(mut book: Workbook, report: &Report) -> Result<Vec<u8>, XlsxError> {
    let bold = Format::new().set_bold();
    // Themes
    let sheet = book.worksheet_from_index(0)?;
    let header = [
        "theme",
        "label",
        "responses",
        "share",
        "distinct submissions",
        "distinct share",
    ];
    write_header(sheet, &header, &bold)?;
    for (i, t) in report.themes.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, cell(&t.id))?;
        sheet.write_string(r, 1, cell(&t.label))?;
        sheet.write_number(r, 2, t.responses as f64)?;
        sheet.write_number(r, 3, t.share)?;
        sheet.write_number(r, 4, t.distinct_submissions as f64)?;
        sheet.write_number(r, 5, t.distinct_share)?;
    }
    let notes_row = report.themes.len() as u32 + 2;
    sheet.write_string(
        notes_row,
        0,
        format!(
            "{} responses coded ({} records read, {} rejected); shares are of coded responses.",
            report.totals.records_coded, report.totals.records_read, report.totals.records_rejected
        ),
    )?;
    // One Codes row per coded response.
    let responses = report.totals.records_coded;
    if responses > MAX_DATA_ROWS as u64 {
        sheet.write_string(
            notes_row + 1,
            0,
            format!(
                "The Codes sheet holds the first {MAX_DATA_ROWS} of {responses} responses (Excel's row limit); codes.csv holds all.",
            ),
        )?;
    }
    sheet.set_column_width(1, 28)?;

    // Crosstab
    let sheet = book.add_worksheet();
    sheet.set_name("Crosstab")?;
    if let Some(ct) = &report.crosstab {
        sheet.write_string_with_format(0, 0, cell(&ct.attribute), &bold)?;
        for (v, (value, size)) in ct.values.iter().enumerate() {
            sheet.write_string_with_format(0, v as u16 + 1, cell(value), &bold)?;
            sheet.write_number(report.themes.len() as u32 + 1, v as u16 + 1, *size as f64)?;
        }
        sheet.write_string(report.themes.len() as u32 + 1, 0, "responses in group")?;
        for (t, counts) in ct.counts.iter().enumerate() {
            let label = report
                .codebook
                .themes
                .get(t)
                .map_or("", |c| c.label.as_str());
            sheet.write_string(t as u32 + 1, 0, cell(label))?;
            for (v, n) in counts.iter().enumerate() {
                sheet.write_number(t as u32 + 1, v as u16 + 1, *n as f64)?;
            }
        }
    } else {
        sheet.write_string(0, 0, "No attribute to cross-tabulate (see --by).")?;
    }

    // Quotes
    let sheet = book.add_worksheet();
    sheet.set_name("Quotes")?;
    write_header(
        sheet,
        &["theme", "response", "question", "respondent type", "quote"],
        &bold,
    )?;
    let mut r = 1u32;
    for t in &report.themes {
        for q in &t.quotes {
            sheet.write_string(r, 0, cell(&t.label))?;
            sheet.write_string(r, 1, cell(&q.id))?;
            sheet.write_string(r, 2, cell(&q.question))?;
            sheet.write_string(r, 3, cell(q.respondent_type.as_deref().unwrap_or("")))?;
            sheet.write_string(r, 4, cell(&q.text))?;
            r += 1;
        }
    }
    sheet.set_column_width(4, 100)?;

    // Campaigns
    let sheet = book.add_worksheet();
    sheet.set_name("Campaigns")?;
    write_header(
        sheet,
        &["campaign", "responses", "members", "begins"],
        &bold,
    )?;
    for (i, c) in report.campaigns.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, cell(&c.id))?;
        sheet.write_number(r, 1, c.size as f64)?;
        sheet.write_string(r, 2, cell(&c.members.join(", ")))?; // capped, see `cell`
        sheet.write_string(r, 3, cell(&super::redact::redact(&c.representative)))?;
    }

    book.save_to_buffer()
}

fn write_header(sheet: &mut Worksheet, names: &[&str], bold: &Format) -> Result<(), XlsxError> {
    for (c, name) in names.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, cell(name), bold)?;
    }
    Ok(())
}

/// Excel's longest cell text.
const MAX_CELL_CHARS: usize = 32_767;

/// Text made safe to display and cut to Excel's cell limit (a campaign's
/// member list can be longer); report.json keeps the whole.
fn cell(text: &str) -> String {
    let safe = display_safe(text);
    if safe.chars().count() <= MAX_CELL_CHARS {
        return safe;
    }
    let mut cut: String = safe.chars().take(MAX_CELL_CHARS - 40).collect();
    cut.push_str(" … (cut: see report.json)");
    cut
}
