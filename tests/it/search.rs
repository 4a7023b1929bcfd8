//! `thematic search` from the command line: each operator of the query
//! language, filters, snippets with highlights, counts over all hits, and
//! errors with their column.

use std::path::{Path, PathBuf};

use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

use crate::util::{run_ok, thematic, write};

const CORPUS: &[(&str, &str, &str)] = &[
    (
        "a",
        "parent",
        "Kinship care saved my family when nobody else would.",
    ),
    (
        "b",
        "foster_carer",
        "Care for kinship carers is poor and nobody asks them.",
    ),
    (
        "c",
        "social_worker",
        "The social worker left and another social worker came.",
    ),
    (
        "d",
        "social_worker",
        "A social care worker is not a social worker.",
    ),
    (
        "e",
        "care_experienced",
        "My placement broke down and I moved placements again.",
    ),
    (
        "f",
        "care_experienced",
        "Ofsted never asked me about my placement.",
    ),
    (
        "g",
        "parent",
        "Ofsted inspected the council and rated it inadequate.",
    ),
];

fn corpus(dir: &Path) -> PathBuf {
    let lines: Vec<String> = CORPUS
        .iter()
        .map(|(id, kind, text)| {
            serde_json::json!({"id": id, "respondent_type": kind, "text": text}).to_string()
        })
        .collect();
    let input = write(dir, "in.jsonl", lines.join("\n"));
    let out = dir.join("out");
    run_ok(&input, &out);
    out
}

/// The hits, in order, and the summary line of `search --json`.
fn hits(out: &Path, args: &[&str]) -> (Vec<Value>, Value) {
    let stdout = thematic()
        .arg("search")
        .arg("--out")
        .arg(out)
        .args(args)
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let mut lines: Vec<Value> = String::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.pop().expect("a summary line");
    (lines, summary["summary"].clone())
}

/// The ids of the hits, sorted, and the summary line of `search --json`.
fn search(out: &Path, args: &[&str]) -> (Vec<String>, Value) {
    let (hits, summary) = hits(out, args);
    let mut ids: Vec<String> = hits
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    (ids, summary)
}

#[test]
fn operators_find_exactly_what_they_say() {
    let dir = TempDir::new().unwrap();
    let out = corpus(dir.path());
    let ids = |args: &[&str]| search(&out, args).0;
    // A phrase needs its words adjacent and in order.
    assert_eq!(ids(&["\"kinship care\""]), ["a"]);
    assert_eq!(ids(&["\"social worker\""]), ["c", "d"]);
    // Plain words are ANDed, in any order and distance.
    assert_eq!(ids(&["kinship care"]), ["a", "b"]);
    // NEAR/n: within n positions, either order.
    assert_eq!(ids(&["NEAR/1(care kinship)"]), ["a"]);
    assert_eq!(ids(&["NEAR/3(care kinship)"]), ["a", "b"]);
    // Prefix on the surface form.
    assert_eq!(ids(&["placement*"]), ["e", "f"]);
    // NOT and -word.
    assert_eq!(ids(&["ofsted NOT placement"]), ["g"]);
    assert_eq!(ids(&["ofsted -inadequate"]), ["f"]);
    assert_eq!(ids(&["ofsted OR kinship"]), ["a", "b", "f", "g"]);
}

#[test]
fn a_phrase_search_stops_at_a_full_stop_as_a_codebook_phrase_does() {
    let dir = TempDir::new().unwrap();
    let lines = [
        r#"{"id":"across","text":"It was hard leaving. Care staff were kind."}"#,
        r#"{"id":"within","text":"Leaving care at 18 was hard."}"#,
        r#"{"id":"wrapped","text":"Then I was leaving\ncare at last."}"#,
        r#"{"id":"abbreviated","text":"We live in St. Helens now."}"#,
        r#"{"id":"plain","text":"We live in St Helens now."}"#,
    ];
    let input = write(dir.path(), "in.jsonl", lines.join("\n"));
    let out = dir.path().join("out");
    run_ok(&input, &out);
    assert_eq!(search(&out, &["\"leaving care\""]).0, ["within", "wrapped"]);
    // Both words, anywhere: all three.
    assert_eq!(
        search(&out, &["leaving care"]).0,
        ["across", "within", "wrapped"]
    );
    // A full stop counts as one word of distance.
    assert_eq!(
        search(&out, &["NEAR/1(leaving care)"]).0,
        ["within", "wrapped"]
    );
    assert_eq!(
        search(&out, &["NEAR/2(leaving care)"]).0,
        ["across", "within", "wrapped"]
    );
    // A phrase with a stop of its own finds it written either way.
    assert_eq!(
        search(&out, &["\"St. Helens\""]).0,
        ["abbreviated", "plain"]
    );
    assert_eq!(search(&out, &["\"St Helens\""]).0, ["plain"]);
}

