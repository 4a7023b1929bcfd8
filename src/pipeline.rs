//! The batch pipeline behind `run`, `code` and `report`:
//! read → normalise → tokenise once → (index ‖ classify) → aggregate → write.
//!
//! A reader thread streams batches of records through a bounded channel;
//! each batch is tokenised and coded under rayon (order kept), then its units
//! go, in ordinal order, to the tantivy writer, codes.jsonl, the restricted
//! file and the aggregator. Memory is bounded by the channel, the batch size
//! and tantivy's writer budget, not by the corpus.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::bounded;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classify::{Classifier, CodeHit, Coding};
use crate::codebook::{Codebook, CodebookError};
use crate::codes_json::CodesLineWriter;
use crate::corpus::{CorpusError, CorpusReader, InputSource, Item, ReadOptions, Reject};
use crate::index::{self, IndexBuilder, IndexError, StoredUnit, UnitDoc};
use crate::output::{OutputDir, OutputError, StagedWriter};
use crate::overrides::{Override, OverrideError, OverrideSummary, Overrides, UnitOverrides};
use crate::report::campaign::Signature;
use crate::report::{
    self, Aggregator, CodesCsv, Report, ReportOptions, SheetRow, StreamedWorkbook, UnitInput,
};
use crate::search::{UNITS_FILE, UnitsWriter};
use crate::text::{Tokeniser, TokenizedText, encode_terms};

/// File names inside the output directory.
pub mod files {
    pub const INDEX: &str = "index";
    pub const CODES_JSONL: &str = "codes.jsonl";
    pub const REPORT_XLSX: &str = "report.xlsx";
    pub const CODES_CSV: &str = "codes.csv";
    pub const THEMES_CSV: &str = "themes.csv";
    pub const REPORT_JSON: &str = "report.json";
    pub const SUMMARY_MD: &str = "summary.md";
    pub const REPORT_HTML: &str = "report.html";
    pub const REJECTS: &str = "rejects.jsonl";
    pub const FLAGGED: &str = "restricted/flagged.jsonl";
    pub const MANIFEST: &str = "run.json";
    pub const CODEBOOK: &str = "codebook.toml";
}

/// Records per batch sent from the reader to the coder.
const BATCH: usize = 512;
/// Batches in flight between reader and coder.
const CHANNEL_DEPTH: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Codebook(#[from] CodebookError),
    #[error(transparent)]
    Overrides(#[from] OverrideError),
    #[error(
        "{path}: cannot write: {source}; check free space and permissions, or choose another --out"
    )]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Run { path: String, message: String },
}

/// What `thematic run` needs, already validated.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub inputs: Vec<InputSource>,
    pub read: ReadOptions,
    pub out: PathBuf,
    pub threads: usize,
    pub report: ReportOptions,
    pub progress: bool,
    /// Bytes for tantivy's writer, split across its threads.
    pub index_budget: usize,
}

/// Written to OUT/run.json so `code` and `report` can redo the later stages.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub inputs: Vec<String>,
    pub id_field: String,
    pub questions: Vec<String>,
    pub records_read: u64,
    pub records_rejected: u64,
    pub report: ReportOptions,
    pub codebook_name: String,
    /// Attribute names in first-seen order: the column order of codes.csv,
    /// the Codes sheet and units.bin, which `code` and `report` keep (the
    /// index returns attributes sorted by name). Empty in older runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
}

/// The result of a command that writes outputs.
#[derive(Debug)]
pub struct Outcome {
    pub out: PathBuf,
    pub records_read: u64,
    pub records_coded: u64,
    pub records_rejected: u64,
    pub units: u64,
    pub flagged: u64,
    /// Analysts' corrections from OUT/overrides.jsonl applied on top of the codes.
    pub overrides: OverrideSummary,
}

/// One response ready to code.
struct ResponseIn {
    record: u64,
    id: String,
    attributes: Vec<(String, String)>,
    /// (question index, text)
    answers: Vec<(usize, String)>,
}

enum BatchItem {
    Response(ResponseIn),
    Reject(Reject),
}

/// The parallel half of the coding stage: everything a unit needs that
/// depends on the unit alone, computed on every core.
struct Coder<'a> {
    classifier: &'a Classifier,
    lines: &'a CodesLineWriter,
    questions: &'a [String],
    overrides: &'a Overrides,
    indexing: bool,
    next_ord: u64,
}

/// A batch after the parallel half, units in input order.
struct CodedBatch {
    rejects: Vec<Reject>,
    responses: Vec<ResponseIn>,
    units: Vec<CodedUnit>,
}

