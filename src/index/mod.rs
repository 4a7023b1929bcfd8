//! The tantivy index in `OUT/index`: one document per response×question.
//!
//! | field      | what                                                         |
//! |------------|--------------------------------------------------------------|
//! | `ord`      | the unit's ordinal: its line in codes.jsonl (u64, fast)       |
//! | `id`       | response id (raw string)                                     |
//! | `question` | question name (raw string, fast)                             |
//! | `text`     | the response text (stored only)                              |
//! | `body`     | the text's terms, with positions (indexed, not stored)       |
//! | `attrs`    | attributes as a JSON object (raw strings, stored)            |
//! | `theme`    | theme facets `/theme/ID` as coded at `run` time              |
//!
//! `body` receives the terms of the tokens the classifier already used, as a
//! term wire string split by the `thematic-terms` tokenizer, so each answer
//! is tokenised once (see `text::tantivy_bridge`).

mod pread;

use std::collections::BTreeMap;
use std::path::Path;

use tantivy::directory::MmapDirectory;
use tantivy::schema::document::{
    ArrayAccess, DeserializeError, DocumentDeserialize, DocumentDeserializer, ObjectAccess,
    ValueDeserialize, ValueDeserializer, ValueVisitor,
};
use tantivy::schema::{
    FAST, Facet, Field, INDEXED, IndexRecordOption, JsonObjectOptions, OwnedValue, STORED, STRING,
    Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument};

use crate::text::{
    TANTIVY_TOKENIZER_NAME, TERM_WIRE_TOKENIZER_NAME, TermWireTokenizer, ThematicTokenizer,
};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index at {path}: {source}")]
    Tantivy {
        path: String,
        source: tantivy::TantivyError,
    },
    #[error(
        "{path}: no thematic index here; run `thematic run INPUT --out DIR` first, then point --out at DIR"
    )]
    Missing { path: String },
    #[error("{path}: cannot prepare the index directory: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The schema's fields.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub ord: Field,
    pub id: Field,
    pub question: Field,
    pub text: Field,
    pub body: Field,
    pub attrs: Field,
    pub theme: Field,
}

pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let ord = b.add_u64_field("ord", INDEXED | STORED | FAST);
    let id = b.add_text_field("id", STRING | STORED);
    let question = b.add_text_field("question", STRING | STORED | FAST);
    let text = b.add_text_field("text", STORED);
    let body_options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TERM_WIRE_TOKENIZER_NAME)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let body = b.add_text_field("body", body_options);
    let attrs = b.add_json_field(
        "attrs",
        JsonObjectOptions::default()
            .set_stored()
            .set_indexing_options(TextFieldIndexing::default().set_tokenizer("raw")),
    );
    let theme = b.add_facet_field("theme", INDEXED | STORED);
    (
        b.build(),
        Fields {
            ord,
            id,
            question,
            text,
            body,
            attrs,
            theme,
        },
    )
}

fn register(index: &Index) {
    let tokenizers = index.tokenizers();
    tokenizers.register(TANTIVY_TOKENIZER_NAME, ThematicTokenizer);
    tokenizers.register(TERM_WIRE_TOKENIZER_NAME, TermWireTokenizer);
}

/// One unit to index.
pub struct UnitDoc<'a> {
    pub ord: u64,
    pub id: &'a str,
    pub question: &'a str,
    pub text: &'a str,
    /// `encode_terms(tokens)` of the text, computed by the caller.
    pub terms: &'a str,
    pub attributes: &'a [(String, String)],
    pub themes: &'a [&'a str],
}

/// Writes a new index. Documents go to tantivy's indexing threads as they are
/// added; memory is bounded by the writer budget.
pub struct IndexBuilder {
    writer: IndexWriter,
    fields: Fields,
    path: String,
}

