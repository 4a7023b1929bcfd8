//! Search over a run's index: the query language of [`query`] compiled to
//! tantivy queries (BM25), theme and attribute filters evaluated against
//! `units.bin` (so they follow the latest `run` or `code`), counts per theme
//! and attribute value over *all* hits by a collector, and snippets
//! highlighted from token positions by the same matcher the classifier uses.

pub mod query;
pub mod units;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue};
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::doc_predicate_query::{DocPredicateQuery, FunctionPredicate};
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, Occur, PhrasePrefixQuery, PhraseQuery,
    Query as TantivyQuery, RegexQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Order, Score, SegmentOrdinal, SegmentReader, Term};

use crate::classify::Matcher;
use crate::codebook::{Item, WordPattern};
use crate::index::{self, IndexError, OpenIndex, StoredUnit};
use crate::report::{redact::redact, sanitize::display_safe};
use crate::text::Tokeniser;
pub use query::{ParseError, Query, parse};
pub use units::{UNITS_FILE, Units, UnitsError, UnitsWriter};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Units(#[from] UnitsError),
    #[error("no theme `{theme}` in this run; themes are: {known}")]
    UnknownTheme { theme: String, known: String },
    #[error("no attribute `{field}` in this run; attributes are: {known}")]
    UnknownField { field: String, known: String },
    #[error("no question `{question}` in this run; questions are: {known}")]
    UnknownQuestion { question: String, known: String },
    #[error("search failed: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("{0}")]
    Usage(String),
}

/// What to search for, already parsed from the command line.
#[derive(Clone, Debug)]
pub struct SearchSettings {
    pub query: String,
    /// Every theme listed must be present (AND).
    pub themes: Vec<String>,
    /// `FIELD=VALUE` filters (AND); values compare case-insensitively.
    pub filters: Vec<(String, String)>,
    pub question: Option<String>,
    pub limit: usize,
    /// Redact personal data in snippets and hide flagged responses' text.
    pub redact: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    pub id: String,
    pub question: String,
    pub ordinal: u64,
    pub score: f32,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub themes: Vec<String>,
    pub flags: Vec<String>,
    pub snippet: String,
    /// Char ranges of matched words within `snippet`.
    pub highlights: Vec<(usize, usize)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub query: String,
    /// Matching units (response×question), all of them, not only those shown.
    pub hits: u64,
    pub shown: usize,
    pub by_theme: serde_json::Map<String, serde_json::Value>,
    pub by_attribute: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    pub summary: Summary,
}

/// An opened run, ready for many searches.
pub struct Searcher {
    index: OpenIndex,
    units: Arc<Units>,
}

impl Searcher {
    pub fn open(out: &Path) -> Result<Searcher, SearchError> {
        let index = index::open(&out.join("index"))?;
        let units = Arc::new(Units::load(&out.join(UNITS_FILE))?);
        Ok(Searcher { index, units })
    }

    pub fn units(&self) -> &Units {
        &self.units
    }

    fn predicate(
        &self,
        test: impl Fn(&Units, u64) -> bool + Send + Sync + Clone + 'static,
    ) -> Box<dyn TantivyQuery> {
        let units = Arc::clone(&self.units);
        let predicate = FunctionPredicate::from(move |seg: &SegmentReader| {
            let ords: Column<u64> = seg.fast_fields().u64("ord")?;
            let units = Arc::clone(&units);
            let test = test.clone();
            Ok(move |doc: DocId| ords.first(doc).is_some_and(|o| test(&units, o)))
        });
        let q: DocPredicateQuery = predicate.into();
        Box::new(ConstScoreQuery::new(Box::new(q), 0.0))
    }

    fn theme_filter(&self, theme: &str) -> Result<Box<dyn TantivyQuery>, SearchError> {
        let t = self
            .units
            .theme_index(theme)
            .ok_or_else(|| SearchError::UnknownTheme {
                theme: theme.to_owned(),
                known: self.units.header.themes.join(", "),
            })?;
        Ok(self.predicate(move |u, ord| u.has_theme(ord, t)))
    }