struct CodedUnit {
    ord: u64,
    /// Index into the batch's responses, and into that response's answers.
    response: usize,
    answer: usize,
    tokens: TokenizedText,
    coding: Coding,
    signature: Signature,
    /// The index's term wire string (empty when not indexing).
    terms: String,
    codes_line: Vec<u8>,
    flagged_line: Option<Vec<u8>>,
    corrected: UnitOverrides,
}

/// The serial half: sinks that take units one at a time, in ordinal order.
/// They run on a thread of their own, consuming one batch while the
/// [`Coder`] codes the next.
struct Sinks<'a> {
    codebook: &'a Codebook,
    questions: &'a [String],
    index: Option<&'a IndexBuilder>,
    codes: StagedWriter,
    flagged: StagedWriter,
    rejects: Option<StagedWriter>,
    aggregator: Aggregator,
    units: UnitsWriter,
    out_name: String,
    /// Per override entry: applied to at least one unit.
    overrides_matched: Vec<bool>,
    overrides_applied: usize,
    overrides_changed: usize,
    /// codes.csv and report.xlsx's Codes sheet, written as responses are coded.
    rows: RowFeed,
}

/// Writes codes.csv and feeds report.xlsx's Codes sheet ([`StreamedWorkbook`])
/// one row per response, in response order, while the corpus is coded: at
/// 1,000,000 responses the two took 7 s after the run, single-threaded.
/// The first response fixes the attribute columns; a later new attribute
/// abandons the stream, and both are then written after the run from the
/// full rows, as when nothing was streamed.
struct RowFeed {
    /// codes.csv's file until the first row fixes its header.
    csv_file: Option<StagedWriter>,
    csv: Option<CodesCsv<StagedWriter>>,
    csv_error: Option<std::io::Error>,
    workbook: Option<StreamedWorkbook>,
    abandoned: bool,
    attributes: Vec<String>,
    code_columns: usize,
    rows: usize,
    /// Where the Codes sheet's rows wait (the output's staging directory).
    spool_dir: PathBuf,
    /// The row of the response being coded (its units are consecutive).
    pending: Option<(u64, SheetRow)>,
    ready: Vec<SheetRow>,
}

/// What [`RowFeed`] wrote, when it holds every row.
struct StreamedRows {
    codes_csv: File,
    workbook: StreamedWorkbook,
}

impl RowFeed {
    /// Rows sent to the workbook thread at a time.
    const CHUNK: usize = 256;

    fn new(codes_csv: StagedWriter, spool_dir: &Path) -> Self {
        RowFeed {
            spool_dir: spool_dir.to_owned(),
            csv_file: Some(codes_csv),
            csv: None,
            csv_error: None,
            workbook: None,
            abandoned: false,
            attributes: Vec::new(),
            code_columns: 0,
            rows: 0,
            pending: None,
            ready: Vec::new(),
        }
    }

    /// Note one unit, after `aggregator` has added it.
    fn add(
        &mut self,
        aggregator: &Aggregator,
        response: &ResponseIn,
        question: usize,
        themes: &[CodeHit],
    ) {
        if self.abandoned {
            return;
        }
        let names = aggregator.attribute_names();
        if let Some(file) = self.csv_file.take() {
            self.attributes = names.to_vec();
            let code_columns = aggregator.code_columns();
            self.code_columns = code_columns.len();
            let header = crate::report::codes_header(names, &code_columns);
            self.csv = Some(CodesCsv::new(file, header.iter().map(String::as_str)));
            self.workbook = Some(StreamedWorkbook::start(header, self.spool_dir.clone()));
        }
        if names.len() != self.attributes.len() {
            self.abandon();
            return;
        }
        if self
            .pending
            .as_ref()
            .is_none_or(|(r, _)| *r != response.record)
        {
            if let Some((_, row)) = self.pending.take() {
                self.complete(row);
            }
            let attrs = self
                .attributes
                .iter()
                .map(|name| {
                    // The last value of a repeated name, as interning keeps.
                    let value = response.attributes.iter().rev().find(|(k, _)| k == name);
                    value.map_or_else(String::new, |(_, v)| v.clone())
                })
                .collect();
            let row = SheetRow {
                id: response.id.clone(),
                attrs,
                codes: vec![false; self.code_columns],
            };
            self.pending = Some((response.record, row));
        }
        if let Some((_, row)) = &mut self.pending {
            for hit in themes {
                if let Some(cell) = row
                    .codes
                    .get_mut(aggregator.code_column(question, hit.code))
                {
                    *cell = true;
                }
            }
        }
    }

