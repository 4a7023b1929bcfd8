//! Reports: counting coded units into a [`Report`] and writing it as
//! themes.csv, codes.csv, report.json, summary.md and report.html.
//!
//! An [`Aggregator`] is fed every coded unit once, in ordinal order, and keeps
//! only what reports need: one small row per response (id, interned
//! attributes, themes per question), document frequencies for key terms, and
//! a bounded set of quote candidates per theme. [`Aggregator::finish`] turns
//! that into a [`Report`], which the writers render without further input.

mod aggregate;
pub mod campaign;
mod html;
pub mod redact;
pub mod sanitize;
mod terms;
mod write;
mod xlsx;

pub use aggregate::{Aggregator, DEFAULT_BY, TermStats, UnitInput, WITHHELD_FLAGGED};
pub use write::{
    CodesCsv, write_codes_csv, write_html, write_json, write_summary_md, write_themes_csv,
};
pub use xlsx::{SheetRow, StreamedWorkbook, XlsxReport};

use serde::Serialize;

/// Which number the headline counts use when campaigns are found (both are
/// always shown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Headline {
    /// Every response counts (`--campaigns count-all`).
    #[default]
    CountAll,
    /// A campaign group counts once (`--campaigns count-once`).
    CountOnce,
}

/// How reports are built.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ReportOptions {
    /// Crosstab attribute; `None` = respondent_type when present.
    pub by: Option<String>,
    pub headline: Headline,
    /// Jaccard similarity at which two responses are campaign copies.
    pub campaign_threshold: f64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            by: None,
            headline: Headline::CountAll,
            campaign_threshold: campaign::DEFAULT_THRESHOLD,
        }
    }
}

/// Version of report.json's layout (documented in docs/report-schema.md).
pub const REPORT_SCHEMA: u32 = 1;