impl IndexBuilder {
    /// Create an empty index in `dir` (which must exist and be empty).
    pub fn create(dir: &Path, threads: usize, budget_bytes: usize) -> Result<Self, IndexError> {
        let path = dir.display().to_string();
        let tantivy_err = |source| IndexError::Tantivy {
            path: path.clone(),
            source,
        };
        let (schema, fields) = schema();
        let index = Index::create_in_dir(dir, schema).map_err(tantivy_err)?;
        register(&index);
        let threads = threads.max(1);
        // tantivy requires at least 15 MB per indexing thread.
        let budget = budget_bytes.max(threads * 20_000_000);
        let writer: IndexWriter = index
            .writer_with_num_threads(threads, budget)
            .map_err(tantivy_err)?;
        // A batch run commits once; merging its segments afterwards re-reads
        // and re-writes the whole index (a third of the wall time at 1,000,000
        // responses, and most of the peak RSS through the mmapped segments)
        // for no gain a search of this size can measure. See BENCHMARKS.md.
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        Ok(IndexBuilder {
            writer,
            fields,
            path,
        })
    }

    pub fn add(&self, unit: &UnitDoc<'_>) -> Result<(), IndexError> {
        let f = &self.fields;
        let mut doc = TantivyDocument::new();
        doc.add_u64(f.ord, unit.ord);
        doc.add_text(f.id, unit.id);
        doc.add_text(f.question, unit.question);
        doc.add_text(f.text, unit.text);
        doc.add_text(f.body, unit.terms);
        let attrs: BTreeMap<String, OwnedValue> = unit
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), OwnedValue::Str(v.clone())))
            .collect();
        doc.add_object(f.attrs, attrs);
        for theme in unit.themes {
            doc.add_facet(f.theme, Facet::from_path(["theme", theme]));
        }
        self.writer
            .add_document(doc)
            .map(|_| ())
            .map_err(|source| IndexError::Tantivy {
                path: self.path.clone(),
                source,
            })
    }

    /// Commit and wait for merges, so the directory is complete when this returns.
    pub fn finish(mut self) -> Result<(), IndexError> {
        let path = self.path.clone();
        let err = |source| IndexError::Tantivy {
            path: path.clone(),
            source,
        };
        self.writer.commit().map_err(err)?;
        self.writer.wait_merging_threads().map_err(err)
    }
}

/// An existing index, opened for reading.
pub struct OpenIndex {
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
}

/// Open the index for searching: files are mapped, which suits the random
/// access of term dictionaries and postings.
pub fn open(dir: &Path) -> Result<OpenIndex, IndexError> {
    let directory = MmapDirectory::open(dir).map_err(|e| IndexError::Tantivy {
        path: dir.display().to_string(),
        source: e.into(),
    })?;
    open_in(dir, Box::new(directory))
}

/// Open the index for passes over its stored texts (`code`, `report`, the
/// end of `run`): files are read with positional reads, so the store's pages
/// never join the resident set (see [`pread`]).
pub fn open_for_reading_through(dir: &Path) -> Result<OpenIndex, IndexError> {
    open_in(dir, Box::new(pread::PreadDirectory::open(dir)))
}

fn open_in(
    dir: &Path,
    directory: Box<dyn tantivy::directory::Directory>,
) -> Result<OpenIndex, IndexError> {
    let path = dir.display().to_string();
    if !dir.join("meta.json").is_file() {
        return Err(IndexError::Missing { path });
    }
    let tantivy_err = |source| IndexError::Tantivy {
        path: path.clone(),
        source,
    };
    let mut index = Index::open(directory).map_err(tantivy_err)?;
    register(&index);
    // A batch run leaves several segments (no merging, see
    // IndexBuilder::create); search them on every core.
    index
        .set_default_multithread_executor()
        .map_err(tantivy_err)?;
    let (_, fields) = schema();
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(tantivy_err)?;
    Ok(OpenIndex {
        index,
        reader,
        fields,
    })
}