    /// A response's row is whole: write it to codes.csv, queue it for the sheet.
    fn complete(&mut self, row: SheetRow) {
        self.rows += 1;
        if let Some(csv) = self.csv.as_mut()
            && self.csv_error.is_none()
            && let Err(e) = csv.row(&row.id, row.attrs.iter().map(String::as_str), &row.codes)
        {
            self.csv_error = Some(e);
        }
        self.ready.push(row);
        if self.ready.len() >= Self::CHUNK {
            self.send();
        }
    }

    fn send(&mut self) {
        if let Some(w) = self.workbook.as_mut()
            && !self.ready.is_empty()
        {
            w.send(std::mem::take(&mut self.ready));
        }
    }

    /// Every unit is in: send the last rows, so the workbook thread can
    /// compress the Codes sheet while the index and the report are finished.
    /// (Should finishing the index fail, dropping the workbook waits for
    /// that compression, up to a couple of seconds at 1M responses, before
    /// the error is reported.)
    fn end_rows(&mut self) {
        if let Some((_, row)) = self.pending.take() {
            self.complete(row);
        }
        self.send();
        if let Some(w) = self.workbook.as_mut() {
            w.rows_done();
        }
    }

    fn abandon(&mut self) {
        self.abandoned = true;
        self.csv = None;
        self.workbook = None;
        self.pending = None;
        self.ready = Vec::new();
    }

    /// codes.csv and the workbook, if they hold a row for each of the
    /// aggregator's responses and a column for each of its attributes;
    /// `None` leaves both to be written from the aggregator's rows.
    fn finish(mut self, aggregator: &Aggregator) -> Result<Option<StreamedRows>, std::io::Error> {
        if let Some((_, row)) = self.pending.take() {
            self.complete(row);
        }
        self.send();
        let whole = !self.abandoned
            && self.rows == aggregator.response_count()
            && self.attributes == aggregator.attribute_names();
        let (Some(csv), Some(workbook), true) = (self.csv.take(), self.workbook.take(), whole)
        else {
            return Ok(None);
        };
        if let Some(e) = self.csv_error.take() {
            return Err(e);
        }
        let codes_csv = csv.into_inner()?.finish()?;
        Ok(Some(StreamedRows {
            codes_csv,
            workbook,
        }))
    }
}

/// Batches waiting between the coder and the sinks.
const CODED_DEPTH: usize = 2;

fn progress_bar(enabled: bool, len: u64, what: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix:>8} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(what.to_owned());
    bar
}

fn write_error(out_name: &str, file: &str, source: std::io::Error) -> PipelineError {
    PipelineError::Write {
        path: format!("{out_name}/{file}"),
        source,
    }
}

impl Coder<'_> {
    fn code(&mut self, batch: Vec<BatchItem>) -> CodedBatch {
        let mut rejects = Vec::new();
        let mut responses = Vec::new();
        for item in batch {
            match item {
                BatchItem::Reject(r) => rejects.push(r),
                BatchItem::Response(r) => responses.push(r),
            }
        }
        let slots: Vec<(usize, usize)> = responses
            .iter()
            .enumerate()
            .flat_map(|(ri, r)| (0..r.answers.len()).map(move |a| (ri, a)))
            .collect();
        let first_ord = self.next_ord;
        self.next_ord += slots.len() as u64;
        let (classifier, lines, questions, overrides, indexing) = (
            self.classifier,
            self.lines,
            self.questions,
            self.overrides,
            self.indexing,
        );
        let codebook = classifier.codebook();
        let units: Vec<CodedUnit> = slots
            .par_iter()
            .enumerate()
            .map(|(i, &(response, answer))| {
                let r = &responses[response];
                let (q, text) = (r.answers[answer].0, r.answers[answer].1.as_str());
                let question = &questions[q];
                let ord = first_ord + i as u64;
                let tokens = Tokeniser::shared().tokenise(text);
                let mut coding = classifier.classify(text, &tokens);
                let corrected = if overrides.is_empty() {
                    UnitOverrides::default()
                } else {
                    overrides.apply(codebook, &r.id, question, &mut coding)
                };
                let applied: Vec<&Override> = corrected
                    .entries
                    .iter()
                    .filter_map(|&e| overrides.entry(e))
                    .collect();
                let codes_line = lines.line(&r.id, question, ord, text, &coding, &applied);
                let flagged_line = (!coding.flags.is_empty())
                    .then(|| lines.flagged_line(&r.id, question, ord, text, &coding));
                let signature = Signature::of(&tokens);
                let terms = if indexing {
                    encode_terms(&tokens)
                } else {
                    String::new()
                };
                CodedUnit {
                    ord,
                    response,
                    answer,
                    tokens,
                    coding,
                    signature,
                    terms,
                    codes_line,
                    flagged_line,
                    corrected,
                }
            })
            .collect();
        CodedBatch {
            rejects,
            responses,
            units,
        }
    }
}

