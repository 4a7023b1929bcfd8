//! A search term and a codebook keyword written the same way find the same
//! responses: both go through `parse_item` and the shared tokeniser, and the
//! index holds the same stems and surfaces the classifier matches on. Checked
//! on random corpora built from inflected care vocabulary, for words,
//! phrases, prefix wildcards and `=exact` items.

use proptest::prelude::*;
use tempfile::TempDir;
use thematic::classify::Classifier;
use thematic::search::Searcher;
use thematic::text::Tokeniser;

use crate::util::{codebook, run_ok, write};

const WORDS: &[&str] = &[
    "foster",
    "fostering",
    "fostered",
    "fosters",
    "care",
    "caring",
    "carer",
    "carers",
    "kinship",
    "placement",
    "placements",
    "placed",
    "children's",
    "children",
    "home",
    "homes",
    "social",
    "worker",
    "workers",
    "moved",
    "moving",
    "moves",
    "adopt",
    "adoption",
    "adopted",
    "Ofsted",
    "OFSTED",
    "staying",
    "put",
    "the",
    "and",
    "not",
    "café",
    "naïve",
    "leaver",
    "leavers",
    "leaving",
];
const SEPARATORS: &[&str] = &[" ", " ", " ", ", ", ". ", "! ", " — ", "\n", "’s "];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec((0..WORDS.len(), 0..SEPARATORS.len()), 1..14).prop_map(|parts| {
        let mut s = String::new();
        for (w, sep) in parts {
            s.push_str(WORDS[w]);
            s.push_str(SEPARATORS[sep]);
        }
        s
    })
}

/// An item as written both in a codebook and in a query.
fn item() -> impl Strategy<Value = String> {
    let word = (0..WORDS.len()).prop_map(|w| WORDS[w].to_owned());
    prop_oneof![
        word.clone(),
        (word.clone(), word.clone()).prop_map(|(a, b)| format!("{a} {b}")),
        word.clone()
            .prop_filter("three letters before *", |w| w.chars().count() >= 4)
            .prop_map(|w| format!("{}*", w.chars().take(3).collect::<String>())),
        word.prop_map(|w| format!("={w}")),
    ]
}

fn as_query(item: &str) -> String {
    if item.contains(' ') {
        format!("\"{item}\"")
    } else {
        item.to_owned()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn search_finds_exactly_the_units_where_the_keyword_occurs(
        texts in prop::collection::vec(text(), 1..25),
        item in item(),
    ) {
        let dir = TempDir::new().unwrap();
        let lines: Vec<String> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| serde_json::json!({"id": format!("r{i}"), "text": t}).to_string())
            .collect();
        let input = write(dir.path(), "in.jsonl", lines.join("\n"));
        let out = dir.path().join("out");
        run_ok(&input, &out);

        let toml = format!(
            "name = \"one\"\n[[theme]]\nid = \"t\"\nkeywords = [{}]\n",
            toml::Value::String(item.clone())
        );
        let classifier = Classifier::new(codebook(&toml)).unwrap();
        let tokeniser = Tokeniser::shared();
        let expected: Vec<u64> = texts
            .iter()
            .enumerate()
            .filter(|(_, t)| !classifier.keyword_occurrences(&tokeniser.tokenise(t)).is_empty())
            .map(|(i, _)| i as u64)
            .collect();

        let searcher = Searcher::open(&out).unwrap();
        let found = searcher.matching_ordinals(&as_query(&item)).unwrap();
        prop_assert_eq!(found, expected, "item {:?}", item);
    }
}

#[test]
fn a_corpus_attribute_named_question_is_filterable() {
    // Consultations often carry their own "question" column; it must not be
    // shadowed by the built-in question (the text field) in filters.
    let dir = TempDir::new().unwrap();
    let input = write(
        dir.path(),
        "in.jsonl",
        "{\"id\":\"a\",\"question\":\"how_to_hear\",\"text\":\"Ask Ofsted.\"}\n\
         {\"id\":\"b\",\"question\":\"what_to_read\",\"text\":\"Read Ofsted reports.\"}\n",
    );
    let out = dir.path().join("out");
    run_ok(&input, &out);
    let searcher = Searcher::open(&out).unwrap();
    assert_eq!(
        searcher
            .matching_ordinals("ofsted question:what_to_read")
            .unwrap(),
        [1]
    );
    assert_eq!(
        searcher
            .matching_ordinals("ofsted question:how_to_hear")
            .unwrap(),
        [0]
    );
    // `--question` is always the built-in question, the text field.
    let count = |args: &[&str]| {
        let output = crate::util::thematic()
            .args(["search", "--count", "--out"])
            .arg(&out)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .map(str::to_owned),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, line, _) = count(&["ofsted", "--question", "text"]);
    assert_eq!(code, Some(0));
    assert!(line.unwrap_or_default().starts_with("2 hits"));
    let (code, _, stderr) = count(&["ofsted", "--question", "how_to_hear"]);
    assert_eq!(code, Some(2), "an answer value is not a question");
    assert!(
        stderr.contains("no question `how_to_hear` in this run; questions are: text"),
        "{stderr}"
    );
}

#[test]
fn near_with_a_distance_beyond_32_bits_is_not_near_0() {
    let dir = TempDir::new().unwrap();
    let input = write(
        dir.path(),
        "in.jsonl",
        "{\"id\":\"a\",\"text\":\"foster care\"}\n{\"id\":\"b\",\"text\":\"foster and then care\"}\n",
    );
    let out = dir.path().join("out");
    run_ok(&input, &out);
    let searcher = Searcher::open(&out).unwrap();
    for distance in [3u64, 4_294_967_296, 4_294_967_297, u64::from(u32::MAX)] {
        let query = format!("NEAR/{distance}(foster care)");
        assert_eq!(
            searcher.matching_ordinals(&query).unwrap(),
            [0, 1],
            "{query}"
        );
    }
}