    /// Units of one question (a `--text-field`), whatever the corpus's own
    /// columns are called: `--question` never means an attribute named
    /// `question` (that is `--where question=…`).
    fn question_filter(&self, question: &str) -> Result<Box<dyn TantivyQuery>, SearchError> {
        let field = self.index.fields.question;
        let mut known = Vec::new();
        let searcher = self.index.reader.searcher();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(field)?;
            let mut terms = inverted
                .terms()
                .stream()
                .map_err(tantivy::TantivyError::from)?;
            while terms.advance() {
                let term = String::from_utf8_lossy(terms.key()).into_owned();
                if !known.contains(&term) {
                    known.push(term);
                }
            }
        }
        if !known.iter().any(|k| k == question) {
            known.sort();
            return Err(SearchError::UnknownQuestion {
                question: question.to_owned(),
                known: known.join(", "),
            });
        }
        Ok(Box::new(ConstScoreQuery::new(
            Box::new(TermQuery::new(
                Term::from_field_text(field, question),
                IndexRecordOption::Basic,
            )),
            0.0,
        )))
    }

    fn field_filter(&self, field: &str, value: &str) -> Result<Box<dyn TantivyQuery>, SearchError> {
        let f = &self.index.fields;
        let header = &self.units.header;
        // A corpus attribute of the same name wins over the built-in fields
        // (many consultations have a "question" column of their own).
        let is_attribute = header.attributes.iter().any(|a| a.name == field);
        if !is_attribute && (field == "question" || field == "id") {
            let target = if field == "id" { f.id } else { f.question };
            return Ok(Box::new(ConstScoreQuery::new(
                Box::new(TermQuery::new(
                    Term::from_field_text(target, value),
                    IndexRecordOption::Basic,
                )),
                0.0,
            )));
        }
        let a = header
            .attributes
            .iter()
            .position(|a| a.name == field)
            .ok_or_else(|| SearchError::UnknownField {
                field: field.to_owned(),
                known: header
                    .attributes
                    .iter()
                    .map(|a| a.name.as_str())
                    .chain(
                        ["question", "id", "theme"]
                            .into_iter()
                            .filter(|b| header.attributes.iter().all(|a| a.name != *b)),
                    )
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let matching = header.attributes[a].matching(value);
        Ok(
            self.predicate(move |u, ord| {
                u.attribute(ord, a).is_some_and(|v| matching.contains(&v))
            }),
        )
    }

    fn item_query(&self, item: &Item) -> Box<dyn TantivyQuery> {
        let body = self.index.fields.body;
        let term = |w: &WordPattern| match w {
            WordPattern::Stem(s) => Term::from_field_text(body, s),
            WordPattern::Exact(s) | WordPattern::Prefix(s) => {
                Term::from_field_text(body, &format!("={s}"))
            }
        };
        match item.words.as_slice() {
            [WordPattern::Prefix(p)] => {
                let pattern = format!("={}.*", regex::escape(p));
                match RegexQuery::from_pattern(&pattern, body) {
                    Ok(q) => Box::new(q),
                    Err(_) => Box::new(tantivy::query::EmptyQuery),
                }
            }
            [single] => Box::new(TermQuery::new(term(single), IndexRecordOption::WithFreqs)),
            words => {
                let terms: Vec<Term> = words.iter().map(term).collect();
                if matches!(words.last(), Some(WordPattern::Prefix(_))) {
                    let mut q = PhrasePrefixQuery::new(terms);
                    q.set_max_expansions(u32::MAX);
                    Box::new(q)
                } else if item.spans_stop() {
                    // "St. Helens": the index skips a position at each full
                    // stop, so the phrase as written has its words that far
                    // apart; or it is written with none of its stops. (The
                    // codebook matcher also takes any subset of several
                    // stops, and a prefix phrase ignores them here.)
                    let mut skipped = 0;
                    let spaced = terms
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            skipped += usize::from(item.stops_before.contains(&(i as u32)));
                            (i + skipped, t.clone())
                        })
                        .collect();
                    Box::new(BooleanQuery::new(vec![
                        (
                            Occur::Should,
                            Box::new(PhraseQuery::new_with_offset(spaced)) as Box<dyn TantivyQuery>,
                        ),
                        (Occur::Should, Box::new(PhraseQuery::new(terms))),
                    ]))
                } else {
                    Box::new(PhraseQuery::new(terms))
                }
            }
        }
    }

    fn compile(&self, q: &Query) -> Result<Box<dyn TantivyQuery>, SearchError> {
        Ok(match q {
            Query::Item(item) => self.item_query(item),
            Query::Near { items, distance } => {
                let body = self.index.fields.body;
                let single = |i: &Item| match i.words.as_slice() {
                    [WordPattern::Stem(s)] => Some(Term::from_field_text(body, s)),
                    [WordPattern::Exact(s)] => Some(Term::from_field_text(body, &format!("={s}"))),
                    _ => None,
                };
                let terms: Option<Vec<Term>> = items.iter().map(single).collect();
                let Some(terms) = terms.filter(|t| t.len() == 2) else {
                    return Err(SearchError::Usage(
                        "NEAR/n takes exactly two single words (no phrases or wildcards), as in NEAR/5(kinship support)".into(),
                    ));
                };
                // Two words within `distance` positions, either order: tantivy's
                // slop is a budget where transposition costs 2, so OR the orders.
                // Saturated, not truncated: NEAR/4294967296 was NEAR/0.
                let slop = u32::try_from(*distance)
                    .unwrap_or(u32::MAX)
                    .saturating_sub(1);
                let forward = PhraseQuery::new_with_offset_and_slop(
                    vec![(0, terms[0].clone()), (1, terms[1].clone())],
                    slop,
                );
                let backward = PhraseQuery::new_with_offset_and_slop(
                    vec![(0, terms[1].clone()), (1, terms[0].clone())],
                    slop,
                );
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, Box::new(forward) as Box<dyn TantivyQuery>),
                    (Occur::Should, Box::new(backward)),
                ]))
            }
            Query::Field { field, value } => self.field_filter(field, value)?,
            Query::Theme(t) => self.theme_filter(t)?,
            Query::And(parts) => {
                let mut clauses = Vec::with_capacity(parts.len());
                for p in parts {
                    match p {
                        Query::Not(inner) => clauses.push((Occur::MustNot, self.compile(inner)?)),
                        other => clauses.push((Occur::Must, self.compile(other)?)),
                    }
                }
                if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Or(parts) => {
                let clauses = parts
                    .iter()
                    .map(|p| Ok((Occur::Should, self.compile(p)?)))
                    .collect::<Result<Vec<_>, SearchError>>()?;
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Box<dyn TantivyQuery>),
                (Occur::MustNot, self.compile(inner)?),
            ])),
        })
    }

    /// The ordinals of every unit matching `query` (no filters), for tests
    /// and tools that compare search with coding.
    pub fn matching_ordinals(&self, query: &str) -> Result<Vec<u64>, SearchError> {
        let q = self.compile(&parse(query)?)?;
        let searcher = self.index.reader.searcher();
        let mut ords = searcher.search(&q, &OrdinalCollector)?;
        ords.sort_unstable();
        Ok(ords)
    }

    /// The ordinals of units matching an optional query and question, in
    /// order (for browsing: theme and attribute filters are the caller's).
    pub fn browse_ordinals(
        &self,
        query: Option<&str>,
        question: Option<&str>,
    ) -> Result<Vec<u64>, SearchError> {
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        if query.is_none() && question.is_none() {
            return Ok((0..self.units.len()).collect());
        }
        let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = vec![(
            Occur::Must,
            match query {
                Some(q) => self.compile(&parse(q)?)?,
                None => Box::new(AllQuery),
            },
        )];
        if let Some(q) = question {
            clauses.push((Occur::Must, self.question_filter(q)?));
        }
        let searcher = self.index.reader.searcher();
        let mut ords = searcher.search(&BooleanQuery::new(clauses), &OrdinalCollector)?;
        ords.sort_unstable();
        Ok(ords)
    }

    /// The stored unit with this ordinal.
    pub fn unit(&self, ord: u64) -> Result<Option<index::StoredUnit>, SearchError> {
        Ok(self.index.unit_by_ord(ord)?)
    }

    /// Every stored unit of the response with this id, in ordinal order.
    pub fn response_units(&self, id: &str) -> Result<Vec<index::StoredUnit>, SearchError> {
        Ok(self.index.units_by_id(id)?)
    }

    pub fn search(&self, settings: &SearchSettings) -> Result<SearchResults, SearchError> {
        let parsed = parse(&settings.query)?;
        let mut clauses = vec![(Occur::Must, self.compile(&parsed)?)];
        for t in &settings.themes {
            clauses.push((Occur::Must, self.theme_filter(t)?));
        }
        for (f, v) in &settings.filters {
            clauses.push((Occur::Must, self.field_filter(f, v)?));
        }
        if let Some(q) = &settings.question {
            clauses.push((Occur::Must, self.question_filter(q)?));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.index.reader.searcher();
        let counts_collector = HitCounts {
            units: Arc::clone(&self.units),
        };
        // Equal scores (the same words in texts of one length: a campaign's
        // copies) in ordinal order. By score alone they came in the order of
        // the index's segments, which the writer's threads make differently
        // on every run, so the same search on two runs of one corpus listed,
        // and at the limit chose, different responses.
        let top = TopDocs::with_limit(settings.limit.max(1)).order_by((
            (SortBySimilarityScore, Order::Desc),
            (SortByStaticFastValue::<u64>::for_field("ord"), Order::Asc),
        ));
        let (top_docs, counts) = searcher.search(&query, &(top, counts_collector))?;
        let top_docs = if settings.limit == 0 {
            Vec::new()
        } else {
            top_docs
        };

        let mut matcher = Matcher::default();
        for item in parsed.positive_items() {
            matcher.add(&item, false);
        }
        let header = &self.units.header;
        let mut hits = Vec::with_capacity(top_docs.len());
        for ((score, _), addr) in top_docs {
            let unit: StoredUnit = searcher.doc(addr)?;
            let flags: Vec<String> = self
                .units
                .flags(unit.ord)
                .into_iter()
                .map(|f| header.flags[f].clone())
                .collect();
            let (snippet, highlights) = if settings.redact && !flags.is_empty() {
                (
                    "[restricted: flagged for safeguarding review; use --no-redact to read it]"
                        .to_owned(),
                    Vec::new(),
                )
            } else {
                snippet(&unit.text, &matcher, settings.redact)
            };
            hits.push(Hit {
                id: unit.id,
                question: unit.question,
                ordinal: unit.ord,
                score,
                attributes: unit
                    .attributes
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
                themes: self
                    .units
                    .themes(unit.ord)
                    .into_iter()
                    .map(|t| header.themes[t].clone())
                    .collect(),
                flags,
                snippet,
                highlights,
            });
        }
        let mut by_theme = serde_json::Map::new();
        for (t, id) in header.themes.iter().enumerate() {
            by_theme.insert(id.clone(), counts.themes[t].into());
        }
        let mut by_attribute = serde_json::Map::new();
        for (a, attr) in header.attributes.iter().enumerate() {
            let mut values: Vec<(usize, u64)> = counts.attributes[a]
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, n)| *n > 0)
                .collect();
            values.sort_by(|x, y| {
                y.1.cmp(&x.1)
                    .then_with(|| attr.values[x.0].cmp(&attr.values[y.0]))
            });
            let map: serde_json::Map<String, serde_json::Value> = values
                .into_iter()
                .map(|(v, n)| (attr.values[v].clone(), n.into()))
                .collect();
            by_attribute.insert(attr.name.clone(), map.into());
        }
        Ok(SearchResults {
            summary: Summary {
                query: settings.query.clone(),
                hits: counts.total,
                shown: hits.len(),
                by_theme,
                by_attribute,
            },
            hits,
        })
    }
}