/// Everything the report files show.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: u32,
    pub tool: ToolInfo,
    pub codebook: CodebookInfo,
    /// Which count orders themes and leads the summary.
    pub headline: Headline,
    pub totals: Totals,
    pub themes: Vec<ThemeCount>,
    pub crosstab: Option<Crosstab>,
    pub cooccurrence: Cooccurrence,
    pub views_held_by_few: Vec<MinorityView>,
    pub campaigns: Vec<Campaign>,
    pub rejects: RejectSummary,
    pub flagged: FlaggedSummary,
    /// Rows of codes.csv (not in report.json: codes.csv and codes.jsonl hold
    /// them). Shared, so report.xlsx can be started from them before the
    /// rest of the report is finished. Empty when the pipeline wrote
    /// codes.csv and the Codes sheet while coding (they need nothing else).
    #[serde(skip)]
    pub rows: std::sync::Arc<ResponseRows>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ToolInfo {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct CodebookInfo {
    pub name: String,
    pub version: String,
    pub themes: Vec<CodeInfo>,
    pub flags: Vec<CodeInfo>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CodeInfo {
    pub id: String,
    pub label: String,
    pub description: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// Input records read: `records_coded + records_rejected`.
    pub records_read: u64,
    pub records_coded: u64,
    pub records_rejected: u64,
    /// Coded responses whose every answer is empty (or only punctuation).
    pub empty_responses: u64,
    /// Coded, non-empty responses with no theme.
    pub responses_without_theme: u64,
    pub responses_with_theme: u64,
    /// Coded responses with each campaign group counted once.
    pub distinct_submissions: u64,
    /// Responses routed to restricted/flagged.jsonl.
    pub flagged_responses: u64,
    /// Response×question units coded (one line each in codes.jsonl).
    pub units: u64,
    pub questions: Vec<String>,
    /// What every `share` in the report is a share of.
    pub share_denominator: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ThemeCount {
    pub id: String,
    pub label: String,
    /// Responses coded with this theme (a response counts once, whatever its
    /// number of questions or evidence spans).
    pub responses: u64,
    /// `responses / totals.records_coded`.
    pub share: f64,
    /// Responses with each campaign group counted once (a group counts when
    /// any of its members raised the theme).
    pub distinct_submissions: u64,
    /// `distinct_submissions / totals.distinct_submissions`.
    pub distinct_share: f64,
    /// Responses per question (several text fields only).
    pub by_question: Vec<(String, u64)>,
    pub key_terms: Vec<KeyTerm>,
    pub quotes: Vec<Quote>,
    /// Attribute values of the crosstab attribute that raised it most.
    pub raised_most_by: Vec<GroupShare>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyTerm {
    /// The most common surface form of the stem.
    pub term: String,
    pub stem: String,
    /// Units with this theme containing the term.
    pub units: u64,
    /// Log-odds z-score against the rest of the corpus (informative Dirichlet prior).
    pub z: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Quote {
    pub id: String,
    pub question: String,
    pub respondent_type: Option<String>,
    /// Redacted sentence(s) around the evidence.
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupShare {
    pub value: String,
    /// Responses with this value that raised the theme.
    pub responses: u64,
    /// `responses / group size`.
    pub share_of_group: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Crosstab {
    pub attribute: String,
    /// Values in descending size, with their number of coded responses.
    pub values: Vec<(String, u64)>,
    /// `counts[t][v]`: responses with theme t (codebook order) and value v.
    pub counts: Vec<Vec<u64>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cooccurrence {
    pub themes: Vec<String>,
    /// `matrix[a][b]`: responses coded with both themes; the diagonal is the theme count.
    pub matrix: Vec<Vec<u64>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MinorityView {
    pub theme: String,
    /// A key term, or `None` when the theme itself is the view.
    pub term: Option<String>,
    pub value: String,
    /// Share of the theme's (or term's) mentions that came from `value`.
    pub share_of_mentions: f64,
    /// Share of all responses that `value` makes up.
    pub share_of_corpus: f64,
    pub mentions: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Campaign {
    pub id: String,
    pub size: u64,
    /// The first member's text, redacted and cut to 400 characters; `None`
    /// when it is withheld.
    pub representative: Option<String>,
    /// Why no member's text is shown: [`WITHHELD_FLAGGED`] when a member is
    /// flagged (its text goes only to restricted/, and its copies are that
    /// text). `None` when `representative` is shown.
    pub withheld: Option<String>,
    pub members: Vec<String>,
}

impl Campaign {
    /// What the reports say instead of the text when it is withheld.
    pub fn withheld_notice(&self) -> Option<&'static str> {
        self.withheld.as_ref().map(|_| {
            "Text withheld because the group contains responses flagged for safeguarding review"
        })
    }
}

impl Report {
    /// The count the headline uses for a theme: responses, or distinct
    /// submissions with `--campaigns count-once`.
    pub fn headline_count(&self, theme: &ThemeCount) -> u64 {
        match self.headline {
            Headline::CountAll => theme.responses,
            Headline::CountOnce => theme.distinct_submissions,
        }
    }

    /// The headline count's share: of coded responses, or of distinct
    /// submissions with `--campaigns count-once`.
    pub fn headline_share(&self, theme: &ThemeCount) -> f64 {
        match self.headline {
            Headline::CountAll => theme.share,
            Headline::CountOnce => theme.distinct_share,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RejectSummary {
    pub count: u64,
    pub file: String,
    /// Reason (with quoted values stripped) → count, most common first.
    pub by_reason: Vec<(String, u64)>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct FlaggedSummary {
    pub count: u64,
    pub file: String,
    pub by_flag: Vec<(String, u64)>,
}

/// Column names of codes.csv and the Codes sheet: `id`, the attributes in
/// order, then the 0/1 code columns, no name twice. `id` and the code
/// columns (theme ids, or `question:theme`) keep their names, since they are
/// what readers look up; an attribute whose name is `id`, a code column's
/// or an earlier column's is written `attr:NAME` (prefixed again, should
/// that be taken too).
pub fn codes_header(attribute_names: &[String], code_columns: &[String]) -> Vec<String> {
    let mut taken: std::collections::HashSet<&str> =
        code_columns.iter().map(String::as_str).collect();
    taken.insert("id");
    let mut attributes: Vec<String> = Vec::with_capacity(attribute_names.len());
    for name in attribute_names {
        let mut column = name.clone();
        while taken.contains(column.as_str()) || attributes.contains(&column) {
            column.insert_str(0, "attr:");
        }
        attributes.push(column);
    }
    std::iter::once("id".to_owned())
        .chain(attributes)
        .chain(code_columns.iter().cloned())
        .collect()
}

/// codes.csv's content: one row per response, stored flat (a 1,000,000-row
/// table of small strings would otherwise dominate peak memory).
#[derive(Clone, Debug, Default)]
pub struct ResponseRows {
    pub attribute_names: Vec<String>,
    /// Column headers for the 0/1 theme columns.
    pub theme_columns: Vec<String>,
    /// The distinct values of each attribute; cells index into them.
    pub attribute_values: Vec<Vec<String>>,
    /// Every response id end to end; row `i`'s starts at `id_starts[i]`
    /// (a `String` each would cost 56 bytes a row, not 36 for a 32-byte id).
    ids: String,
    id_starts: Vec<u32>,
    /// `len() × attribute_names.len()` indices into `attribute_values`,
    /// [`ResponseRows::ABSENT`] where a response lacks the attribute.
    pub attribute_cells: Vec<u32>,
    /// `len() × theme_columns.len()` codes.
    pub code_cells: Vec<bool>,
}

impl ResponseRows {
    pub const ABSENT: u32 = u32::MAX;

    /// Column names of codes.csv and the Codes sheet: id, attributes, codes
    /// ([`codes_header`]).
    pub fn header(&self) -> Vec<String> {
        codes_header(&self.attribute_names, &self.theme_columns)
    }

    /// Number of rows (responses).
    pub fn len(&self) -> usize {
        self.id_starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id_starts.is_empty()
    }

    /// Row `i`'s response id.
    pub fn id(&self, i: usize) -> &str {
        let start = self.id_starts[i] as usize;
        let end = self
            .id_starts
            .get(i + 1)
            .map_or(self.ids.len(), |e| *e as usize);
        &self.ids[start..end]
    }

    /// Row `i`: id, attribute values ("" when absent), 0/1 codes.
    pub fn row(&self, i: usize) -> (&str, impl Iterator<Item = &str>, &[bool]) {
        let na = self.attribute_names.len();
        let nc = self.theme_columns.len();
        let attrs = self.attribute_cells[i * na..(i + 1) * na]
            .iter()
            .enumerate()
            .map(|(a, v)| {
                self.attribute_values[a]
                    .get(*v as usize)
                    .map_or("", String::as_str)
            });
        (self.id(i), attrs, &self.code_cells[i * nc..(i + 1) * nc])
    }
}
