//! report.xlsx: the counts an analyst takes into a spreadsheet — Themes,
//! Codes (0/1 per theme, frozen header, filters), Crosstab, Quotes and
//! Campaigns. Every text cell is written as a string, never as a formula, so
//! a response or attribute starting with `=` stays text.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, BufWriter, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rust_xlsxwriter::utility::column_number_to_name;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use zip::write::SimpleFileOptions;

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
    header: Vec<String>,
    rows: CodesRows,
    /// The Codes part, compressed once the rows were all in.
    prepared: Option<PreparedCodes>,
}

impl XlsxReport {
    /// A workbook with its Codes sheet written, after an empty Themes sheet
    /// so the sheet order is fixed. The rows' XML waits in a temporary file
    /// in `spool_dir`.
    pub fn start(rows: &ResponseRows, spool_dir: &Path) -> Result<XlsxReport, XlsxError> {
        let header = rows.header();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut report = XlsxReport::begin(&header, spool_dir)?;
        for i in 0..rows.len().min(MAX_DATA_ROWS) {
            let (id, attrs, codes) = rows.row(i);
            report.rows.push(id, attrs, codes)?;
        }
        Ok(report)
    }

    /// The workbook with the Codes sheet's header and no rows yet.
    fn begin(header: &[&str], spool_dir: &Path) -> Result<XlsxReport, XlsxError> {
        let mut book = new_book()?;
        codes_sheet(&mut book, header)?;
        let rows = CodesRows::new(header.len(), spool_dir)?;
        Ok(XlsxReport {
            book,
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows,
            prepared: None,
        })
    }

    /// Compress the Codes part now that every row is in: its deflate is
    /// most of packaging (1.7 s for the 450 MB sheet of 1,000,000 rows), and
    /// done here it overlaps the index's last segment instead of following
    /// the report as the run's last serial step. The sheet's frame is that
    /// of a workbook with only the Themes and Codes sheets; [`finish`]
    /// checks it against the whole workbook's and compresses again if they
    /// differ, so the file does not depend on this step.
    ///
    /// [`finish`]: XlsxReport::finish
    fn prepare_codes(&mut self) -> Result<(), XlsxError> {
        let mut book = new_book()?;
        let header: Vec<&str> = self.header.iter().map(String::as_str).collect();
        let sheet = codes_sheet(&mut book, &header)?;
        end_codes_sheet(sheet, self.rows.written, self.rows.cell_starts.len())?;
        let mut frame = zip::ZipArchive::new(Cursor::new(book.save_to_buffer()?))?;
        self.prepared = Some(self.rows.prepare(&codes_part_of(&mut frame)?)?);
        Ok(())
    }

    /// Fill in the other sheets from `report`, whose rows are the ones
    /// given to [`XlsxReport::start`], and return the file's bytes.
    pub fn finish(mut self, report: &Report) -> Result<Vec<u8>, XlsxError> {
        let (written, columns) = (self.rows.written, self.rows.cell_starts.len());
        let sheet = self.book.worksheet_from_name("Codes")?;
        end_codes_sheet(sheet, written, columns)?;
        let frame = write_other_sheets(self.book, report)?;
        self.rows.package(frame, self.prepared)
    }
}

/// Deflate level of every part (see [`new_book`]).
const DEFLATE_LEVEL: i64 = 1;

/// An empty workbook with its fixed settings and the (empty) Themes sheet.
fn new_book() -> Result<Workbook, XlsxError> {
    let mut book = Workbook::new();
    // Level 1 deflate: packaging is the last single-threaded step of
    // `run` and `code`. A 100k-row workbook compresses in about 0.1 s
    // instead of level 3's 0.25 s (the default level 6: 1.1 s), for a
    // file of 7.2 MB instead of 4.8 MB (4.1 MB).
    book.set_zip_compression_level(DEFLATE_LEVEL as u8);
    // A fixed creation date keeps report.xlsx byte-identical across runs.
    let fixed = ExcelDateTime::from_ymd(2000, 1, 1)?;
    book.set_properties(&DocProperties::new().set_creation_datetime(&fixed));
    book.add_worksheet().set_name("Themes")?;
    Ok(book)
}