impl Sinks<'_> {
    fn override_summary(&self, overrides: &Overrides) -> OverrideSummary {
        overrides.summary(
            self.codebook,
            &self.overrides_matched,
            self.overrides_applied,
            self.overrides_changed,
        )
    }

    fn write_error(&self, file: &str, source: std::io::Error) -> PipelineError {
        write_error(&self.out_name, file, source)
    }

    fn consume(&mut self, batch: CodedBatch) -> Result<(), PipelineError> {
        for r in &batch.rejects {
            self.aggregator.add_reject(r);
            if let Some(w) = self.rejects.as_mut() {
                let line = serde_json::to_vec(r).unwrap_or_default();
                w.write_line(&line)
                    .map_err(|e| write_error(&self.out_name, files::REJECTS, e))?;
            }
        }
        let codebook = self.codebook;
        for u in &batch.units {
            for &e in &u.corrected.entries {
                self.overrides_matched[e] = true;
            }
            self.overrides_applied += u.corrected.entries.len();
            self.overrides_changed += u.corrected.changed;
            let r = &batch.responses[u.response];
            let (q, text) = (r.answers[u.answer].0, r.answers[u.answer].1.as_str());
            let question = &self.questions[q];
            if let Some(index) = self.index {
                let theme_ids: Vec<&str> = u
                    .coding
                    .themes
                    .iter()
                    .map(|h| codebook.themes[h.code].id.as_str())
                    .collect();
                index.add(&UnitDoc {
                    ord: u.ord,
                    id: &r.id,
                    question,
                    text,
                    terms: &u.terms,
                    attributes: &r.attributes,
                    themes: &theme_ids,
                })?;
            }
            self.codes
                .write_line(&u.codes_line)
                .map_err(|e| write_error(&self.out_name, files::CODES_JSONL, e))?;
            if let Some(line) = &u.flagged_line {
                self.flagged
                    .write_line(line)
                    .map_err(|e| self.write_error(files::FLAGGED, e))?;
            }
            let themes: Vec<usize> = u.coding.themes.iter().map(|h| h.code).collect();
            let flags: Vec<usize> = u.coding.flags.iter().map(|h| h.code).collect();
            self.units.push(r.record, &themes, &flags, &r.attributes);
            self.aggregator.add(&UnitInput {
                record: r.record,
                id: &r.id,
                question: q,
                attributes: &r.attributes,
                text,
                tokens: &u.tokens,
                coding: &u.coding,
                signature: &u.signature,
            });
            self.rows.add(&self.aggregator, r, q, &u.coding.themes);
        }
        Ok(())
    }
}

