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
use crate::text::{Token, TokenizedText};

/// Quote candidates kept per theme while streaming.
const QUOTE_POOL: usize = 40;
/// Quotes shown per theme.
const QUOTES_PER_THEME: usize = 3;
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

/// What the report needs of every response, in flat arrays: a few dozen
/// bytes per response rather than a struct of four small heap vectors
/// (this is what grows with the corpus while a run codes).
#[derive(Default)]
struct ResponseTable {
    records: Vec<u64>,
    /// Ordinal of each response's first unit.
    first_units: Vec<u64>,
    ids: String,
    /// Response `i`'s id is `ids[id_starts[i]..id_starts[i + 1]]` (the last
    /// runs to the end); the lists below are laid out the same way.
    id_starts: Vec<u32>,
    /// (attribute, value index) pairs.
    attrs: Vec<(u16, u32)>,
    attr_starts: Vec<u32>,
    /// (question, theme) pairs coded, laid out the same way.
    themes: Vec<(u16, u16)>,
    theme_starts: Vec<u32>,
    flags: Vec<u16>,
    flag_starts: Vec<u32>,
    empty: Vec<bool>,
}

/// One response of a [`ResponseTable`].
struct ResponseView<'a> {
    record: u64,
    first_unit: u64,
    id: &'a str,
    attrs: &'a [(u16, u32)],
    themes: &'a [(u16, u16)],
    empty: bool,
    flags: &'a [u16],
}

impl ResponseTable {
    fn len(&self) -> usize {
        self.records.len()
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn last_record(&self) -> Option<u64> {
        self.records.last().copied()
    }

    fn push(&mut self, record: u64, first_unit: u64, id: &str, attrs: &[(u16, u32)]) {
        self.records.push(record);
        self.first_units.push(first_unit);
        self.id_starts.push(self.ids.len() as u32);
        self.ids.push_str(id);
        self.attr_starts.push(self.attrs.len() as u32);
        self.attrs.extend_from_slice(attrs);
        self.theme_starts.push(self.themes.len() as u32);
        self.flag_starts.push(self.flags.len() as u32);
        self.empty.push(true);
    }

    /// Note a unit of the last response.
    fn add_to_last(
        &mut self,
        empty: bool,
        themes: impl Iterator<Item = (u16, u16)>,
        flags: &[u16],
    ) {
        if !empty && let Some(e) = self.empty.last_mut() {
            *e = false;
        }
        self.themes.extend(themes);
        let first_flag = self.flag_starts.last().copied().unwrap_or(0) as usize;
        for f in flags {
            if !self.flags[first_flag..].contains(f) {
                self.flags.push(*f);
            }
        }
    }

    fn range(starts: &[u32], i: usize, len: usize) -> std::ops::Range<usize> {
        let a = starts[i] as usize;
        let b = starts.get(i + 1).map_or(len, |b| *b as usize);
        a..b
    }

    fn get(&self, i: usize) -> ResponseView<'_> {
        ResponseView {
            record: self.records[i],
            first_unit: self.first_units[i],
            id: &self.ids[Self::range(&self.id_starts, i, self.ids.len())],
            attrs: &self.attrs[Self::range(&self.attr_starts, i, self.attrs.len())],
            themes: &self.themes[Self::range(&self.theme_starts, i, self.themes.len())],
            empty: self.empty[i],
            flags: &self.flags[Self::range(&self.flag_starts, i, self.flags.len())],
        }
    }