/// A unit as stored in the index.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StoredUnit {
    pub ord: u64,
    pub id: String,
    pub question: String,
    pub text: String,
    pub attributes: Vec<(String, String)>,
}

/// The fields of [`schema`], which every index of this version was built with.
fn schema_fields() -> Fields {
    static FIELDS: std::sync::OnceLock<Fields> = std::sync::OnceLock::new();
    *FIELDS.get_or_init(|| schema().1)
}

/// A stored document is decoded straight into a [`StoredUnit`]: building a
/// `TantivyDocument` first and copying its strings out cost `code` a tenth
/// of its time. The first value of each field counts, as `get_first` would;
/// values of other types (the theme facets, a non-string attribute) are read
/// past and dropped.
impl DocumentDeserialize for StoredUnit {
    fn deserialize<'de, D>(mut fields_in: D) -> Result<Self, DeserializeError>
    where
        D: DocumentDeserializer<'de>,
    {
        let f = schema_fields();
        let (mut ord, mut id, mut question, mut text, mut attributes) =
            (None, None, None, None, None);
        while let Some((field, value)) = fields_in.next_field::<StoredValue>()? {
            let slot_for_string = if field == f.id {
                &mut id
            } else if field == f.question {
                &mut question
            } else if field == f.text {
                &mut text
            } else {
                match value {
                    StoredValue::U64(n) if field == f.ord => {
                        ord.get_or_insert(n);
                    }
                    StoredValue::Object(entries) if field == f.attrs => {
                        attributes.get_or_insert(entries);
                    }
                    _ => {}
                }
                continue;
            };
            if let StoredValue::String(s) = value {
                slot_for_string.get_or_insert(s);
            }
        }
        Ok(StoredUnit {
            ord: ord.unwrap_or_default(),
            id: id.unwrap_or_default(),
            question: question.unwrap_or_default(),
            text: text.unwrap_or_default(),
            attributes: attributes.unwrap_or_default(),
        })
    }
}

/// The stored values [`StoredUnit`] keeps; everything else is `Other`.
enum StoredValue {
    String(String),
    U64(u64),
    /// An object's string entries, in stored order.
    Object(Vec<(String, String)>),
    Other,
}

impl ValueDeserialize for StoredValue {
    fn deserialize<'de, D>(value: D) -> Result<Self, DeserializeError>
    where
        D: ValueDeserializer<'de>,
    {
        value.deserialize_any(StoredValueVisitor)
    }
}

struct StoredValueVisitor;

impl ValueVisitor for StoredValueVisitor {
    type Value = StoredValue;

    fn visit_null(&self) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::Other)
    }
    fn visit_string(&self, s: String) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::String(s))
    }
    fn visit_u64(&self, n: u64) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::U64(n))
    }
    fn visit_i64(&self, _: i64) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::Other)
    }
    fn visit_f64(&self, _: f64) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::Other)
    }
    fn visit_bool(&self, _: bool) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::Other)
    }
    fn visit_datetime(&self, _: tantivy::DateTime) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::Other)
    }
    fn visit_ip_address(&self, _: std::net::Ipv6Addr) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::Other)
    }
    fn visit_facet(&self, _: Facet) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::Other)
    }
    fn visit_bytes(&self, _: Vec<u8>) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::Other)
    }
    fn visit_pre_tokenized_string(
        &self,
        _: tantivy::tokenizer::PreTokenizedString,
    ) -> Result<StoredValue, DeserializeError> {
        Ok(StoredValue::Other)
    }
    // Arrays and objects are read to their end so the next value starts
    // where the deserializer expects it.
    fn visit_array<'de, A>(&self, mut elements: A) -> Result<StoredValue, DeserializeError>
    where
        A: ArrayAccess<'de>,
    {
        while elements.next_element::<StoredValue>()?.is_some() {}
        Ok(StoredValue::Other)
    }
    fn visit_object<'de, A>(&self, mut entries: A) -> Result<StoredValue, DeserializeError>
    where
        A: ObjectAccess<'de>,
    {
        let mut strings = Vec::with_capacity(entries.size_hint());
        while let Some((key, value)) = entries.next_entry::<StoredValue>()? {
            if let StoredValue::String(s) = value {
                strings.push((key, s));
            }
        }
        Ok(StoredValue::Object(strings))
    }
}

