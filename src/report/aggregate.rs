//! Streaming aggregation of coded units into a [`Report`].

use rustc_hash::FxHashMap as HashMap;

use super::campaign::{Signature, SignatureSpool, find_groups};
pub use super::terms::TermStats;
use super::{
    Campaign, CodeInfo, CodebookInfo, Cooccurrence, Crosstab, FlaggedSummary, GroupShare,
    MinorityView, Quote, REPORT_SCHEMA, RejectSummary, Report, ReportOptions, ResponseRows,
    ThemeCount, ToolInfo, Totals, redact::redact, sanitize::display_safe,
};
use crate::classify::Coding;
use crate::codebook::Codebook;
use crate::corpus::Reject;
use crate::spool::{ByteSpool, SpoolReader, put_varint};
use crate::text::{Token, TokenizedText};

/// Quote candidates kept per theme while streaming.
const QUOTE_POOL: usize = 40;
/// Quotes shown per theme.
const QUOTES_PER_THEME: usize = 3;
/// `Campaign::withheld` when a member is flagged.
pub const WITHHELD_FLAGGED: &str = "flagged";
/// The attribute used for crosstabs and quote spread when present.
pub const DEFAULT_BY: &str = "respondent_type";

/// One coded unit, as the aggregator sees it.
pub struct UnitInput<'a> {
    /// Ordinal of the response (record); units of one response are consecutive.
    pub record: u64,
    pub id: &'a str,
    /// Index into the question list.
    pub question: usize,
    pub attributes: &'a [(String, String)],
    pub text: &'a str,
    pub tokens: &'a TokenizedText,
    pub coding: &'a Coding,
    /// `Signature::of(tokens)`, computed with the tokens.
    pub signature: &'a Signature,
}

/// What the report needs of every response: one compact row each (varints),
/// appended to a [`ByteSpool`] once the response's last unit is in, so
/// during a run they wait on disk (a few dozen bytes per response were the
/// state that grew with the corpus while a run coded) and are read back in
/// order, by whole passes, when the report is built.
#[derive(Default)]
struct ResponseTable {
    rows: ByteSpool,
    /// Rows in `rows`.
    sealed: usize,
    /// The response still receiving units; its row is written when the
    /// next response begins.
    open: Option<ResponseRow>,
    /// The encoded row, reused.
    encoded: Vec<u8>,
}

/// One response of a [`ResponseTable`].
#[derive(Default)]
struct ResponseRow {
    record: u64,
    first_unit: u64,
    id: String,
    /// (attribute, value index) pairs.
    attrs: Vec<(u16, u32)>,
    /// (question, theme) pairs coded.
    themes: Vec<(u16, u16)>,
    empty: bool,
    flags: Vec<u16>,
}

impl ResponseRow {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.record);
        put_varint(out, self.first_unit);
        put_varint(out, self.id.len() as u64);
        out.extend_from_slice(self.id.as_bytes());
        put_varint(out, u64::from(self.empty));
        put_varint(out, self.attrs.len() as u64);
        for (a, v) in &self.attrs {
            put_varint(out, u64::from(*a));
            put_varint(out, u64::from(*v));
        }
        put_varint(out, self.themes.len() as u64);
        for (q, t) in &self.themes {
            put_varint(out, u64::from(*q));
            put_varint(out, u64::from(*t));
        }
        put_varint(out, self.flags.len() as u64);
        for f in &self.flags {
            put_varint(out, u64::from(*f));
        }
    }

    /// Decode the next row into `self`, reusing its buffers.
    fn decode(&mut self, r: &mut SpoolReader<'_>) -> std::io::Result<()> {
        self.record = r.varint()?;
        self.first_unit = r.varint()?;
        let id_len: usize = r.varint_as()?;
        let mut id = std::mem::take(&mut self.id).into_bytes();
        id.resize(id_len, 0);
        std::io::Read::read_exact(r, &mut id)?;
        self.id = String::from_utf8(id).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a spooled response id is not UTF-8",
            )
        })?;
        self.empty = r.varint()? == 1;
        self.attrs.clear();
        for _ in 0..r.varint()? {
            self.attrs.push((r.varint_as()?, r.varint_as()?));
        }
        self.themes.clear();
        for _ in 0..r.varint()? {
            self.themes.push((r.varint_as()?, r.varint_as()?));
        }
        self.flags.clear();
        for _ in 0..r.varint()? {
            self.flags.push(r.varint_as()?);
        }
        Ok(())
    }
}

impl ResponseTable {
    fn in_dir(dir: &std::path::Path) -> Self {
        ResponseTable {
            rows: ByteSpool::in_dir(dir),
            ..Self::default()
        }
    }