#[test]
fn a_query_typed_with_decomposed_accents_finds_the_word_however_it_was_written() {
    let dir = TempDir::new().unwrap();
    let lines = [
        r#"{"id":"composed","text":"Caf\u00e9 owners"}"#,
        r#"{"id":"decomposed","text":"Cafe\u0301 owners"}"#,
    ];
    let input = write(dir.path(), "in.jsonl", lines.join("\n"));
    let out = dir.path().join("out");
    run_ok(&input, &out);
    assert_eq!(search(&out, &["cafe\u{301}"]).0, ["composed", "decomposed"]);
    assert_eq!(search(&out, &["caf\u{e9}"]).0, ["composed", "decomposed"]);
}

#[test]
fn filters_narrow_hits_and_counts_cover_all_hits() {
    let dir = TempDir::new().unwrap();
    let out = corpus(dir.path());
    let (ids, _) = search(&out, &["ofsted", "--where", "respondent_type=parent"]);
    assert_eq!(ids, ["g"]);
    let (ids, _) = search(&out, &["ofsted respondent_type:care_experienced"]);
    assert_eq!(ids, ["f"]);
    let (ids, _) = search(&out, &["placement*", "--theme", "care"]);
    assert_eq!(ids, ["e", "f"]);
    let (ids, _) = search(&out, &["theme:care ofsted"]);
    assert_eq!(ids, ["f"]);
    // --limit shows fewer, the counts still cover every hit.
    let (ids, summary) = search(&out, &["\"social worker\"", "--limit", "1"]);
    assert_eq!(ids.len(), 1);
    assert_eq!(summary["hits"], 2);
    assert_eq!(
        summary["by_attribute"]["respondent_type"]["social_worker"],
        2
    );
}

#[test]
fn snippets_highlight_the_match() {
    let dir = TempDir::new().unwrap();
    let out = corpus(dir.path());
    thematic()
        .args(["search", "--out"])
        .arg(&out)
        .arg("\"kinship care\"")
        .assert()
        .success()
        .stdout(predicate::str::contains("**Kinship care** saved my family"));
}

#[test]
fn a_malformed_query_exits_2_with_its_column() {
    let dir = TempDir::new().unwrap();
    let out = corpus(dir.path());
    thematic()
        .args(["search", "--out"])
        .arg(&out)
        .arg("kinship AND (")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("column 14"));
    thematic()
        .args(["search", "--out"])
        .arg(&out)
        .arg("\"kinship care")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("column 1"));
    thematic()
        .args(["search", "--out"])
        .arg(&out)
        .args(["ofsted", "--where", "nosuchfield=x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("respondent_type"));
}

/// Texts alike score alike (a campaign's copies), and the writer's threads
/// split the index into segments differently on every run: equal scores
/// must still come, and be cut at the limit, in ordinal order, so one
/// search of one corpus gives the same hits on every run.
#[test]
fn equal_scores_come_in_ordinal_order_whatever_the_threads() {
    let dir = TempDir::new().unwrap();
    let lines: Vec<String> = (0..4000)
        .map(|i| {
            let text = if i % 2 == 0 {
                "Ofsted should listen to children in care."
            } else {
                "Kinship carers need money and respite."
            };
            serde_json::json!({"id": format!("r{i}"), "text": text}).to_string()
        })
        .collect();
    let input = write(dir.path(), "in.jsonl", lines.join("\n"));
    // With more than one thread the segments' order is random: a search
    // ordered by score alone fails here in most runs (at 2, 3 and 4
    // threads together, 23 runs in 24).
    for threads in ["1", "2", "3", "4"] {
        let out = dir.path().join(format!("out-{threads}"));
        thematic()
            .arg("run")
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .args(["--threads", threads, "--quiet"])
            .assert()
            .success();
        let ordinals: Vec<u64> = hits(&out, &["ofsted", "--limit", "5"])
            .0
            .iter()
            .map(|h| h["ordinal"].as_u64().unwrap())
            .collect();
        assert_eq!(ordinals, [0, 2, 4, 6, 8], "--threads {threads}");
    }
}