/// Words of context shown around the first match.
const SNIPPET_BEFORE: usize = 12;
const SNIPPET_WORDS: usize = 40;

/// A window of the text around the first match, redacted and made safe for
/// display, with the matches located again in what is shown.
fn snippet(text: &str, matcher: &Matcher, redact_it: bool) -> (String, Vec<(usize, usize)>) {
    let tokeniser = Tokeniser::shared();
    let tokens = tokeniser.tokenise(text);
    let toks = tokens.tokens();
    let first = matcher
        .scan(&tokens)
        .first()
        .map_or(0, |o| o.start as usize);
    let start_tok = first.saturating_sub(SNIPPET_BEFORE);
    let end_tok = (start_tok + SNIPPET_WORDS).min(toks.len());
    let mut shown = if toks.is_empty() {
        text.chars().take(200).collect::<String>()
    } else {
        let a = if start_tok == 0 {
            0
        } else {
            toks[start_tok].byte_start as usize
        };
        let b = if end_tok >= toks.len() {
            text.len()
        } else {
            toks[end_tok - 1].byte_end as usize
        };
        text.get(a..b).unwrap_or_default().to_owned()
    };
    if redact_it {
        shown = redact(&shown);
    }
    let mut shown = display_safe(&shown);
    if start_tok > 0 {
        shown.insert_str(0, "… ");
    }
    if end_tok < toks.len() {
        shown.push_str(" …");
    }
    let again = tokeniser.tokenise(&shown);
    let mut highlights: Vec<(usize, usize)> = matcher
        .scan(&again)
        .iter()
        .map(|o| {
            let t = again.tokens();
            (
                t[o.start as usize].char_start as usize,
                t[o.end as usize].char_end as usize,
            )
        })
        .collect();
    highlights.sort_unstable();
    highlights.dedup();
    (shown, highlights)
}