impl OpenIndex {
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The stored text of the unit with this ordinal.
    pub fn text_by_ord(&self, ord: u64) -> Option<String> {
        self.unit_by_ord(ord).ok().flatten().map(|u| u.text)
    }

    /// The stored documents matching one term, the first `limit` by
    /// ordinal, in ordinal order.
    fn units_with_term(
        &self,
        term: tantivy::Term,
        limit: usize,
    ) -> Result<Vec<StoredUnit>, IndexError> {
        use tantivy::collector::TopDocs;
        use tantivy::query::TermQuery;
        if limit == 0 {
            return Ok(Vec::new()); // tantivy's top-k refuses a limit of 0
        }
        let searcher = self.reader.searcher();
        let query = TermQuery::new(term, IndexRecordOption::Basic);
        // By score, one more than asked for: all equal, and cheap. Only when
        // more match than `limit` do they go by ordinal instead, which
        // opens the ordinal column of every segment (0.5 s of campaign
        // representatives' look-ups at 1M): by score alone the cut would
        // follow the segments, which the writer's threads make differently
        // on every run.
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit + 1).order_by_score())
            .map_err(tantivy_error)?;
        let addresses: Vec<_> = if top.len() <= limit {
            top.into_iter().map(|(_, addr)| addr).collect()
        } else {
            let first = TopDocs::with_limit(limit).order_by_u64_field("ord", tantivy::Order::Asc);
            let top = searcher.search(&query, &first).map_err(tantivy_error)?;
            top.into_iter().map(|(_, addr)| addr).collect()
        };
        let mut units = Vec::with_capacity(addresses.len());
        for addr in addresses {
            units.push(searcher.doc::<StoredUnit>(addr).map_err(tantivy_error)?);
        }
        units.sort_unstable_by_key(|u| u.ord);
        Ok(units)
    }

    /// The stored unit with this ordinal.
    pub fn unit_by_ord(&self, ord: u64) -> Result<Option<StoredUnit>, IndexError> {
        let term = tantivy::Term::from_field_u64(self.fields.ord, ord);
        Ok(self.units_with_term(term, 1)?.into_iter().next())
    }

    /// Every unit (one per question) of the response with this id.
    pub fn units_by_id(&self, id: &str) -> Result<Vec<StoredUnit>, IndexError> {
        // A response has one unit per question; ids are unique per response,
        // but a corpus may repeat an id (campaign submissions), so be generous.
        const MAX_UNITS: usize = 10_000;
        let term = tantivy::Term::from_field_text(self.fields.id, id);
        self.units_with_term(term, MAX_UNITS)
    }

    /// Every stored unit, in ordinal order, all at once (exports; `code`
    /// streams them with [`OpenIndex::units_in_order`]).
    pub fn all_units(&self) -> Result<Vec<StoredUnit>, IndexError> {
        let mut units = Vec::new();
        for chunk in self.units_in_order()? {
            units.extend(chunk?);
        }
        Ok(units)
    }

    /// Every stored unit in ordinal order, [`UNIT_CHUNK`] at a time, so only
    /// one chunk of texts is held. The order comes from the `ord` fast field
    /// (the indexing threads spread units over segments); each chunk is
    /// decoded on every core, a part per task with its own store readers.
    pub fn units_in_order(&self) -> Result<OrderedUnits, IndexError> {
        let searcher = self.reader.searcher();
        let mut order: Vec<(u64, u32, u32)> = Vec::with_capacity(searcher.num_docs() as usize);
        for (s, segment) in searcher.segment_readers().iter().enumerate() {
            let ords = segment.fast_fields().u64("ord").map_err(tantivy_error)?;
            let alive = segment.alive_bitset();
            for doc in 0..segment.max_doc() {
                if alive.is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                if let Some(ord) = ords.first(doc) {
                    order.push((ord, s as u32, doc));
                }
            }
        }
        order.sort_unstable();
        Ok(OrderedUnits {
            searcher,
            order: order.into_iter().map(|(_, s, d)| (s, d)).collect(),
            next: 0,
        })
    }
}

