//! The default codebook measured against the hand-coded gold set: the figures
//! the README and BENCHMARKS.md quote must keep holding as the codebook changes.

use serde_json::Value;
use tempfile::TempDir;

use crate::util::{CARE_REVIEW_THEMES, gold_dev, run_ok, thematic, write};

fn evaluate(gold: &std::path::Path, out: &std::path::Path) -> Value {
    run_ok(gold, out);
    let stdout = thematic()
        .args(["eval", "--json", "--out"])
        .arg(out)
        .arg("--gold")
        .arg(gold)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&stdout).expect("eval --json prints JSON")
}

fn score<'a>(eval: &'a Value, section: &str, code: &str) -> &'a Value {
    eval[section]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == code)
        .unwrap_or_else(|| panic!("no score for {code}"))
}

#[test]
fn default_codebook_meets_the_quality_bar_on_gold_dev() {
    let Some(gold) = gold_dev() else { return };
    let dir = TempDir::new().unwrap();
    let eval = evaluate(&gold, &dir.path().join("out"));
    let macro_f1 = eval["theme_macro_f1"].as_f64().unwrap();
    assert!(macro_f1 >= 0.85, "theme macro-F1 {macro_f1:.3} < 0.85");
    for theme in CARE_REVIEW_THEMES {
        let f1 = score(&eval, "themes", theme)["f1"].as_f64().unwrap();
        assert!(f1 >= 0.75, "{theme} F1 {f1:.3} < 0.75");
    }
    let recall = score(&eval, "flags", "safeguarding")["recall"]
        .as_f64()
        .unwrap();
    assert!(recall >= 0.9, "safeguarding recall {recall:.3} < 0.9");
}

#[test]
fn a_code_absent_from_gold_and_run_is_reported_as_na_not_zero() {
    let dir = TempDir::new().unwrap();
    let input = write(
        dir.path(),
        "in.jsonl",
        "{\"id\":\"a\",\"text\":\"We waited years for a foster placement.\"}\n\
         {\"id\":\"b\",\"text\":\"Nothing to add.\"}\n",
    );
    let gold = write(
        dir.path(),
        "gold.jsonl",
        "{\"id\":\"a\",\"themes\":[\"care\"],\"flags\":[]}\n{\"id\":\"b\",\"themes\":[],\"flags\":[]}\n",
    );
    let out = dir.path().join("out");
    run_ok(&input, &out);
    let table = thematic()
        .args(["eval", "--out"])
        .arg(&out)
        .arg("--gold")
        .arg(&gold)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(table).unwrap();
    let safeguarding = table
        .lines()
        .find(|l| l.starts_with("safeguarding"))
        .expect("flag row");
    assert!(safeguarding.contains("n/a"), "{safeguarding}");
    let care = table.lines().find(|l| l.starts_with("care")).unwrap();
    assert!(care.contains("1.000"), "{care}");
    // Macro-F1 averages only the exercised themes: care alone, perfectly coded.
    assert!(table.contains("macro-F1 1.000"), "{table}");
}