    fn len(&self) -> usize {
        self.sealed + usize::from(self.open.is_some())
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn last_record(&self) -> Option<u64> {
        self.open.as_ref().map(|r| r.record)
    }

    fn push(&mut self, record: u64, first_unit: u64, id: &str, attrs: &[(u16, u32)]) {
        // The previous row is written out and its buffers reused.
        let mut row = match self.open.take() {
            Some(previous) => {
                self.encoded.clear();
                previous.encode(&mut self.encoded);
                self.rows.append(&self.encoded);
                self.sealed += 1;
                previous
            }
            None => ResponseRow::default(),
        };
        row.record = record;
        row.first_unit = first_unit;
        row.id.clear();
        row.id.push_str(id);
        row.attrs.clear();
        row.attrs.extend_from_slice(attrs);
        row.themes.clear();
        row.empty = true;
        row.flags.clear();
        self.open = Some(row);
    }

    /// Note a unit of the last response.
    fn add_to_last(
        &mut self,
        empty: bool,
        themes: impl Iterator<Item = (u16, u16)>,
        flags: &[u16],
    ) {
        let Some(row) = &mut self.open else { return };
        if !empty {
            row.empty = false;
        }
        row.themes.extend(themes);
        for f in flags {
            if !row.flags.contains(f) {
                row.flags.push(*f);
            }
        }
    }

    /// Every row, in order, to `each` with its position (the open one last).
    fn scan(&self, mut each: impl FnMut(usize, &ResponseRow)) -> std::io::Result<()> {
        let mut reader = self.rows.reader();
        let mut row = ResponseRow::default();
        for i in 0..self.sealed {
            row.decode(&mut reader)?;
            each(i, &row);
        }
        if let Some(open) = &self.open {
            each(self.sealed, open);
        }
        Ok(())
    }
}

#[derive(Clone)]
struct QuoteCandidate {
    score: f64,
    good_length: bool,
    record: u64,
    id: String,
    question: usize,
    group: Option<String>,
    text: String,
}

impl QuoteCandidate {
    fn rank_key(&self) -> (std::cmp::Reverse<u64>, bool, u64) {
        // Stronger evidence first, then quotes of a readable length, then input order.
        (
            std::cmp::Reverse((self.score * 1000.0) as u64),
            !self.good_length,
            self.record,
        )
    }
}

pub struct Aggregator {
    codebook: CodebookInfo,
    questions: Vec<String>,
    by: Option<String>,
    options: ReportOptions,
    signatures: SignatureSpool,
    attr_names: Vec<String>,
    attr_index: HashMap<String, u16>,
    attr_values: Vec<(Vec<String>, HashMap<String, u32>)>,
    responses: ResponseTable,
    units: u64,
    terms: TermStats,
    quotes: Vec<Vec<QuoteCandidate>>,
    /// Quote candidates of the response still receiving units, by theme:
    /// they join `quotes` only once the response is whole and unflagged
    /// (a later answer may be the flagged one).
    open_quotes: Vec<(usize, QuoteCandidate)>,
    /// Whether an answer of the response still receiving units is flagged.
    open_flagged: bool,
    reject_count: u64,
    reject_reasons: HashMap<String, u64>,
}

impl Aggregator {
    /// `by`: the attribute for crosstabs; `None` picks `respondent_type` when
    /// the corpus has it.
    pub fn new(codebook: &Codebook, questions: Vec<String>, options: ReportOptions) -> Self {
        let info = |c: &crate::codebook::Code| CodeInfo {
            id: c.id.clone(),
            label: c.label.clone(),
            description: c.description.clone(),
        };
        // With one question a response is one unit, whose flag is known
        // before its terms are counted; with several, a later answer may
        // be flagged and the earlier ones must be taken back.
        let terms = TermStats::new(codebook.themes.len());
        let terms = if questions.len() > 1 {
            terms.undoable()
        } else {
            terms
        };
        Aggregator {
            codebook: CodebookInfo {
                name: codebook.name.clone(),
                version: codebook.version.clone(),
                themes: codebook.themes.iter().map(info).collect(),
                flags: codebook.flags.iter().map(info).collect(),
            },
            questions,
            by: options.by.clone(),
            options,
            signatures: SignatureSpool::in_memory(),
            attr_names: Vec::new(),
            attr_index: HashMap::default(),
            attr_values: Vec::new(),
            responses: ResponseTable::default(),
            units: 0,
            terms,
            quotes: vec![Vec::new(); codebook.themes.len()],
            open_quotes: Vec::new(),
            open_flagged: false,
            reject_count: 0,
            reject_reasons: HashMap::default(),
        }
    }

    /// Attribute names in first-seen order: the Codes sheet's and
    /// codes.csv's attribute columns.
    pub fn attribute_names(&self) -> &[String] {
        &self.attr_names
    }

    /// Responses coded so far: rows of codes.csv and the Codes sheet.
    pub fn response_count(&self) -> usize {
        self.responses.len()
    }

    /// Names of the 0/1 code columns of codes.csv and the Codes sheet.
    pub fn code_columns(&self) -> Vec<String> {
        code_columns(&self.questions, &self.codebook.themes)
    }