/// Units decoded per step of [`OrderedUnits`].
pub const UNIT_CHUNK: usize = 8192;

fn tantivy_error(source: tantivy::TantivyError) -> IndexError {
    IndexError::Tantivy {
        path: "index".to_owned(),
        source,
    }
}

/// The stream of [`OpenIndex::units_in_order`]: chunks of stored units.
pub struct OrderedUnits {
    searcher: tantivy::Searcher,
    /// (segment, document) of every unit, by ordinal.
    order: Vec<(u32, u32)>,
    next: usize,
}

impl OrderedUnits {
    /// Number of units the stream yields in all.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl Iterator for OrderedUnits {
    type Item = Result<Vec<StoredUnit>, IndexError>;

    fn next(&mut self) -> Option<Self::Item> {
        use rayon::prelude::*;
        // Documents in a part are mostly consecutive in one segment, so a
        // store reader's block cache decompresses each block once.
        const PART: usize = 512;
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + UNIT_CHUNK).min(self.order.len());
        let chunk = &self.order[self.next..end];
        self.next = end;
        let segments = self.searcher.segment_readers();
        let parts: Result<Vec<Vec<StoredUnit>>, IndexError> = chunk
            .par_chunks(PART)
            .map(|part| {
                let mut stores: Vec<Option<tantivy::store::StoreReader>> =
                    (0..segments.len()).map(|_| None).collect();
                let mut out = Vec::with_capacity(part.len());
                for &(s, doc) in part {
                    let store = match &mut stores[s as usize] {
                        Some(store) => store,
                        empty => empty.insert(
                            segments[s as usize]
                                .get_store_reader(4)
                                .map_err(|e| tantivy_error(e.into()))?,
                        ),
                    };
                    out.push(store.get::<StoredUnit>(doc).map_err(tantivy_error)?);
                }
                Ok(out)
            })
            .collect();
        Some(parts.map(|parts| parts.into_iter().flatten().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{Tokeniser, encode_terms};

    /// Units sharing an id, added in descending ordinal order so the
    /// index's document order is the reverse of theirs: a look-up cut at
    /// its limit keeps the first by ordinal, not the first by document.
    #[test]
    fn a_look_up_cut_at_its_limit_keeps_the_first_units_by_ordinal() {
        let dir = tempfile::tempdir().unwrap();
        let builder = IndexBuilder::create(dir.path(), 1, 50_000_000).unwrap();
        let text = "Kinship carers need support.";
        let terms = encode_terms(&Tokeniser::shared().tokenise(text));
        for ord in (0..10).rev() {
            let unit = UnitDoc {
                ord,
                id: "same",
                question: "text",
                text,
                terms: &terms,
                attributes: &[],
                themes: &[],
            };
            builder.add(&unit).unwrap();
        }
        builder.finish().unwrap();
        let index = open(dir.path()).unwrap();
        let ords = |limit: usize| {
            let term = tantivy::Term::from_field_text(index.fields.id, "same");
            let units = index.units_with_term(term, limit).unwrap();
            units.iter().map(|u| u.ord).collect::<Vec<u64>>()
        };
        assert_eq!(ords(3), [0, 1, 2]);
        assert_eq!(ords(10), (0..10).collect::<Vec<u64>>());
        assert_eq!(ords(20), (0..10).collect::<Vec<u64>>());
    }
}