/// The Codes sheet with its header row only: the data rows are
/// [`CodesRows`], spliced in when the workbook is packaged.
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

/// The Codes sheet's part in the package: the second sheet, after Themes.
const CODES_PART: &str = "xl/worksheets/sheet2.xml";

/// The Codes sheet's XML in a package rust_xlsxwriter wrote.
fn codes_part_of(frame: &mut zip::ZipArchive<Cursor<Vec<u8>>>) -> Result<String, XlsxError> {
    let mut sheet = String::new();
    frame.by_name(CODES_PART)?.read_to_string(&mut sheet)?;
    Ok(sheet)
}

/// The Codes part compressed ahead of packaging, and the frame's head and
/// tail it was written between. The part waits in a one-part zip in the
/// spool directory, not in memory: at 1,000,000 responses it is 72 MB,
/// which beside the report's work grew peak RSS with the corpus.
struct PreparedCodes {
    head: String,
    tail: String,
    part: zip::ZipArchive<BufReader<File>>,
}

/// The Codes sheet's data rows as worksheet XML, spooled to a temporary
/// file as they come and spliced into the package rust_xlsxwriter writes
/// around them ([`CodesRows::package`]).
///
/// Why not cells through rust_xlsxwriter: its constant-memory sheet costs
/// about 27,000 instructions a row of 11 cells (a map of cells per row, an
/// allocation per string, `write!` per cell), the largest single thing
/// `run` added to indexing. These rows are the same XML it writes, byte for
/// byte (tested), for a tenth of that. Everything else in the workbook —
/// the sheet's frame (dimension, frozen header, filter), styles, the other
/// sheets, the package — is still rust_xlsxwriter's.
struct CodesRows {
    spool: BufWriter<File>,
    spool_dir: PathBuf,
    /// `<c r="` and the column's letters, per column.
    cell_starts: Vec<Vec<u8>>,
    written: usize,
    /// Bytes of XML spooled.
    bytes: u64,
    line: Vec<u8>,
}

impl CodesRows {
    fn new(columns: usize, spool_dir: &Path) -> Result<CodesRows, XlsxError> {
        let cell_starts = (0..columns)
            .map(|c| {
                let name = column_number_to_name(u16::try_from(c).unwrap_or(u16::MAX));
                [b"<c r=\"".as_slice(), name.as_bytes()].concat()
            })
            .collect();
        Ok(CodesRows {
            spool: BufWriter::new(tempfile::tempfile_in(spool_dir)?),
            spool_dir: spool_dir.to_owned(),
            cell_starts,
            written: 0,
            bytes: 0,
            line: Vec::new(),
        })
    }