    /// The code column of theme `theme` in question `question`.
    pub fn code_column(&self, question: usize, theme: usize) -> usize {
        code_column(
            self.questions.len(),
            self.codebook.themes.len(),
            question,
            theme,
        )
    }

    /// Keep the per-response rows and campaign signatures in unnamed files
    /// in `dir` rather than in memory until [`Aggregator::finish`] (see
    /// [`crate::spool`]). Call before the first unit.
    pub fn spool_in(&mut self, dir: &std::path::Path) {
        if self.responses.is_empty() {
            self.signatures = SignatureSpool::in_dir(dir);
            self.responses = ResponseTable::in_dir(dir);
        }
    }

    pub fn add_reject(&mut self, reject: &Reject) {
        self.reject_count += 1;
        *self
            .reject_reasons
            .entry(reason_kind(&reject.reason))
            .or_default() += 1;
    }

    fn intern_attrs(&mut self, attributes: &[(String, String)]) -> Vec<(u16, u32)> {
        let mut out = Vec::with_capacity(attributes.len());
        for (name, value) in attributes {
            let a = match self.attr_index.get(name) {
                Some(a) => *a,
                None => {
                    let a = self.attr_names.len() as u16;
                    self.attr_names.push(name.clone());
                    self.attr_index.insert(name.clone(), a);
                    self.attr_values.push((Vec::new(), HashMap::default()));
                    a
                }
            };
            let (values, index) = &mut self.attr_values[a as usize];
            let v = match index.get(value) {
                Some(v) => *v,
                None => {
                    let v = values.len() as u32;
                    values.push(value.clone());
                    index.insert(value.clone(), v);
                    v
                }
            };
            out.push((a, v));
        }
        out
    }

    fn group_attribute(&self) -> Option<u16> {
        let name = self.by.as_deref().unwrap_or(DEFAULT_BY);
        self.attr_index.get(name).copied()
    }

    pub fn add(&mut self, unit: &UnitInput<'_>) {
        let unit_ordinal = self.units;
        self.units += 1;
        let new_response = self
            .responses
            .last_record()
            .is_none_or(|r| r != unit.record);
        if new_response {
            // The previous response is whole: its quotes may be used.
            self.close_response();
            let attrs = self.intern_attrs(unit.attributes);
            self.signatures.push(unit.signature.clone());
            self.responses
                .push(unit.record, unit_ordinal, unit.id, &attrs);
        }
        let group = self.group_attribute().and_then(|a| {
            unit.attributes
                .iter()
                .find(|(k, _)| *k == self.attr_names[a as usize])
                .map(|(_, v)| v.clone())
        });
        if !new_response && let Some(sig) = self.signatures.last_mut() {
            sig.merge(unit.signature);
        }
        if self.responses.is_empty() {
            return;
        }
        let flags: Vec<u16> = unit.coding.flags.iter().map(|h| h.code as u16).collect();
        self.responses.add_to_last(
            unit.tokens.is_empty(),
            unit.coding
                .themes
                .iter()
                .map(|h| (unit.question as u16, h.code as u16)),
            &flags,
        );
        if !flags.is_empty() && !self.open_flagged {
            // A flagged answer makes the whole response restricted: what
            // its earlier answers gave to key terms and quotes is taken back.
            self.open_flagged = true;
            self.open_quotes.clear();
            self.terms.discard_response();
        }
        if self.open_flagged {
            return; // never quote or summarise a flagged response
        }
        // Counted here, in input order, so a stem's surface form is its
        // first occurrence; a per-batch table built in parallel and merged
        // cost more than this, allocating every stem anew in every batch.
        let themes: Vec<usize> = unit.coding.themes.iter().map(|h| h.code).collect();
        self.terms.add(unit.tokens, &themes);
        for hit in &unit.coding.themes {
            // Quote the sentence holding the most evidence (the earliest of
            // equals): the first cue is often an introduction ("I am a foster
            // carer"), the densest sentence is what the response says.
            let Some(sentence) = densest_sentence(&hit.evidence) else {
                continue;
            };
            let (text, words) = quote_around(unit.text, unit.tokens.tokens(), sentence);
            let candidate = QuoteCandidate {
                score: hit.score,
                good_length: (8..=60).contains(&words),
                record: unit.record,
                id: unit.id.to_owned(),
                question: unit.question,
                group: group.clone(),
                text,
            };
            self.open_quotes.push((hit.code, candidate));
        }
    }

    /// The response receiving units is whole: its quote candidates join
    /// the pools (none when it was flagged), and its terms stay counted.
    fn close_response(&mut self) {
        for (theme, candidate) in self.open_quotes.drain(..) {
            let pool = &mut self.quotes[theme];
            pool.push(candidate);
            if pool.len() >= QUOTE_POOL * 2 {
                pool.sort_by_key(QuoteCandidate::rank_key);
                pool.truncate(QUOTE_POOL);
            }
        }
        self.open_flagged = false;
        self.terms.start_response();
    }