    fn iter(&self) -> impl Iterator<Item = ResponseView<'_>> {
        (0..self.len()).map(|i| self.get(i))
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
            terms: TermStats::new(codebook.themes.len()),
            quotes: vec![Vec::new(); codebook.themes.len()],
            reject_count: 0,
            reject_reasons: HashMap::default(),
        }
    }

    /// Keep the campaign signatures in an unnamed file in `dir` rather than
    /// in memory until [`Aggregator::finish`] (see [`SignatureSpool`]).
    pub fn spool_signatures_in(&mut self, dir: &std::path::Path) {
        if self.signatures.is_empty() {
            self.signatures = SignatureSpool::in_dir(dir);
        }
    }

    /// Term counts of a batch of units, counted in parallel by the caller
    /// with [`TermStats::add`]; batches must arrive in input order.
    pub fn add_terms(&mut self, batch: TermStats) {
        self.terms.merge(batch);
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
        if !unit.coding.flags.is_empty() {
            return; // never quote a flagged response
        }
        for hit in &unit.coding.themes {
            // Quote the sentence holding the most evidence (the earliest of
            // equals): the first cue is often an introduction ("I am a foster
            // carer"), the densest sentence is what the response says.
            let Some(sentence) = densest_sentence(&hit.evidence) else {
                continue;
            };
            let pool = &mut self.quotes[hit.code];
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
            pool.push(candidate);
            if pool.len() >= QUOTE_POOL * 2 {
                pool.sort_by_key(QuoteCandidate::rank_key);
                pool.truncate(QUOTE_POOL);
            }
        }
    }

    /// The per-response rows of codes.csv and the Codes sheet, as coded so
    /// far. Built before [`Aggregator::finish`] so the spreadsheet can start
    /// while the rest of the report is computed.
    pub fn response_rows(&self) -> ResponseRows {
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

        for r in self.responses.iter() {
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
            for f in r.flags {
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
            let mut qt: Vec<(u16, u16)> = r.themes.to_vec();
            qt.sort_unstable();
            qt.dedup();
            for (q, t) in qt {
                by_question[t as usize][q as usize] += 1;
            }
        }

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
                quotes: self.pick_quotes(t, &group_of),
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
            campaigns: groups
                .iter()
                .enumerate()
                .map(|(g, members)| {
                    let first = self.responses.get(members[0] as usize);
                    let text = text_of(first.first_unit).unwrap_or_default();
                    let mut representative: String =
                        redact(&display_safe(&text)).chars().take(400).collect();
                    if representative.chars().count() >= 400 {
                        representative.push('…');
                    }
                    Campaign {
                        id: format!("C{}", g + 1),
                        size: members.len() as u64,
                        representative,
                        members: members
                            .iter()
                            .map(|m| self.responses.get(*m as usize).id.to_owned())
                            .collect(),
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

    /// Up to three quotes, strongest first, from different groups where possible.
    fn pick_quotes(&mut self, theme: usize, group_of: &[Option<u32>]) -> Vec<Quote> {
        let group = |c: &QuoteCandidate| group_of.get(c.record as usize).copied().flatten();
        let pool = &mut self.quotes[theme];
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
    let in_sentence = |s: u32| tokens.iter().filter(move |t| t.sentence == s);
    let mut words: Vec<&Token> = in_sentence(sentence).collect();
    if words.len() < 8 {
        words.extend(in_sentence(sentence + 1));
    }
    let (Some(first), Some(_)) = (words.first(), words.last()) else {
        return (String::new(), 0);
    };
    const MAX_WORDS: usize = 60;
    let truncated = words.len() > MAX_WORDS;
    let last = if truncated {
        words[MAX_WORDS - 1]
    } else {
        words[words.len() - 1]
    };
    let start = first.byte_start as usize;
    // Extend to closing punctuation before the next word.
    let mut end = last.byte_end as usize;
    let next_word_start = tokens
        .iter()
        .find(|t| t.byte_start as usize >= end)
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

fn reason_kind(reason: &str) -> String {
    // Group reasons by their wording, not the values quoted in them.
    let mut out = String::new();
    let mut in_tick = false;
    for c in reason.chars() {
        match c {
            '`' => {
                in_tick = !in_tick;
                out.push('`');
                if in_tick {
                    out.push('…');
                }
            }
            _ if in_tick => {}
            c if c.is_ascii_digit() => {
                if !out.ends_with('N') {
                    out.push('N');
                }
            }
            c => out.push(c),
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

fn build_rows(
    responses: &ResponseTable,
    attr_names: &[String],
    attr_values: &[(Vec<String>, HashMap<String, u32>)],
    questions: &[String],
    themes: &[CodeInfo],
) -> ResponseRows {
    let several = questions.len() > 1;
    let theme_columns: Vec<String> = if several {
        questions
            .iter()
            .flat_map(|q| themes.iter().map(move |t| format!("{q}:{}", t.id)))
            .collect()
    } else {
        themes.iter().map(|t| t.id.clone()).collect()
    };
    let na = attr_names.len();
    let nc = theme_columns.len();
    let mut attribute_cells = vec![ResponseRows::ABSENT; responses.len() * na];
    let mut code_cells = vec![false; responses.len() * nc];
    for (i, r) in responses.iter().enumerate() {
        for (a, v) in r.attrs {
            attribute_cells[i * na + *a as usize] = *v;
        }
        for (q, t) in r.themes {
            let col = if several {
                *q as usize * themes.len() + *t as usize
            } else {
                *t as usize
            };
            code_cells[i * nc + col] = true;
        }
    }
    ResponseRows {
        attribute_names: attr_names.to_vec(),
        theme_columns,
        attribute_values: attr_values.iter().map(|(v, _)| v.clone()).collect(),
        ids: responses.ids.clone(),
        id_starts: responses.id_starts.clone(),
        attribute_cells,
        code_cells,
    }
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