    /// The next data row: id, attribute values, 0/1 codes, as rust_xlsxwriter
    /// writes them (an empty text is no cell). Rows past Excel's limit are
    /// not written.
    fn push<'v>(
        &mut self,
        id: &'v str,
        attrs: impl Iterator<Item = &'v str>,
        codes: &[bool],
    ) -> Result<(), XlsxError> {
        if self.written >= MAX_DATA_ROWS {
            return Ok(());
        }
        self.written += 1;
        let mut digits = itoa::Buffer::new();
        let row = digits.format(self.written + 1).as_bytes();
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(b"<row r=\"");
        line.extend_from_slice(row);
        line.extend_from_slice(b"\">");
        let more_values_than_columns = || {
            XlsxError::ParameterError(format!(
                "a Codes row has more values than the sheet's {} columns; please report this as a bug",
                self.cell_starts.len()
            ))
        };
        let mut starts = self.cell_starts.iter();
        for text in std::iter::once(id).chain(attrs) {
            let start = starts.next().ok_or_else(more_values_than_columns)?;
            let text = cell(text);
            if text.is_empty() {
                continue;
            }
            line.extend_from_slice(start);
            line.extend_from_slice(row);
            line.extend_from_slice(b"\" t=\"inlineStr\"><is><t");
            if text.starts_with(['\t', '\n', ' ']) || text.ends_with(['\t', '\n', ' ']) {
                line.extend_from_slice(b" xml:space=\"preserve\"");
            }
            line.push(b'>');
            push_xml_text(line, &text);
            line.extend_from_slice(b"</t></is></c>");
        }
        for code in codes {
            let start = starts.next().ok_or_else(more_values_than_columns)?;
            line.extend_from_slice(start);
            line.extend_from_slice(row);
            line.extend_from_slice(if *code {
                b"\"><v>1</v></c>"
            } else {
                b"\"><v>0</v></c>"
            });
        }
        line.extend_from_slice(b"</row>");
        self.bytes += line.len() as u64;
        self.spool.write_all(line)?;
        Ok(())
    }

    /// The Codes part, compressed: the rows between the head and tail of
    /// `sheet`, the frame's Codes sheet.
    fn prepare(&mut self, sheet: &str) -> Result<PreparedCodes, XlsxError> {
        let (head, tail) = self.frame_around_rows(sheet)?;
        let mut zip = zip::ZipWriter::new(BufWriter::new(tempfile::tempfile_in(&self.spool_dir)?));
        zip.start_file(CODES_PART, self.part_options(&head, tail))?;
        self.write_part(&mut zip, &head, tail)?;
        let file = zip.finish()?.into_inner().map_err(|e| e.into_error())?;
        Ok(PreparedCodes {
            head,
            tail: tail.to_owned(),
            part: zip::ZipArchive::new(BufReader::new(file))?,
        })
    }

    /// The Codes part's options: the ones rust_xlsxwriter gives every part,
    /// so the file is the one it would write; zip64 only when the sheet
    /// needs it.
    fn part_options(&self, head: &str, tail: &str) -> SimpleFileOptions {
        let sheet_bytes = head.len() as u64 + self.bytes + tail.len() as u64;
        SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(DEFLATE_LEVEL))
            .unix_permissions(0o600)
            .last_modified_time(zip::DateTime::default())
            .large_file(sheet_bytes >= u64::from(u32::MAX))
    }

    /// The sheet's XML: `head`, the spooled rows, `tail`.
    fn write_part(
        &mut self,
        out: &mut impl Write,
        head: &str,
        tail: &str,
    ) -> Result<(), XlsxError> {
        self.spool.flush()?;
        let spool = self.spool.get_mut();
        spool.rewind()?;
        out.write_all(head.as_bytes())?;
        std::io::copy(&mut BufReader::new(&*spool), out)?;
        out.write_all(tail.as_bytes())?;
        Ok(())
    }

    /// The package rust_xlsxwriter wrote (`frame`, whose Codes sheet has its
    /// header row, frozen pane and filter but no data), with the spooled
    /// rows put into that sheet: `prepared` when it was cut from the same
    /// frame, else compressed now. Every other part is copied as it is,
    /// compressed bytes and all.
    fn package(
        mut self,
        frame: Vec<u8>,
        prepared: Option<PreparedCodes>,
    ) -> Result<Vec<u8>, XlsxError> {
        let mut archive = zip::ZipArchive::new(Cursor::new(frame))?;
        let sheet = codes_part_of(&mut archive)?;
        let (head, tail) = self.frame_around_rows(&sheet)?;
        let mut prepared = prepared.filter(|p| p.head == head && p.tail == tail);
        let mut out = zip::ZipWriter::new_stream(Vec::new());
        for i in 0..archive.len() {
            let part = archive.by_index_raw(i)?;
            if part.name().is_ok_and(|name| name == CODES_PART) {
                drop(part);
                match prepared.take() {
                    Some(mut p) => out.raw_copy_file(p.part.by_index_raw(0)?)?,
                    None => {
                        out.start_file(CODES_PART, self.part_options(&head, tail))?;
                        self.write_part(&mut out, &head, tail)?;
                    }
                }
            } else {
                out.raw_copy_file(part)?;
            }
        }
        Ok(out.finish()?.into_inner())
    }

    /// The frame's Codes sheet cut where the rows go (after the header
    /// row), its dimension widened to the rows written.
    fn frame_around_rows<'s>(&self, sheet: &'s str) -> Result<(String, &'s str), XlsxError> {
        let missing = |what: &str| {
            XlsxError::ParameterError(format!(
                "{CODES_PART} of the workbook's frame has no {what}; please report this as a bug"
            ))
        };
        let cut = sheet
            .find("</sheetData>")
            .ok_or_else(|| missing("</sheetData>"))?;
        let (head, tail) = sheet.split_at(cut);
        let mut head = head.to_owned();
        if self.written > 0 {
            const DIMENSION: &str = "<dimension ref=\"";
            let from =
                head.find(DIMENSION).ok_or_else(|| missing("<dimension>"))? + DIMENSION.len();
            let to = from
                + head[from..]
                    .find('"')
                    .ok_or_else(|| missing("end to its <dimension>"))?;
            let last_column =
                column_number_to_name(self.cell_starts.len().saturating_sub(1) as u16);
            head.replace_range(from..to, &format!("A1:{last_column}{}", self.written + 1));
        }
        Ok((head, tail))
    }
}