    /// The per-response rows of codes.csv and the Codes sheet, as coded so
    /// far. Built before [`Aggregator::finish`] so the spreadsheet can start
    /// while the rest of the report is computed.
    pub fn response_rows(&self) -> std::io::Result<ResponseRows> {
        build_rows(
            &self.responses,
            &self.attr_names,
            &self.attr_values,
            &self.questions,
            &self.codebook.themes,
        )
    }

    /// Build the report around `rows` (from [`Aggregator::response_rows`]).
    /// `records_read` counts every input record; `text_of` gives a unit's
    /// text by ordinal (for campaign representatives).
    pub fn finish(
        mut self,
        rows: std::sync::Arc<ResponseRows>,
        records_read: u64,
        rejects_file: &str,
        flagged_file: &str,
        text_of: &dyn Fn(u64) -> Option<String>,
    ) -> std::io::Result<Report> {
        self.close_response();
        let n_themes = self.codebook.themes.len();
        let signatures =
            std::mem::replace(&mut self.signatures, SignatureSpool::in_memory()).into_vec()?;
        let groups = find_groups(&signatures, self.options.campaign_threshold);
        drop(signatures);
        let mut group_of: Vec<Option<u32>> = vec![None; self.responses.len()];
        for (g, members) in groups.iter().enumerate() {
            for m in members {
                group_of[*m as usize] = Some(g as u32);
            }
        }
        let mut group_themes: Vec<Vec<bool>> = vec![vec![false; n_themes]; groups.len()];
        let mut distinct = vec![0u64; n_themes];
        let n_questions = self.questions.len();
        let records_coded = self.responses.len() as u64;
        let group_attr = self.group_attribute();

        let mut theme_counts = vec![0u64; n_themes];
        let mut by_question = vec![vec![0u64; n_questions]; n_themes];
        let mut cooc = vec![vec![0u64; n_themes]; n_themes];
        let mut flag_counts = vec![0u64; self.codebook.flags.len()];
        let (mut empty, mut without, mut with, mut flagged) = (0, 0, 0, 0);
        let group_values = group_attr.map_or(0, |a| self.attr_values[a as usize].0.len());
        let mut group_sizes = vec![0u64; group_values];
        let mut crosstab = vec![vec![0u64; group_values]; n_themes];

        // Campaign members' ids, and the first member's first unit, for
        // the campaign list: members ascend, as the scan does.
        let mut member_ids: Vec<Vec<String>> =
            groups.iter().map(|m| Vec::with_capacity(m.len())).collect();
        let mut first_units: Vec<u64> = vec![0; groups.len()];
        // Groups with a flagged member: no member's text is shown.
        let mut group_flagged = vec![false; groups.len()];
        self.responses.scan(|position, r| {
            if let Some(g) = group_of[position] {
                let ids = &mut member_ids[g as usize];
                if ids.is_empty() {
                    first_units[g as usize] = r.first_unit;
                }
                ids.push(r.id.clone());
                if !r.flags.is_empty() {
                    group_flagged[g as usize] = true;
                }
            }
            let mut themes: Vec<u16> = r.themes.iter().map(|(_, t)| *t).collect();
            themes.sort_unstable();
            themes.dedup();
            let group =
                group_attr.and_then(|a| r.attrs.iter().find(|(x, _)| *x == a).map(|(_, v)| *v));
            if let Some(g) = group {
                group_sizes[g as usize] += 1;
            }
            if r.empty {
                empty += 1;
            } else if themes.is_empty() {
                without += 1;
            } else {
                with += 1;
            }
            if !r.flags.is_empty() {
                flagged += 1;
            }
            for f in &r.flags {
                flag_counts[*f as usize] += 1;
            }
            let response_index = r.record as usize;
            for t in &themes {
                match group_of.get(response_index).copied().flatten() {
                    Some(g) => group_themes[g as usize][*t as usize] = true,
                    None => distinct[*t as usize] += 1,
                }
            }
            for (i, a) in themes.iter().enumerate() {
                theme_counts[*a as usize] += 1;
                if let Some(g) = group {
                    crosstab[*a as usize][g as usize] += 1;
                }
                for b in &themes[i..] {
                    cooc[*a as usize][*b as usize] += 1;
                    if a != b {
                        cooc[*b as usize][*a as usize] += 1;
                    }
                }
            }
            let mut qt: Vec<(u16, u16)> = r.themes.clone();
            qt.sort_unstable();
            qt.dedup();
            for (q, t) in qt {
                by_question[t as usize][q as usize] += 1;
            }
        })?;

        for gt in &group_themes {
            for (t, has) in gt.iter().enumerate() {
                if *has {
                    distinct[t] += 1;
                }
            }
        }
        let distinct_total = records_coded - groups.iter().map(|g| g.len() as u64 - 1).sum::<u64>();
        let share = |n: u64| {
            if records_coded == 0 {
                0.0
            } else {
                n as f64 / records_coded as f64
            }
        };
        let group_names: Vec<String> =
            group_attr.map_or_else(Vec::new, |a| self.attr_values[a as usize].0.clone());
        let key_terms = self.terms.key_terms(10);
        let mut themes = Vec::with_capacity(n_themes);
        for t in 0..n_themes {
            let mut raised: Vec<GroupShare> = (0..group_values)
                .filter(|g| crosstab[t][*g] > 0)
                .map(|g| GroupShare {
                    value: group_names[g].clone(),
                    responses: crosstab[t][g],
                    share_of_group: crosstab[t][g] as f64 / group_sizes[g].max(1) as f64,
                })
                .collect();
            raised.sort_by(|a, b| {
                b.responses
                    .cmp(&a.responses)
                    .then_with(|| a.value.cmp(&b.value))
            });
            raised.truncate(3);
            themes.push(ThemeCount {
                id: self.codebook.themes[t].id.clone(),
                label: self.codebook.themes[t].label.clone(),
                responses: theme_counts[t],
                share: share(theme_counts[t]),
                distinct_submissions: distinct[t],
                distinct_share: if distinct_total == 0 {
                    0.0
                } else {
                    distinct[t] as f64 / distinct_total as f64
                },
                by_question: if n_questions > 1 {
                    self.questions
                        .iter()
                        .cloned()
                        .zip(by_question[t].iter().copied())
                        .collect()
                } else {
                    Vec::new()
                },
                key_terms: key_terms[t].clone(),
                quotes: self.pick_quotes(t, &group_of, &group_flagged),
                raised_most_by: raised,
            });
        }

        let mut values_by_size: Vec<usize> = (0..group_values).collect();
        values_by_size.sort_by(|a, b| {
            group_sizes[*b]
                .cmp(&group_sizes[*a])
                .then_with(|| group_names[*a].cmp(&group_names[*b]))
        });
        let crosstab_report = group_attr.map(|a| Crosstab {
            attribute: self.attr_names[a as usize].clone(),
            values: values_by_size
                .iter()
                .map(|g| (group_names[*g].clone(), group_sizes[*g]))
                .collect(),
            counts: crosstab
                .iter()
                .map(|row| values_by_size.iter().map(|g| row[*g]).collect())
                .collect(),
        });

        let views = minority_views(&themes, crosstab_report.as_ref(), records_coded);

        let mut by_reason: Vec<(String, u64)> = self.reject_reasons.into_iter().collect();
        by_reason.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

        Ok(Report {
            schema: REPORT_SCHEMA,
            tool: ToolInfo {
                name: "thematic",
                version: env!("CARGO_PKG_VERSION"),
            },
            totals: Totals {
                records_read,
                records_coded,
                records_rejected: self.reject_count,
                empty_responses: empty,
                responses_without_theme: without,
                responses_with_theme: with,
                distinct_submissions: distinct_total,
                flagged_responses: flagged,
                units: self.units,
                questions: self.questions.clone(),
                share_denominator: format!(
                    "coded responses (records_coded = {records_coded}), including empty ones"
                ),
            },
            cooccurrence: Cooccurrence {
                themes: self.codebook.themes.iter().map(|t| t.id.clone()).collect(),
                matrix: cooc,
            },
            themes,
            crosstab: crosstab_report,
            views_held_by_few: views,
            campaigns: member_ids
                .into_iter()
                .zip(first_units)
                .zip(group_flagged)
                .enumerate()
                .map(|(g, ((members, first_unit), flagged))| {
                    // A flagged member's text goes only to restricted/, and
                    // its copies are that text: none of it is shown.
                    let (representative, withheld) = if flagged {
                        (None, Some(WITHHELD_FLAGGED.to_owned()))
                    } else {
                        let text = text_of(first_unit).unwrap_or_default();
                        let mut representative: String =
                            redact(&display_safe(&text)).chars().take(400).collect();
                        if representative.chars().count() >= 400 {
                            representative.push('…');
                        }
                        (Some(representative), None)
                    };
                    Campaign {
                        id: format!("C{}", g + 1),
                        size: members.len() as u64,
                        representative,
                        withheld,
                        members,
                    }
                })
                .collect(),
            headline: self.options.headline,
            rejects: RejectSummary {
                count: self.reject_count,
                file: rejects_file.to_owned(),
                by_reason,
            },
            flagged: FlaggedSummary {
                count: flagged,
                file: flagged_file.to_owned(),
                by_flag: self
                    .codebook
                    .flags
                    .iter()
                    .zip(flag_counts)
                    .map(|(f, n)| (f.id.clone(), n))
                    .collect(),
            },
            codebook: self.codebook,
            rows,
        })
    }

