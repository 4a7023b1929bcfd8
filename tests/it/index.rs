//! The tantivy index: the same tokens as the classifier, phrases findable.

use tantivy::collector::{Count, TopDocs};
use tantivy::query::PhraseQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{TantivyDocument, Term};
use tempfile::TempDir;
use thematic::index::StoredUnit;
use thematic::text::Tokeniser;

use crate::util::{gold_dev, thematic};

fn phrase_terms(field: tantivy::schema::Field, phrase: &str) -> Vec<Term> {
    let toks = Tokeniser::shared().tokenise(phrase);
    (0..toks.len())
        .map(|i| Term::from_field_text(field, toks.stem(i)))
        .collect()
}

#[test]
fn a_phrase_from_dev_is_found_in_the_index() {
    let Some(gold) = gold_dev() else { return };
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&gold)
        .assert()
        .success();
    let opened = thematic::index::open(&out.join("index")).expect("open index");
    assert_eq!(opened.num_docs(), 400);
    let searcher = opened.reader.searcher();
    let query = PhraseQuery::new(phrase_terms(opened.fields.body, "social workers"));
    let hits = searcher.search(&query, &Count).unwrap();
    let expected = std::fs::read_to_string(&gold)
        .unwrap()
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let toks = Tokeniser::shared().tokenise(v["text"].as_str().unwrap());
            (1..toks.len()).any(|i| toks.stem(i - 1) == "social" && toks.stem(i) == "worker")
        })
        .count();
    assert!(expected > 0);
    assert_eq!(hits, expected, "index and tokeniser agree on the phrase");
    // Stored fields come back: id, text and attributes.
    let top = searcher
        .search(&query, &TopDocs::with_limit(1).order_by_score())
        .unwrap();
    let unit: StoredUnit = searcher.doc(top[0].1).unwrap();
    assert!(unit.text.to_lowercase().contains("social worker"));
    assert!(unit.attributes.iter().any(|(k, _)| k == "respondent_type"));
    // Decoded straight from the store, it agrees with tantivy's own document.
    let doc: TantivyDocument = searcher.doc(top[0].1).unwrap();
    let f = opened.fields;
    let str_of = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap();
    assert_eq!(unit.id, str_of(f.id));
    assert_eq!(unit.question, str_of(f.question));
    assert_eq!(unit.text, str_of(f.text));
    assert_eq!(
        Some(unit.ord),
        doc.get_first(f.ord).and_then(|v| v.as_u64())
    );
    let attrs: Vec<(String, String)> = doc
        .get_first(f.attrs)
        .and_then(|v| v.as_object())
        .unwrap()
        .map(|(k, v)| (k.to_owned(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(unit.attributes, attrs);
    // The theme facets stored between them were read past, not mistaken.
    assert!(doc.get_first(f.theme).is_some());
    let exact = Term::from_field_text(opened.fields.body, "=workers");
    let exact_hits = searcher
        .search(
            &tantivy::query::TermQuery::new(exact, IndexRecordOption::Basic),
            &Count,
        )
        .unwrap();
    assert!(exact_hits > 0 && exact_hits <= searcher.num_docs() as usize);
}

/// `code`, `report` and the end of `run` read the store through positional
/// reads instead of a mapping; both ways must give the same units.
#[test]
fn reading_through_gives_the_units_the_mapped_index_gives() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .assert()
        .success();
    let mapped = thematic::index::open(&out.join("index")).unwrap();
    let read = thematic::index::open_for_reading_through(&out.join("index")).unwrap();
    let units = mapped.all_units().unwrap();
    assert!(units.len() > 100, "the bundled sample has its responses");
    assert_eq!(read.all_units().unwrap(), units);
    for ord in [0, units.len() as u64 / 2, units.len() as u64 - 1] {
        let text = read.text_by_ord(ord);
        assert!(text.as_deref().is_some_and(|t| !t.is_empty()));
        assert_eq!(text, mapped.text_by_ord(ord));
    }
    assert_eq!(read.text_by_ord(units.len() as u64), None);
    // A missing index is the same clear error either way.
    assert!(matches!(
        thematic::index::open_for_reading_through(&dir.path().join("nowhere")),
        Err(thematic::index::IndexError::Missing { .. })
    ));
}