/// Counts over all hits: per theme and per attribute value.
struct HitCounts {
    units: Arc<Units>,
}

#[derive(Default)]
pub struct Counts {
    total: u64,
    themes: Vec<u64>,
    attributes: Vec<Vec<u64>>,
}

struct HitCountsSegment {
    units: Arc<Units>,
    ords: Column<u64>,
    counts: Counts,
}

impl HitCounts {
    fn empty(&self) -> Counts {
        let h = &self.units.header;
        Counts {
            total: 0,
            themes: vec![0; h.themes.len()],
            attributes: h
                .attributes
                .iter()
                .map(|a| vec![0; a.values.len()])
                .collect(),
        }
    }
}

impl Collector for HitCounts {
    type Fruit = Counts;
    type Child = HitCountsSegment;

    fn for_segment(&self, _: SegmentOrdinal, seg: &SegmentReader) -> tantivy::Result<Self::Child> {
        Ok(HitCountsSegment {
            units: Arc::clone(&self.units),
            ords: seg.fast_fields().u64("ord")?,
            counts: self.empty(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Counts>) -> tantivy::Result<Counts> {
        let mut out = self.empty();
        for f in fruits {
            out.total += f.total;
            for (a, b) in out.themes.iter_mut().zip(f.themes) {
                *a += b;
            }
            for (a, b) in out.attributes.iter_mut().zip(f.attributes) {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for HitCountsSegment {
    type Fruit = Counts;

    fn collect(&mut self, doc: DocId, _: Score) {
        let Some(ord) = self.ords.first(doc) else {
            return;
        };
        self.counts.total += 1;
        self.units
            .count_into(ord, &mut self.counts.themes, &mut self.counts.attributes);
    }

    fn harvest(self) -> Counts {
        self.counts
    }
}

/// Collects the ordinals of all hits.
struct OrdinalCollector;

struct OrdinalSegment {
    ords: Column<u64>,
    found: Vec<u64>,
}

impl Collector for OrdinalCollector {
    type Fruit = Vec<u64>;
    type Child = OrdinalSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        seg: &SegmentReader,
    ) -> tantivy::Result<OrdinalSegment> {
        Ok(OrdinalSegment {
            ords: seg.fast_fields().u64("ord")?,
            found: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<u64>>) -> tantivy::Result<Vec<u64>> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for OrdinalSegment {
    type Fruit = Vec<u64>;

    fn collect(&mut self, doc: DocId, _: Score) {
        if let Some(o) = self.ords.first(doc) {
            self.found.push(o);
        }
    }

    fn harvest(self) -> Vec<u64> {
        self.found
    }
}
