//! Codebook parsing and validation: every problem named with line and column.

use proptest::prelude::*;
use thematic::codebook::{Codebook, CodebookError, WordPattern};

use crate::util::{CARE_REVIEW_THEMES, thematic, write};

fn problems(toml: &str) -> String {
    match Codebook::from_toml(toml, "cb.toml") {
        Ok(_) => panic!("expected problems in:\n{toml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn items_parse_into_word_patterns() {
    let cb = crate::util::codebook(
        "name = \"x\"\n[[theme]]\nid = \"a\"\nkeywords = [\"Fostering\", \"care leaver*\", \"=Home\", \"children's homes\"]\n",
    );
    let words: Vec<&Vec<WordPattern>> = cb.themes[0]
        .keywords
        .iter()
        .map(|k| &k.item.words)
        .collect();
    assert_eq!(words[0], &vec![WordPattern::Stem("foster".into())]);
    assert_eq!(
        words[1],
        &vec![
            WordPattern::Stem("care".into()),
            WordPattern::Prefix("leaver".into())
        ]
    );
    assert_eq!(words[2], &vec![WordPattern::Exact("home".into())]);
    assert_eq!(words[3].len(), 2);
}

#[test]
fn unknown_keys_name_line_and_column() {
    let msg = problems("name = \"x\"\n[[theme]]\nid = \"a\"\nkewords = [\"x\"]\n");
    assert!(msg.contains("cb.toml:4:1"), "{msg}");
    assert!(msg.contains("unknown field `kewords`"), "{msg}");
    assert!(msg.contains("hint:"), "{msg}");
}

#[test]
fn duplicate_ids_empty_themes_short_wildcards_and_bad_regex() {
    let toml = "name = \"x\"\n\
        [[theme]]\nid = \"a\"\nkeywords = [\"ab*\"]\n\
        [[theme]]\nid = \"a\"\nkeywords = [\"fine\"]\n\
        [[theme]]\nid = \"empty\"\n\
        [[theme]]\nid = \"r\"\n  [[theme.rule]]\n  id = \"bad\"\n  regex = '[z-a]'\n";
    let msg = problems(toml);
    assert!(msg.contains("has 4 problems"), "{msg}");
    assert!(
        msg.contains("cb.toml:4:13: theme `a`: `ab*`: a wildcard needs at least three letters"),
        "{msg}"
    );
    assert!(
        msg.contains("cb.toml:6:6: duplicate id `a` (first used on line 3)"),
        "{msg}"
    );
    assert!(msg.contains("theme `empty` is empty"), "{msg}");
    assert!(
        msg.contains("cb.toml:14:11: theme `r`, rule `bad`: invalid regex"),
        "{msg}"
    );
}

#[test]
fn no_themes_is_an_error() {
    assert!(problems("name = \"x\"\n").contains("the codebook has no themes"));
}

#[test]
fn invalid_toml_and_non_utf8_files() {
    let msg = problems("name = \"x\n");
    assert!(msg.contains("cb.toml:1:"), "{msg}");
    let dir = tempfile::TempDir::new().unwrap();
    let path = write(dir.path(), "bad.toml", b"name = \"x\"\n\xff\xfe\n");
    match Codebook::from_path(&path) {
        Err(CodebookError::NotUtf8 { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected NotUtf8, got {other:?}"),
    }
    thematic()
        .args(["codebook", "check"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not UTF-8"));
}

#[test]
fn default_codebook_checks_clean() {
    let out = thematic()
        .args([
            "codebook",
            "check",
            "corpora/care-review/codebook.toml",
            "--corpus",
            "corpora/care-review/responses.jsonl",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("valid"));
    assert!(out.contains("keywords that never matched"));
    let cb = Codebook::default_care_review().expect("default codebook is valid");
    let ids: Vec<&str> = cb.themes.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, CARE_REVIEW_THEMES);
    assert!(cb.flags.iter().any(|f| f.id == "safeguarding"));
}

#[test]
fn large_keyword_lists_are_accepted() {
    let mut toml = String::from("name = \"big\"\n[[theme]]\nid = \"big\"\nkeywords = [\n");
    let mut n = 0;
    while toml.len() < 1_000_000 {
        toml.push_str(&format!("  \"term{n} phrase{n}\",\n"));
        n += 1;
    }
    toml.push_str("]\n");
    let start = std::time::Instant::now();
    let cb = crate::util::codebook(&toml);
    assert_eq!(cb.themes[0].keywords.len(), n);
    // Generous bound: a 1 MB list is read in well under a second in release.
    assert!(start.elapsed().as_secs() < 20);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary text never panics the codebook parser.
    #[test]
    fn parser_never_panics(text in "\\PC{0,200}") {
        let _ = Codebook::from_toml(&text, "fuzz.toml");
    }

    /// Structured but random codebooks either parse or report located problems.
    #[test]
    fn random_codebooks_parse_or_explain(
        ids in proptest::collection::vec("[a-z_]{0,6}", 1..4),
        items in proptest::collection::vec("[a-z*= ']{0,10}", 0..6),
        regex in "[a-z()\\[\\]*+?\\\\]{0,8}",
    ) {
        let mut toml = String::from("name = \"p\"\n");
        for id in &ids {
            toml.push_str(&format!("[[theme]]\nid = \"{id}\"\nkeywords = {items:?}\n"));
            toml.push_str(&format!("  [[theme.rule]]\n  id = \"r\"\n  regex = '''{regex}'''\n"));
        }
        match Codebook::from_toml(&toml, "p.toml") {
            Ok(cb) => prop_assert_eq!(cb.themes.len(), ids.len()),
            Err(CodebookError::Invalid { problems, .. }) => {
                prop_assert!(!problems.is_empty());
                for p in problems {
                    prop_assert!(p.line >= 1 && p.column >= 1);
                }
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}