/// Code `batches` on every core while the sinks, on a thread of their own,
/// consume the batch before; stops at the first error of either side.
fn code_into<'a>(
    coder: &mut Coder<'a>,
    sinks: Sinks<'a>,
    batches: impl Iterator<Item = Result<Vec<BatchItem>, PipelineError>>,
) -> Result<Sinks<'a>, PipelineError> {
    let (tx, rx) = bounded::<CodedBatch>(CODED_DEPTH);
    thread::scope(|scope| {
        let sink = scope.spawn(move || {
            let mut sinks = sinks;
            for batch in rx {
                sinks.consume(batch)?;
            }
            Ok::<_, PipelineError>(sinks)
        });
        let mut failure = None;
        for batch in batches {
            match batch {
                Ok(batch) => {
                    // A send fails only when the sinks stopped on an error,
                    // which joining reports.
                    if tx.send(coder.code(batch)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let sinks = sink.join().map_err(|_| PipelineError::Run {
            path: "coding".to_owned(),
            message: "the output thread panicked; please report this as a bug".to_owned(),
        })?;
        match failure {
            Some(e) => Err(e),
            None => sinks,
        }
    })
}

/// units.bin's writer, its rows spooled in the output's staging directory.
fn units_writer(codebook: &Codebook, out: &OutputDir) -> UnitsWriter {
    let mut units = UnitsWriter::new(
        codebook.themes.iter().map(|t| t.id.clone()).collect(),
        codebook.flags.iter().map(|t| t.id.clone()).collect(),
    );
    units.spool_in(out.staging());
    units
}

/// Stream units.bin out of its spool and start syncing it.
fn write_units(out: &OutputDir, out_name: &str, units: &UnitsWriter) -> Result<(), PipelineError> {
    let mut w = out.create_stream(UNITS_FILE)?;
    units
        .write_to(&mut w)
        .map_err(|e| write_error(out_name, UNITS_FILE, e))?;
    finish_stream(out, out_name, w)
}

/// Finish the report and stage every report file. report.xlsx's Codes
/// sheet, the bulk of the spreadsheet, was written while coding (`streamed`);
/// when that stream was abandoned it is written now on a second thread from
/// the per-response rows while the aggregator finishes (campaign groups,
/// quotes, key terms). The rest of the workbook follows on that thread once
/// the report exists, and its packaging (deflate, single-threaded) overlaps
/// rendering and writing the text reports.
fn finish_reports(
    out: &OutputDir,
    aggregator: Aggregator,
    streamed: RowFeed,
    records_read: u64,
    text_of: &dyn Fn(u64) -> Option<String>,
) -> Result<Arc<Report>, PipelineError> {
    let spool_error = |e: std::io::Error| PipelineError::Run {
        path: out.root().display().to_string(),
        message: format!(
            "cannot read back the response rows and campaign signatures spooled in its \
             staging directory: {e}; check the disk, then run again"
        ),
    };
    let streamed = streamed
        .finish(&aggregator)
        .map_err(|e| write_error(&out.root().display().to_string(), files::CODES_CSV, e))?;
    let (codes_csv, streamed) = match streamed {
        Some(s) => (Some(s.codes_csv), Some(s.workbook)),
        None => (None, None),
    };
    // Only codes.csv and the Codes sheet read the per-response rows: when
    // both were streamed, they are not read back from the spool at all.
    let rows = Arc::new(if codes_csv.is_some() {
        report::ResponseRows::default()
    } else {
        aggregator.response_rows().map_err(spool_error)?
    });
    let codes_csv_streamed = codes_csv.is_some();
    if let Some(file) = codes_csv {
        out.sync_soon(files::CODES_CSV, file);
    }
    let xlsx_error = |message: String| PipelineError::Run {
        path: files::REPORT_XLSX.to_owned(),
        message: format!("cannot build the workbook: {message}"),
    };
    thread::scope(|scope| {
        let (report_tx, report_rx) = bounded::<Arc<Report>>(1);
        let rows_for_book = rows.clone();
        let workbook = scope.spawn(move || match streamed {
            // The Codes sheet is written: only the other sheets are left.
            Some(streamed) => streamed.finish(report_rx.recv().ok()?),
            None => {
                let book = report::XlsxReport::start(&rows_for_book, out.staging());
                // None when aggregation failed and no report comes.
                let report = report_rx.recv().ok()?;
                Some(book.and_then(|book| book.finish(&report)))
            }
        });
        let report = aggregator
            .finish(
                rows.clone(),
                records_read,
                files::REJECTS,
                files::FLAGGED,
                text_of,
            )
            .map_err(spool_error);
        // On an error the sender drops here, so the workbook thread ends and
        // the scope's wait for it returns.
        let report = Arc::new(report?);
        // The workbook is packaged (deflated, single-threaded) while the text
        // reports are rendered and written here.
        let _ = report_tx.send(report.clone());
        for (name, render) in [
            (
                files::THEMES_CSV,
                report::write_themes_csv as fn(&Report) -> Vec<u8>,
            ),
            (files::CODES_CSV, report::write_codes_csv),
            (files::REPORT_JSON, report::write_json),
            (files::SUMMARY_MD, report::write_summary_md),
            (files::REPORT_HTML, report::write_html),
        ] {
            if name == files::CODES_CSV && codes_csv_streamed {
                continue;
            }
            out.write_file(name, &render(&report))?;
        }
        // A panic in the workbook thread is a bug; report it, don't hang.
        let xlsx = workbook
            .join()
            .map_err(|_| xlsx_error("the workbook thread panicked".to_owned()))?
            .ok_or_else(|| xlsx_error("the report was not built".to_owned()))?
            .map_err(|e| xlsx_error(e.to_string()))?;
        out.write_file(files::REPORT_XLSX, &xlsx)?;
        Ok(report)
    })
}

/// Flush a streamed output and start syncing it while the reports are built.
fn finish_stream(out: &OutputDir, out_name: &str, w: StagedWriter) -> Result<(), PipelineError> {
    let name = w.name().to_owned();
    let file = w
        .finish()
        .map_err(|source| write_error(out_name, &name, source))?;
    out.sync_soon(&name, file);
    Ok(())
}

type Batch = Result<Vec<Item>, CorpusError>;

/// Read on a thread of its own, sending batches through a bounded channel.
fn spawn_reader(
    reader: CorpusReader,
    bar: ProgressBar,
) -> (crossbeam_channel::Receiver<Batch>, thread::JoinHandle<()>) {
    let (tx, rx) = bounded::<Batch>(CHANNEL_DEPTH);
    let handle = thread::spawn(move || {
        let mut reader = reader;
        let mut batch = Vec::with_capacity(BATCH);
        let mut done_bytes = 0u64;
        let mut last_file_bytes = 0u64;
        while let Some(item) = reader.next() {
            match item {
                Ok(item) => batch.push(item),
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
            if batch.len() >= BATCH {
                let now = reader.bytes_read_in_current();
                if now < last_file_bytes {
                    done_bytes += last_file_bytes;
                }
                last_file_bytes = now;
                bar.set_position(done_bytes + now);
                if tx.send(Ok(std::mem::take(&mut batch))).is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(Ok(batch));
        }
    });
    (rx, handle)
}

/// The baseline the scale benchmark compares `run` with: read the same
/// inputs and index their texts with the same schema and tokenizer, with no
/// coding, aggregation or reports. Writes only `OUT/index`.
pub fn index_only(settings: &RunSettings) -> Result<u64, PipelineError> {
    let reader = CorpusReader::open(&settings.inputs, settings.read.clone())?;
    let out = OutputDir::prepare(&settings.out)?;
    let index_dir = out.staged_path(files::INDEX)?;
    std::fs::create_dir_all(&index_dir).map_err(|source| PipelineError::Write {
        path: index_dir.display().to_string(),
        source,
    })?;
    let index = IndexBuilder::create(&index_dir, settings.threads, settings.index_budget)?;
    let (rx, reader_thread) = spawn_reader(reader, ProgressBar::hidden());
    let questions = &settings.read.text_fields;
    let mut ord = 0u64;
    for batch in rx {
        for item in batch? {
            let Item::Record(rec) = item else { continue };
            for (q, answer) in rec.answers.iter().enumerate() {
                let Some(text) = answer else { continue };
                let terms = encode_terms(&Tokeniser::shared().tokenise(text));
                index.add(&UnitDoc {
                    ord,
                    id: &rec.id,
                    question: &questions[q],
                    text,
                    terms: &terms,
                    attributes: &rec.attributes,
                    themes: &[],
                })?;
                ord += 1;
            }
        }
    }
    let _ = reader_thread.join();
    index.finish()?;
    out.commit()?;
    Ok(ord)
}

/// `thematic run`: read the inputs, index and code them, write every output.
pub fn run(
    settings: &RunSettings,
    classifier: &Classifier,
    codebook_toml: &str,
) -> Result<Outcome, PipelineError> {
    let reader = CorpusReader::open(&settings.inputs, settings.read.clone())?;
    let out = OutputDir::prepare(&settings.out)?;
    let out_name = settings.out.display().to_string();
    // Corrections made on an earlier run of this directory still hold.
    let overrides = Overrides::load(&settings.out)?;
    let questions = settings.read.text_fields.clone();
    let index_dir = out.staged_path(files::INDEX)?;
    std::fs::create_dir_all(&index_dir).map_err(|source| PipelineError::Write {
        path: format!("{out_name}/{}", files::INDEX),
        source,
    })?;
    let index = IndexBuilder::create(&index_dir, settings.threads, settings.index_budget)?;

    let bar = progress_bar(settings.progress, reader.total_bytes(), "coding");
    let (rx, reader_thread) = spawn_reader(reader, bar.clone());

    let mut aggregator = Aggregator::new(
        classifier.codebook(),
        questions.clone(),
        settings.report.clone(),
    );
    // Per-response rows and signatures wait on disk while the index writer
    // holds its budget.
    aggregator.spool_in(out.staging());
    let sinks = Sinks {
        codebook: classifier.codebook(),
        questions: &questions,
        index: Some(&index),
        codes: out.create_stream(files::CODES_JSONL)?,
        flagged: out.create_stream(files::FLAGGED)?,
        rejects: Some(out.create_stream(files::REJECTS)?),
        aggregator,
        units: units_writer(classifier.codebook(), &out),
        out_name: out_name.clone(),
        overrides_matched: vec![false; overrides.entry_count()],
        overrides_applied: 0,
        overrides_changed: 0,
        rows: RowFeed::new(out.create_stream(files::CODES_CSV)?, out.staging()),
    };
    let lines = CodesLineWriter::new(classifier.codebook());
    let mut coder = Coder {
        classifier,
        lines: &lines,
        questions: &questions,
        overrides: &overrides,
        indexing: true,
        next_ord: 0,
    };
    let mut records_read = 0u64;
    let mut next_record = 0u64;
    let batches = rx.into_iter().map(|batch| {
        let batch = batch?;
        records_read += batch.len() as u64;
        Ok(batch
            .into_iter()
            .map(|item| match item {
                Item::Reject(r) => BatchItem::Reject(r),
                Item::Record(rec) => {
                    let record = next_record;
                    next_record += 1;
                    BatchItem::Response(ResponseIn {
                        record,
                        id: rec.id,
                        attributes: rec.attributes,
                        answers: rec
                            .answers
                            .into_iter()
                            .enumerate()
                            .filter_map(|(q, a)| a.map(|t| (q, t)))
                            .collect(),
                    })
                }
            })
            .collect())
    });
    let coded = code_into(&mut coder, sinks, batches);
    let _ = reader_thread.join();
    let mut sinks = coded?;
    sinks.rows.end_rows();
    bar.set_message("indexing");
    let override_summary = sinks.override_summary(&overrides);
    let Sinks {
        codes,
        flagged,
        rejects,
        aggregator,
        units,
        rows,
        ..
    } = sinks;
    write_units(&out, &out_name, &units)?;
    for w in [Some(codes), Some(flagged), rejects].into_iter().flatten() {
        finish_stream(&out, &out_name, w)?;
    }
    // The index is finished before the report starts: campaign detection
    // holds every signature in memory (140 bytes a response), and beside the
    // writer's last segment that made peak RSS grow with the corpus.
    index.finish()?;
    let staged_index = index::open_for_reading_through(&index_dir)?;
    let text_of = |ord| staged_index.text_by_ord(ord);
    let attributes = aggregator.attribute_names().to_vec();
    let report = finish_reports(&out, aggregator, rows, records_read, &text_of)?;
    bar.finish_and_clear();
    let manifest = Manifest {
        schema: 1,
        inputs: settings
            .inputs
            .iter()
            .map(InputSource::display_name)
            .collect(),
        id_field: settings.read.id_field.clone(),
        questions: questions.clone(),
        records_read,
        records_rejected: report.totals.records_rejected,
        report: settings.report.clone(),
        codebook_name: classifier.codebook().name.clone(),
        attributes,
    };
    out.write_file(
        files::MANIFEST,
        &serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )?;
    out.write_file(files::CODEBOOK, codebook_toml.as_bytes())?;
    out.commit()?;
    Ok(Outcome {
        out: settings.out.clone(),
        records_read,
        records_coded: report.totals.records_coded,
        records_rejected: report.totals.records_rejected,
        units: report.totals.units,
        flagged: report.totals.flagged_responses,
        overrides: override_summary,
    })
}

/// Read OUT/run.json.
pub fn read_manifest(out: &Path) -> Result<Manifest, PipelineError> {
    let path = out.join(files::MANIFEST);
    let bytes = std::fs::read(&path).map_err(|_| PipelineError::Run {
        path: out.display().to_string(),
        message:
            "no thematic run here (run.json is missing); run `thematic run INPUT --out DIR` first"
                .to_owned(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| PipelineError::Run {
        path: path.display().to_string(),
        message: format!("unreadable run manifest ({e}); re-run `thematic run`"),
    })
}

/// `thematic code` (a new codebook) and `thematic report` (the run's own):
/// both rewrite codes.jsonl, units.bin and every report, with analysts'
/// corrections applied (`report` exists for those and for report options).
/// Texts come from the index's document store; the input is not read again
/// and the index is not rebuilt.
pub fn recode(
    out_dir: &Path,
    classifier: &Classifier,
    codebook_toml: Option<&str>,
    options: ReportOptions,
    progress: bool,
) -> Result<Outcome, PipelineError> {
    let manifest = read_manifest(out_dir)?;
    let opened = index::open_for_reading_through(&out_dir.join(files::INDEX))?;
    let mut stored_chunks = opened.units_in_order()?;
    let out = OutputDir::prepare(out_dir)?;
    let overrides = Overrides::load(out_dir)?;
    let questions = manifest.questions.clone();
    let mut sinks = Sinks {
        codebook: classifier.codebook(),
        questions: &questions,
        index: None,
        // Rewritten by `report` too: corrections change codes without a new codebook.
        codes: out.create_stream(files::CODES_JSONL)?,
        flagged: out.create_stream(files::FLAGGED)?,
        rejects: None,
        aggregator: Aggregator::new(classifier.codebook(), questions.clone(), options.clone()),
        units: units_writer(classifier.codebook(), &out),
        out_name: out_dir.display().to_string(),
        overrides_matched: vec![false; overrides.entry_count()],
        overrides_applied: 0,
        overrides_changed: 0,
        rows: RowFeed::new(out.create_stream(files::CODES_CSV)?, out.staging()),
    };
    // Previous rejects count again in the new report.
    if let Ok(text) = std::fs::read_to_string(out_dir.join(files::REJECTS)) {
        for line in text.lines() {
            if let Ok(r) = serde_json::from_str::<Reject>(line) {
                sinks.aggregator.add_reject(&r);
            }
        }
    }
    sinks.aggregator.spool_in(out.staging());
    let lines = CodesLineWriter::new(classifier.codebook());
    let mut coder = Coder {
        classifier,
        lines: &lines,
        questions: &questions,
        overrides: &overrides,
        indexing: false,
        next_ord: 0,
    };
    let bar = progress_bar(progress, stored_chunks.len() as u64, "coding");
    let mut record = 0u64;
    let mut last_id: Option<String> = None;
    let mut pending: Vec<BatchItem> = Vec::new();
    // The texts stream from the index a chunk at a time and move into the
    // batches (the few the report needs again are read again), so `code`
    // holds a few thousand texts, not the corpus.
    let mut stored = Vec::new().into_iter();
    // Stored units back into responses, a batch at a time; a response's
    // units stay together across batch boundaries.
    let batches = std::iter::from_fn(|| {
        loop {
            let mut chunk: Vec<StoredUnit> = Vec::with_capacity(BATCH);
            while chunk.len() < BATCH {
                if let Some(unit) = stored.next() {
                    chunk.push(unit);
                    continue;
                }
                match stored_chunks.next() {
                    Some(Ok(units)) => stored = units.into_iter(),
                    Some(Err(e)) => return Some(Err(e.into())),
                    None => break,
                }
            }
            if chunk.is_empty() {
                return (!pending.is_empty()).then(|| Ok(std::mem::take(&mut pending)));
            }
            bar.inc(chunk.len() as u64);
            for u in chunk {
                let q = questions.iter().position(|q| *q == u.question).unwrap_or(0);
                let same = last_id.as_deref() == Some(u.id.as_str());
                if same && let Some(BatchItem::Response(r)) = pending.last_mut() {
                    r.answers.push((q, u.text));
                    continue;
                }
                if last_id.is_some() && !same {
                    record += 1;
                }
                last_id = Some(u.id.clone());
                let mut attributes = u.attributes;
                // Back in the run's first-seen order, so columns come out
                // as `run` wrote them; names it never saw go last.
                attributes.sort_by_key(|(name, _)| {
                    manifest
                        .attributes
                        .iter()
                        .position(|a| a == name)
                        .unwrap_or(usize::MAX)
                });
                pending.push(BatchItem::Response(ResponseIn {
                    record,
                    id: u.id,
                    attributes,
                    answers: vec![(q, u.text)],
                }));
            }
            let keep_last = pending.pop();
            let batch = std::mem::take(&mut pending);
            pending.extend(keep_last);
            if !batch.is_empty() {
                return Some(Ok(batch));
            }
        }
    });
    let mut sinks = code_into(&mut coder, sinks, batches)?;
    sinks.rows.end_rows();
    bar.finish_and_clear();
    let override_summary = sinks.override_summary(&overrides);
    let Sinks {
        codes,
        flagged,
        aggregator,
        units,
        rows,
        ..
    } = sinks;
    let out_name = out_dir.display().to_string();
    write_units(&out, &out_name, &units)?;
    for w in [codes, flagged] {
        finish_stream(&out, &out_name, w)?;
    }
    let text_of = |ord: u64| opened.text_by_ord(ord);
    let report = finish_reports(&out, aggregator, rows, manifest.records_read, &text_of)?;
    if let Some(toml) = codebook_toml {
        out.write_file(files::CODEBOOK, toml.as_bytes())?;
        let manifest = Manifest {
            codebook_name: classifier.codebook().name.clone(),
            report: options.clone(),
            ..manifest
        };
        out.write_file(
            files::MANIFEST,
            &serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
        )?;
    }
    out.commit()?;
    Ok(Outcome {
        out: out_dir.to_owned(),
        records_read: report.totals.records_read,
        records_coded: report.totals.records_coded,
        records_rejected: report.totals.records_rejected,
        units: report.totals.units,
        flagged: report.totals.flagged_responses,
        overrides: override_summary,
    })
}