/// `text` escaped as rust_xlsxwriter escapes cell text: a literal `_xHHHH_`
/// (which Excel reads as an escaped character) gets its `_` escaped as
/// `_x005F`; `&`, `<` and `>` become entities; control characters but tab
/// and line feed, and the noncharacters U+FFFE and U+FFFF, become `_xHHHH_`.
fn push_xml_text(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // Runs of ordinary bytes are copied whole; a multi-byte character is
    // ordinary unless it is U+FFFE or U+FFFF (EF BF BE, EF BF BF).
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (escape, len): (Cow<'static, [u8]>, usize) = match b {
            b'&' => (Cow::Borrowed(b"&amp;"), 1),
            b'<' => (Cow::Borrowed(b"&lt;"), 1),
            b'>' => (Cow::Borrowed(b"&gt;"), 1),
            b'_' if is_xml_escape(&bytes[i..]) => (Cow::Borrowed(b"_x005F_"), 1),
            0..=0x08 | 0x0B..=0x1F => (Cow::Owned(format!("_x{b:04X}_").into_bytes()), 1),
            0xEF if bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
            {
                let c = if bytes[i + 2] == 0xBE { "FFFE" } else { "FFFF" };
                (Cow::Owned(format!("_x{c}_").into_bytes()), 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[copied..i]);
        out.extend_from_slice(&escape);
        i += len;
        copied = i;
    }
    out.extend_from_slice(&bytes[copied..]);
}

/// `_x` and four hex digits and `_`: how OOXML writes a character in text.
fn is_xml_escape(at: &[u8]) -> bool {
    at.len() >= 7 && at[1] == b'x' && at[2..6].iter().all(u8::is_ascii_hexdigit) && at[6] == b'_'
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
    /// Every row has been sent.
    RowsDone,
    Finish(Arc<Report>),
}

type WorkbookThread = std::thread::JoinHandle<Option<Result<Vec<u8>, XlsxError>>>;

/// report.xlsx built while the corpus is coded. Its Codes sheet, most of
/// the workbook's cost, is written on a thread of its own from rows sent
/// as responses are coded, instead of after the run
/// when nothing else is left to overlap it. The first row fixes the
/// header; a caller that later meets a new attribute drops the stream and
/// builds the workbook with [`XlsxReport::start`] instead.
pub struct StreamedWorkbook {
    tx: Option<crossbeam_channel::Sender<SheetMessage>>,
    handle: Option<WorkbookThread>,
}

impl StreamedWorkbook {
    /// Start the workbook thread with the Codes sheet's header; the rows'
    /// XML waits in a temporary file in `spool_dir`.
    pub fn start(header: Vec<String>, spool_dir: PathBuf) -> StreamedWorkbook {
        // A few batches in flight: enough to keep both sides busy.
        let (tx, rx) = crossbeam_channel::bounded::<SheetMessage>(8);
        let handle = std::thread::spawn(move || build_streamed(&header, &spool_dir, rx));
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

    /// Every row has been sent: the thread compresses the Codes sheet while
    /// the report is built.
    pub fn rows_done(&mut self) {
        if let Some(tx) = &self.tx
            && tx.send(SheetMessage::RowsDone).is_err()
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
    spool_dir: &Path,
    rx: crossbeam_channel::Receiver<SheetMessage>,
) -> Option<Result<Vec<u8>, XlsxError>> {
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut started = XlsxReport::begin(&names, spool_dir);
    for message in rx {
        match message {
            SheetMessage::Rows(rows) => {
                let Ok(book) = started.as_mut() else {
                    continue;
                };
                for row in &rows {
                    let attrs = row.attrs.iter().map(String::as_str);
                    if let Err(e) = book.rows.push(&row.id, attrs, &row.codes) {
                        started = Err(e);
                        break;
                    }
                }
            }
            SheetMessage::RowsDone => {
                if let Ok(book) = started.as_mut()
                    && book.prepare_codes().is_err()
                {
                    // Only a head start: packaging compresses the rows
                    // from the spool instead, and reports its own error.
                    book.prepared = None;
                }
            }
            SheetMessage::Finish(report) => {
                return Some(started.and_then(|book| book.finish(&report)));
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
            "{} responses coded ({} records read, {} rejected); “share” is of coded responses, “distinct share” of {} distinct submissions (each campaign counted once).",
            report.totals.records_coded,
            report.totals.records_read,
            report.totals.records_rejected,
            report.totals.distinct_submissions
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
        let begins = match (c.withheld_notice(), &c.representative) {
            (None, Some(text)) => super::redact::redact(text),
            (notice, _) => format!("({})", notice.unwrap_or("Text withheld")),
        };
        sheet.write_string(r, 3, cell(&begins))?;
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

/// Text made safe to display and cut to Excel's cell limit of 32,767 UTF-16
/// units (a campaign's member list can be longer); report.json keeps the
/// whole. Plain ASCII text that is already safe is borrowed, not copied.
fn cell(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_CELL_CHARS && is_plain_display_text(text) {
        return Cow::Borrowed(text);
    }
    let safe = display_safe(text);
    if safe.encode_utf16().count() <= MAX_CELL_CHARS {
        return Cow::Owned(safe);
    }
    let room = MAX_CELL_CHARS - 40;
    let mut units = 0;
    let mut cut: String = safe
        .chars()
        .take_while(|c| {
            units += c.len_utf16();
            units <= room
        })
        .collect();
    cut.push_str(" … (cut: see report.json)");
    Cow::Owned(cut)
}

/// `display_safe(text) == text` for printable ASCII: no control characters,
/// no space at either end, no two spaces together.
fn is_plain_display_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().all(|b| (b' '..=b'~').contains(b))
        && bytes.first() != Some(&b' ')
        && bytes.last() != Some(&b' ')
        && !bytes.windows(2).any(|w| w == b"  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The part `name` of an xlsx file, as text.
    fn part(xlsx: Vec<u8>, name: &str) -> String {
        let mut archive = zip::ZipArchive::new(Cursor::new(xlsx)).unwrap();
        let mut text = String::new();
        archive
            .by_name(name)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    type Row = (String, Vec<String>, Vec<bool>);

    /// The Codes sheet as rust_xlsxwriter writes it from cells.
    fn sheet_from_cells(header: &[&str], rows: &[Row]) -> String {
        let mut book = new_book().unwrap();
        let sheet = codes_sheet(&mut book, header).unwrap();
        for (i, (id, attrs, codes)) in rows.iter().enumerate() {
            let r = i as u32 + 1;
            sheet.write_string(r, 0, cell(id)).unwrap();
            let mut c = 1u16;
            for value in attrs {
                sheet.write_string(r, c, cell(value)).unwrap();
                c += 1;
            }
            for code in codes {
                sheet.write_number(r, c, u8::from(*code)).unwrap();
                c += 1;
            }
        }
        end_codes_sheet(sheet, rows.len(), header.len()).unwrap();
        part(book.save_to_buffer().unwrap(), CODES_PART)
    }

    /// The Codes sheet as [`CodesRows`] splices it into the frame.
    fn sheet_from_rows(header: &[&str], rows: &[Row]) -> String {
        let mut book = new_book().unwrap();
        let sheet = codes_sheet(&mut book, header).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut spooled = CodesRows::new(header.len(), dir.path()).unwrap();
        for (id, attrs, codes) in rows {
            spooled
                .push(id, attrs.iter().map(String::as_str), codes)
                .unwrap();
        }
        end_codes_sheet(sheet, rows.len(), header.len()).unwrap();
        let frame = book.save_to_buffer().unwrap();
        part(spooled.package(frame, None).unwrap(), CODES_PART)
    }

    fn header(columns: usize) -> Vec<String> {
        (0..columns).map(|c| format!("col{c}")).collect()
    }

    #[test]
    fn spliced_rows_are_the_sheet_rust_xlsxwriter_writes() {
        // Past column Z, an empty attribute, escapes, entities, a text over
        // Excel's cell limit and one of astral characters over it (17,000
        // emoji are 34,000 UTF-16 units, which rust_xlsxwriter refuses
        // unless `cell` cuts by units).
        let names = header(32);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let attrs = |first: &str| {
            vec![
                first.to_owned(),
                String::new(),
                "a & b <c> _x0041_ _x00G1_".into(),
                "x".repeat(40_000),
                "😀".repeat(17_000),
            ]
        };
        let rows: Vec<Row> = (0..30)
            .map(|i| {
                let codes = (0..26).map(|c| (i + c) % 3 == 0).collect();
                (
                    format!("R{i:04}"),
                    attrs(&format!("  spaced\tout {i} ")),
                    codes,
                )
            })
            .collect();
        let from_rows = sheet_from_rows(&names, &rows);
        assert!(
            from_rows.contains("<c r=\"AF31\"><v>"),
            "{}",
            &from_rows[..600]
        );
        assert!(from_rows.contains("_x005F_x0041_ _x00G1_"));
        let cut = cell(&rows[0].1[4]);
        assert!(cut.ends_with(" … (cut: see report.json)"));
        assert!(cut.encode_utf16().count() <= MAX_CELL_CHARS);
        assert_eq!(from_rows, sheet_from_cells(&names, &rows));
    }

    /// A report of no responses, for the sheets after Codes.
    fn empty_report() -> Report {
        let codebook = crate::codebook::Codebook::default_care_review().unwrap();
        let aggregator = super::super::Aggregator::new(
            &codebook,
            vec!["text".into()],
            super::super::ReportOptions::default(),
        );
        let rows = Arc::new(ResponseRows::default());
        aggregator
            .finish(rows, 0, "rejects.jsonl", "flagged.jsonl", &|_| None)
            .unwrap()
    }

    /// The Codes part compressed when the rows end is cut from a workbook
    /// of the Themes and Codes sheets only. It must be the part packaged
    /// into the whole workbook, sheet for sheet the same as one compressed
    /// at packaging; a frame that differed would compress the sheet twice.
    #[test]
    fn the_codes_part_compressed_early_is_the_one_packaged() {
        let names = header(12);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let report = empty_report();
        let dir = tempfile::tempdir().unwrap();
        let filled = |prepare: bool| {
            let mut book = XlsxReport::begin(&names, dir.path()).unwrap();
            for i in 0..50 {
                let codes: Vec<bool> = (0..9).map(|c| (i + c) % 4 == 0).collect();
                let attrs = [format!("type {i}"), "a & b".to_owned()];
                let attrs = attrs.iter().map(String::as_str);
                book.rows.push(&format!("R{i}"), attrs, &codes).unwrap();
            }
            if prepare {
                book.prepare_codes().unwrap();
            }
            book
        };
        // The frame `finish` builds, and the head and tail cut from it.
        let mut book = filled(true);
        let sheet = book.book.worksheet_from_name("Codes").unwrap();
        end_codes_sheet(sheet, book.rows.written, names.len()).unwrap();
        let frame = write_other_sheets(book.book, &report).unwrap();
        let whole = part(frame, CODES_PART);
        let (head, tail) = book.rows.frame_around_rows(&whole).unwrap();
        let prepared = book.prepared.take().unwrap();
        assert_eq!(
            (prepared.head.as_str(), prepared.tail.as_str()),
            (head.as_str(), tail)
        );

        let early = filled(true).finish(&report).unwrap();
        let late = filled(false).finish(&report).unwrap();
        // The early part was the one packaged: a part copied from the
        // prepared zip is framed differently (its sizes before its data).
        assert!(early != late);
        let early_sheet = part(early.clone(), CODES_PART);
        assert!(
            early_sheet.contains("<row r=\"51\">"),
            "{}",
            &early_sheet[..400]
        );
        assert!(early_sheet == part(late.clone(), CODES_PART));
        // Every part the same, compressed the same (the entries' framing
        // may differ: a part copied from the prepared zip carries its sizes
        // before its data).
        let parts = |xlsx: Vec<u8>| {
            let mut archive = zip::ZipArchive::new(Cursor::new(xlsx)).unwrap();
            let mut all = Vec::new();
            for i in 0..archive.len() {
                let p = archive.by_index_raw(i).unwrap();
                let name = p.name().unwrap().to_string();
                all.push((name, p.crc32(), p.size(), p.compressed_size()));
            }
            all
        };
        assert_eq!(parts(early), parts(late));
    }

    #[test]
    fn a_row_longer_than_the_header_is_an_error_not_a_short_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut spooled = CodesRows::new(3, dir.path()).unwrap();
        assert!(spooled.push("R1", ["a"].into_iter(), &[true]).is_ok());
        assert!(spooled.push("R2", ["a", "b"].into_iter(), &[true]).is_err());
        assert!(
            spooled
                .push("R3", ["a"].into_iter(), &[true, false])
                .is_err()
        );
    }

    #[test]
    fn no_rows_leave_the_frame_as_it_was() {
        let names = ["id", "region", "care"];
        assert_eq!(sheet_from_rows(&names, &[]), sheet_from_cells(&names, &[]));
    }

    #[test]
    fn escapes_match_rust_xlsxwriter_on_raw_text() {
        // Control characters and noncharacters never reach a cell through
        // `cell`, but the escaping must still be rust_xlsxwriter's.
        let raw = "a\u{1}b\u{1f}c\td\ne\u{fffe}f\u{ffff}g\u{feff}h_x00ff_i_x12_j&<>";
        let mut book = Workbook::new();
        book.add_worksheet_with_constant_memory()
            .unwrap()
            .write_string(0, 0, raw)
            .unwrap();
        let sheet = part(book.save_to_buffer().unwrap(), "xl/worksheets/sheet1.xml");
        let mut ours = Vec::new();
        push_xml_text(&mut ours, raw);
        let ours = String::from_utf8(ours).unwrap();
        assert!(sheet.contains(&format!(">{ours}</t>")), "{ours}\n{sheet}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_rows_splice_as_rust_xlsxwriter_writes_them(
            rows in proptest::collection::vec(
                (
                    "[a-zA-Z0-9_ &<>x\u{e9}\u{2028}\u{200b}\t\u{3000}-]{0,12}",
                    proptest::collection::vec("[a-z_ &<>x0-9A-F\u{fffe}\u{1}]{0,10}", 3),
                    proptest::collection::vec(any::<bool>(), 4),
                ),
                0..12,
            )
        ) {
            let names = ["id", "a", "b", "c", "t1", "t2", "t3", "t4"];
            prop_assert_eq!(sheet_from_rows(&names, &rows), sheet_from_cells(&names, &rows));
        }
    }
}