    /// Up to three quotes, strongest first, from different groups where
    /// possible; none from a campaign with a flagged member (its copies
    /// carry the flagged text).
    fn pick_quotes(
        &mut self,
        theme: usize,
        group_of: &[Option<u32>],
        group_flagged: &[bool],
    ) -> Vec<Quote> {
        let group = |c: &QuoteCandidate| group_of.get(c.record as usize).copied().flatten();
        let pool = &mut self.quotes[theme];
        pool.retain(|c| group(c).is_none_or(|g| !group_flagged[g as usize]));
        pool.sort_by_key(QuoteCandidate::rank_key);
        let mut chosen: Vec<&QuoteCandidate> = Vec::new();
        let mut seen_text: Vec<&str> = Vec::new();
        for pass in 0..2 {
            for c in pool.iter() {
                if chosen.len() >= QUOTES_PER_THEME {
                    break;
                }
                let same_campaign =
                    group(c).is_some() && chosen.iter().any(|x| group(x) == group(c));
                if chosen.iter().any(|x| x.record == c.record)
                    || same_campaign
                    || seen_text.contains(&c.text.as_str())
                {
                    continue;
                }
                if pass == 0 && chosen.iter().any(|x| x.group == c.group) {
                    continue;
                }
                seen_text.push(&c.text);
                chosen.push(c);
            }
        }
        chosen
            .into_iter()
            .map(|c| Quote {
                id: c.id.clone(),
                question: self.questions.get(c.question).cloned().unwrap_or_default(),
                respondent_type: c.group.clone(),
                text: redact(&display_safe(&c.text)),
            })
            .collect()
    }
}

/// The sentence holding the evidence, with the next one when it is very short;
/// long sentences are cut to a window of words around their start.
fn quote_around(text: &str, tokens: &[Token], sentence: u32) -> (String, usize) {
    // Tokens are in text order, so sentence numbers and byte offsets only
    // grow: each range is a binary search, not a walk over every token
    // for every theme a unit has.
    let start_of = |s: u32| tokens.partition_point(|t| t.sentence < s);
    let first_word = start_of(sentence);
    let mut past_last = start_of(sentence.saturating_add(1));
    if past_last - first_word < 8 {
        past_last = start_of(sentence.saturating_add(2));
    }
    let words = &tokens[first_word..past_last];
    let (Some(first), Some(_)) = (words.first(), words.last()) else {
        return (String::new(), 0);
    };
    const MAX_WORDS: usize = 60;
    let truncated = words.len() > MAX_WORDS;
    let last = if truncated {
        &words[MAX_WORDS - 1]
    } else {
        &words[words.len() - 1]
    };
    let start = first.byte_start as usize;
    // Extend to closing punctuation before the next word.
    let mut end = last.byte_end as usize;
    let next_word_start = tokens
        .get(tokens.partition_point(|t| (t.byte_start as usize) < end))
        .map_or(text.len(), |t| t.byte_start as usize);
    if !truncated && let Some(extra) = text.get(end..next_word_start) {
        let keep = extra
            .char_indices()
            .take_while(|(_, c)| matches!(c, '.' | '!' | '?' | '"' | '\'' | ')' | '”' | '’' | '…'))
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
        end += keep;
    }
    let mut quote = text.get(start..end).unwrap_or_default().to_owned();
    if truncated {
        quote.push('…');
    }
    (quote, words.len().min(MAX_WORDS))
}

/// A reject reason's kind, for counting reasons alike: the values quoted in
/// it (`name`, "id" with its escapes) become `…` and numbers standing alone
/// (line 12, byte 40, 3 fields, lines 3-7) become `N`, but a number that is
/// part of a word stays (UTF-8, UTF-16); cut at the first colon, after
/// which the detail (a parser's message) follows.
fn reason_kind(reason: &str) -> String {
    let chars: Vec<char> = reason.chars().collect();
    // The closing quote of a "…" value opened at `open`, past escapes.
    let closing_quote = |open: usize| {
        let mut i = open + 1;
        while i < chars.len() {
            match chars[i] {
                '\\' => i += 2,
                '"' => return Some(i),
                _ => i += 1,
            }
        }
        None
    };
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '`' => {
                let close = chars[i + 1..].iter().position(|c| *c == '`');
                match close {
                    Some(len) => {
                        out.push_str("`…`");
                        i += len + 2;
                    }
                    None => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            '"' => match closing_quote(i) {
                Some(close) => {
                    out.push_str("\"…\"");
                    i = close + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            },
            c if c.is_ascii_digit() => {
                let end = i + chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                // Part of a word: a letter right before or after it, or a
                // letter before a hyphen, underscore or dot just before it.
                let before = i.checked_sub(1).map(|b| chars[b]);
                let word_before = before.is_some_and(char::is_alphabetic)
                    || (matches!(before, Some('-' | '_' | '.'))
                        && i.checked_sub(2).is_some_and(|b| chars[b].is_alphabetic()));
                let word_after = chars.get(end).is_some_and(|c| c.is_alphabetic());
                if word_before || word_after {
                    out.extend(&chars[i..end]);
                } else {
                    out.push('N');
                }
                i = end;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out.split(':').next().unwrap_or_default().trim().to_owned()
}

fn minority_views(
    themes: &[ThemeCount],
    crosstab: Option<&Crosstab>,
    total: u64,
) -> Vec<MinorityView> {
    let Some(ct) = crosstab else {
        return Vec::new();
    };
    let mut views = Vec::new();
    for (t, theme) in themes.iter().enumerate() {
        if theme.responses < 3 {
            continue;
        }
        for (v, (value, size)) in ct.values.iter().enumerate() {
            let mentions = ct.counts[t][v];
            let share_of_mentions = mentions as f64 / theme.responses as f64;
            let share_of_corpus = *size as f64 / total.max(1) as f64;
            if mentions >= 3
                && share_of_mentions >= 0.5
                && share_of_mentions >= 2.0 * share_of_corpus
            {
                views.push(MinorityView {
                    theme: theme.id.clone(),
                    term: None,
                    value: value.clone(),
                    share_of_mentions,
                    share_of_corpus,
                    mentions,
                });
            }
        }
    }
    views
}

/// One 0/1 column per theme, or per question and theme (`question:theme`)
/// when there are several questions.
fn code_columns(questions: &[String], themes: &[CodeInfo]) -> Vec<String> {
    if questions.len() > 1 {
        questions
            .iter()
            .flat_map(|q| themes.iter().map(move |t| format!("{q}:{}", t.id)))
            .collect()
    } else {
        themes.iter().map(|t| t.id.clone()).collect()
    }
}

fn code_column(questions: usize, themes: usize, question: usize, theme: usize) -> usize {
    if questions > 1 {
        question * themes + theme
    } else {
        theme
    }
}

fn build_rows(
    responses: &ResponseTable,
    attr_names: &[String],
    attr_values: &[(Vec<String>, HashMap<String, u32>)],
    questions: &[String],
    themes: &[CodeInfo],
) -> std::io::Result<ResponseRows> {
    let theme_columns = code_columns(questions, themes);
    let na = attr_names.len();
    let nc = theme_columns.len();
    let mut attribute_cells = vec![ResponseRows::ABSENT; responses.len() * na];
    let mut code_cells = vec![false; responses.len() * nc];
    let mut ids = String::new();
    let mut id_starts = Vec::with_capacity(responses.len());
    responses.scan(|i, r| {
        id_starts.push(ids.len() as u32);
        ids.push_str(&r.id);
        for (a, v) in &r.attrs {
            attribute_cells[i * na + *a as usize] = *v;
        }
        for (q, t) in &r.themes {
            let col = code_column(questions.len(), themes.len(), *q as usize, *t as usize);
            code_cells[i * nc + col] = true;
        }
    })?;
    Ok(ResponseRows {
        attribute_names: attr_names.to_vec(),
        theme_columns,
        attribute_values: attr_values.iter().map(|(v, _)| v.clone()).collect(),
        ids,
        id_starts,
        attribute_cells,
        code_cells,
    })
}

/// The sentence with the most evidence spans, the earliest among equals.
fn densest_sentence(evidence: &[crate::classify::Evidence]) -> Option<u32> {
    let mut best: Option<(u32, usize)> = None;
    for run in evidence.chunk_by(|a, b| a.sentence == b.sentence) {
        let sentence = run[0].sentence;
        match best {
            Some((_, n)) if n >= run.len() => {}
            _ => best = Some((sentence, run.len())),
        }
    }
    best.map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The quote as first written: every token walked for the sentence and
    /// for the next word. [`quote_around`] binary-searches instead.
    fn quote_by_walking(text: &str, tokens: &[Token], sentence: u32) -> (String, usize) {
        let in_sentence = |s: u32| tokens.iter().filter(move |t| t.sentence == s);
        let mut words: Vec<&Token> = in_sentence(sentence).collect();
        if words.len() < 8 {
            words.extend(in_sentence(sentence + 1));
        }
        let (Some(first), Some(_)) = (words.first(), words.last()) else {
            return (String::new(), 0);
        };
        let truncated = words.len() > 60;
        let last = words[if truncated { 59 } else { words.len() - 1 }];
        let mut end = last.byte_end as usize;
        let next_word_start = tokens
            .iter()
            .find(|t| t.byte_start as usize >= end)
            .map_or(text.len(), |t| t.byte_start as usize);
        if !truncated && let Some(extra) = text.get(end..next_word_start) {
            let closing =
                |c: &char| matches!(c, '.' | '!' | '?' | '"' | '\'' | ')' | '”' | '’' | '…');
            end += extra
                .chars()
                .take_while(closing)
                .map(char::len_utf8)
                .sum::<usize>();
        }
        let mut quote = text[first.byte_start as usize..end].to_owned();
        if truncated {
            quote.push('…');
        }
        (quote, words.len().min(60))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn quotes_by_search_equal_quotes_by_walking(
            words in proptest::collection::vec(("[a-zé]{1,6}", "( | | | | | |, |\\. |! |\\.\"\\) |…|\\? ”)"), 0..90),
            sentence in 0u32..8,
        ) {
            let text: String = words.iter().map(|(w, gap)| format!("{w}{gap}")).collect();
            let tokens = crate::text::Tokeniser::new().tokenise(&text);
            prop_assert_eq!(
                quote_around(&text, tokens.tokens(), sentence),
                quote_by_walking(&text, tokens.tokens(), sentence)
            );
        }
    }

    /// Reasons group by their wording: quoted values and standalone
    /// numbers go, numbers inside words (UTF-8) stay.
    #[test]
    fn reason_kinds_keep_words_with_digits() {
        let cases = [
            (
                "invalid UTF-8 in field `text` at byte 17; re-save the file as UTF-8",
                "invalid UTF-8 in field `…` at byte N; re-save the file as UTF-8",
            ),
            (
                "invalid UTF-8 at byte 3 of the line; re-save the file as UTF-16 or UTF_8",
                "invalid UTF-8 at byte N of the line; re-save the file as UTF-16 or UTF_8",
            ),
            (
                &format!(
                    "id {:?} contains a line break or control character; ids must be one line",
                    "a\0b"
                ),
                "id \"…\" contains a line break or control character; ids must be one line",
            ),
            (
                &format!("id {:?} contains a line break", "say \"hi\"\n: 12"),
                "id \"…\" contains a line break",
            ),
            (
                "a quote opened on line 3 is never closed, so lines 3-17 were read as one field",
                "a quote opened on line N is never closed, so lines N-N were read as one field",
            ),
            (
                "expected 3 fields (as in the header), found 12; check for a missing delimiter",
                "expected N fields (as in the header), found N; check for a missing delimiter",
            ),
            (
                "not valid JSON: expected value at line 1 column 2",
                "not valid JSON",
            ),
            (
                "duplicate id `x:1`; the first record with this id was kept",
                "duplicate id `…`; the first record with this id was kept",
            ),
            ("an unclosed \"quote at 4", "an unclosed \"quote at N"),
        ];
        for (reason, kind) in cases {
            assert_eq!(reason_kind(reason), kind, "{reason}");
        }
        // Every id is one kind.
        assert_eq!(
            reason_kind(&format!("id {:?} contains a control character", "a\u{1}7")),
            reason_kind(&format!("id {:?} contains a control character", "b\tc")),
        );
    }

    /// Rows spilled to disk come back as pushed, in order, the open one
    /// last, in memory or spooled.
    #[test]
    fn response_rows_come_back_as_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let n = 60_000u64;
        let id = |i: u64| format!("résp-{i}-{}", "x".repeat((i % 40) as usize));
        for (spooled, mut table) in [
            (false, ResponseTable::default()),
            (true, ResponseTable::in_dir(dir.path())),
        ] {
            for i in 0..n {
                let attrs: Vec<(u16, u32)> =
                    (0..(i % 4) as u16).map(|a| (a, i as u32 * 7)).collect();
                table.push(i, i * 3, &id(i), &attrs);
                for q in 0..(i % 3) {
                    let themes = (0..(i % 5) as u16).map(|t| (q as u16, t * 1000));
                    let flags = if i % 11 == 0 { vec![0, 1, 0] } else { vec![] };
                    table.add_to_last(i % 7 == 0, themes, &flags);
                }
            }
            assert_eq!(table.len(), n as usize);
            assert_eq!(
                table.rows.spilled() > 0,
                spooled,
                "rows on disk only when spooled"
            );
            let mut seen = 0u64;
            table
                .scan(|position, r| {
                    let i = position as u64;
                    assert_eq!((r.record, r.first_unit), (i, i * 3));
                    assert_eq!(r.id, id(i));
                    assert_eq!(r.attrs.len() as u64, i % 4);
                    assert!(r.attrs.iter().all(|(_, v)| *v == i as u32 * 7));
                    assert_eq!(r.themes.len() as u64, (i % 3) * (i % 5));
                    assert!(
                        r.themes
                            .iter()
                            .all(|(q, t)| u64::from(*q) < i % 3 && t % 1000 == 0)
                    );
                    let flagged = i.is_multiple_of(11) && !i.is_multiple_of(3);
                    assert_eq!(r.flags, if flagged { vec![0, 1] } else { vec![] });
                    assert_eq!(r.empty, i.is_multiple_of(3) || i.is_multiple_of(7));
                    seen += 1;
                })
                .unwrap();
            assert_eq!(seen, n);
        }
    }
}
