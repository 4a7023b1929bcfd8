//! Analysts' corrections (OUT/overrides.jsonl): the model through the public
//! API, and `report`, `code`, `run` and `eval` applying them from the CLI.

use std::path::Path;

use tempfile::TempDir;
use thematic::overrides::{Action, Override, Overrides};

use crate::util::{codebook, read_jsonl, thematic, write};

const CODEBOOK: &str = r#"
name = "two themes"
[[theme]]
id = "care"
label = "Care"
keywords = ["foster care"]
[[theme]]
id = "money"
label = "Money"
keywords = ["funding"]
"#;

const CORPUS: &str = r#"{"id":"r1","respondent_type":"parent","text":"Foster care needs funding."}
{"id":"r2","respondent_type":"parent","text":"Foster care saved me."}
{"id":"r3","respondent_type":"carer","text":"More funding please."}
{"id":"r4","respondent_type":"carer","text":"Nothing to add."}
"#;

fn correction(id: &str, theme: &str, action: Action) -> Override {
    Override::now("ana", id, None, theme, action, Some("checked"))
}

fn line(o: &Override) -> String {
    serde_json::to_string(o).unwrap() + "\n"
}

/// A run of CORPUS with CODEBOOK in `dir/out`.
fn coded_run(dir: &Path) -> std::path::PathBuf {
    let input = write(dir, "in.jsonl", CORPUS);
    let book = write(dir, "book.toml", CODEBOOK);
    let out = dir.join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg("--codebook")
        .arg(&book)
        .arg(&input)
        .assert()
        .success();
    out
}

/// theme id → responses, from themes.csv.
fn theme_counts(out: &Path) -> Vec<(String, u64)> {
    let mut reader = csv::Reader::from_path(out.join("themes.csv")).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[2].parse().unwrap())
        })
        .collect()
}

fn count(out: &Path, theme: &str) -> u64 {
    theme_counts(out)
        .into_iter()
        .find(|(t, _)| t == theme)
        .map(|(_, n)| n)
        .unwrap()
}

fn themes_of(out: &Path, id: &str) -> Vec<String> {
    let line = read_jsonl(&out.join("codes.jsonl"))
        .into_iter()
        .find(|v| v["id"] == id)
        .unwrap();
    line["themes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_latest_correction_for_a_response_and_theme_wins() {
    let book = codebook(CODEBOOK);
    let classifier = thematic::classify::Classifier::new(book.clone()).unwrap();
    let text = "Foster care needs funding.";
    let tokens = thematic::text::Tokeniser::shared().tokenise(text);
    let mut overrides = Overrides::default();
    overrides.push(correction("r1", "care", Action::Remove));
    overrides.push(correction("r1", "care", Action::Add));
    overrides.push(correction("r1", "money", Action::Remove));
    assert_eq!(overrides.lines(), 3);
    assert_eq!(
        overrides.in_effect().count(),
        2,
        "add supersedes the remove"
    );

    let mut coding = classifier.classify(text, &tokens);
    let applied = overrides.apply(&book, "r1", "text", &mut coding);
    let ids: Vec<&str> = coding
        .themes
        .iter()
        .map(|h| book.themes[h.code].id.as_str())
        .collect();
    assert_eq!(ids, ["care"]);
    assert_eq!(applied.entries.len(), 2);
    assert_eq!(
        applied.changed, 1,
        "care was already there; money was removed"
    );

    // Applying again changes nothing: outputs that hold a correction are not corrected twice.
    let again = overrides.apply(&book, "r1", "text", &mut coding);
    assert_eq!(again.changed, 0);
    // Another response, or another question of a per-question correction, is untouched.
    let mut per_question = Overrides::default();
    per_question.push(Override::now(
        "ana",
        "r1",
        Some("q2"),
        "care",
        Action::Remove,
        None,
    ));
    let mut coding = classifier.classify(text, &tokens);
    assert_eq!(
        per_question.apply(&book, "r1", "q1", &mut coding).changed,
        0
    );
    assert_eq!(
        per_question.apply(&book, "r1", "q2", &mut coding).changed,
        1
    );
    assert_eq!(
        overrides
            .apply(&book, "r2", "text", &mut coding)
            .entries
            .len(),
        0
    );
}

#[test]
fn a_malformed_overrides_line_is_named_by_file_and_line() {
    let good = line(&correction("r1", "care", Action::Remove));
    let text = format!("{good}{{\"id\":\"r2\",\"theme\":\"care\",\"action\":\"maybe\"}}\n");
    let err = Overrides::parse(&text, "OUT/overrides.jsonl").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("OUT/overrides.jsonl:2:"), "{msg}");
    assert!(msg.contains("fix or delete that line"), "{msg}");

    let dir = TempDir::new().unwrap();
    let out = coded_run(dir.path());
    write(&out, "overrides.jsonl", &text);
    let before = std::fs::read(out.join("themes.csv")).unwrap();
    thematic()
        .args(["report", "--quiet", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("overrides.jsonl:2:"));
    assert_eq!(
        std::fs::read(out.join("themes.csv")).unwrap(),
        before,
        "nothing written"
    );
}

#[test]
fn report_code_run_and_eval_apply_corrections_and_never_lose_them() {
    let dir = TempDir::new().unwrap();
    let out = coded_run(dir.path());
    assert_eq!(count(&out, "care"), 2);
    assert_eq!(count(&out, "money"), 2);
    let corrections = [
        line(&correction("r2", "care", Action::Remove)),
        line(&correction("r4", "money", Action::Add)),
        line(&correction("r9", "care", Action::Add)), // no such response
        line(&correction("r1", "housing", Action::Add)), // no such theme
    ]
    .concat();
    write(&out, "overrides.jsonl", &corrections);

    let report = thematic()
        .args(["report", "--quiet", "--out"])
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8(report.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(report.get_output().stderr.clone()).unwrap();
    assert!(
        stdout.contains("overrides: 4 correction(s) in effect") && stdout.contains("2 changed"),
        "{stdout}"
    );
    assert!(
        stderr.contains("2 correction(s) not applied (1 name a theme not in the codebook, 1 a response not in this run)"),
        "{stderr}"
    );
    assert_eq!(count(&out, "care"), 1);
    assert_eq!(count(&out, "money"), 3);
    assert_eq!(themes_of(&out, "r2"), Vec::<String>::new());
    assert_eq!(themes_of(&out, "r4"), ["money"]);
    let r4 = read_jsonl(&out.join("codes.jsonl"))
        .into_iter()
        .find(|v| v["id"] == "r4")
        .unwrap();
    assert_eq!(
        r4["overrides"][0]["user"], "ana",
        "the correction is the evidence"
    );
    assert_eq!(r4["overrides"][0]["reason"], "checked");

    // A second report is identical: corrections are not applied twice.
    let first = std::fs::read(out.join("report.json")).unwrap();
    thematic()
        .args(["report", "--quiet", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(std::fs::read(out.join("report.json")).unwrap(), first);

    // A changed codebook (now with `housing`) re-codes: every correction
    // still holds, and the one naming `housing` now applies.
    let book2 = write(
        dir.path(),
        "book2.toml",
        format!(
            "{CODEBOOK}\n[[theme]]\nid = \"housing\"\nlabel = \"Housing\"\nkeywords = [\"housing\"]\n"
        ),
    );
    thematic()
        .args(["code", "--quiet", "--out"])
        .arg(&out)
        .arg("--codebook")
        .arg(&book2)
        .assert()
        .success()
        .stdout(predicates::str::contains("3 changed"));
    assert_eq!(count(&out, "care"), 1);
    assert_eq!(count(&out, "housing"), 1);
    assert_eq!(
        std::fs::read_to_string(out.join("overrides.jsonl")).unwrap(),
        corrections,
        "the file is never rewritten"
    );

    // A fresh `run` into the same directory keeps applying them.
    let input = dir.path().join("in.jsonl");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg("--codebook")
        .arg(&book2)
        .arg(&input)
        .assert()
        .success();
    assert_eq!(count(&out, "care"), 1);
    assert_eq!(themes_of(&out, "r4"), ["money"]);

    // eval applies them too, and says so.
    let gold = write(
        dir.path(),
        "gold.jsonl",
        "{\"id\":\"r1\",\"themes\":[\"care\",\"money\",\"housing\"]}\n{\"id\":\"r2\",\"themes\":[]}\n{\"id\":\"r3\",\"themes\":[\"money\"]}\n{\"id\":\"r4\",\"themes\":[\"money\"]}\n",
    );
    thematic()
        .args(["eval", "--out"])
        .arg(&out)
        .arg("--gold")
        .arg(&gold)
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "3 analysts' correction(s) applied",
        ))
        .stdout(predicates::str::contains("macro-F1 1.000"));
}

#[test]
fn exports_carry_corrections_made_since_the_last_report() {
    let dir = TempDir::new().unwrap();
    let out = coded_run(dir.path());
    // As `serve` would: appended after the run, no `report` since.
    write(
        &out,
        "overrides.jsonl",
        [
            line(&correction("r4", "care", Action::Add)),
            line(&correction("r1", "money", Action::Remove)),
        ]
        .concat(),
    );
    thematic()
        .args(["export", "--format", "ndjson", "--out"])
        .arg(&out)
        .assert()
        .success();
    let docs = read_jsonl(&out.join("export/responses.ndjson"));
    let themes = |id: &str| docs.iter().find(|d| d["id"] == id).unwrap()["themes"].clone();
    assert_eq!(themes("r4"), serde_json::json!(["care"]));
    assert_eq!(themes("r1"), serde_json::json!(["care"]));

    thematic()
        .args(["export", "--format", "qdpx", "--out"])
        .arg(&out)
        .assert()
        .success();
    let file = std::fs::File::open(out.join("thematic.qdpx")).unwrap();
    let mut project = String::new();
    std::io::Read::read_to_string(
        &mut zip::ZipArchive::new(file)
            .unwrap()
            .by_name("project.qde")
            .unwrap(),
        &mut project,
    )
    .unwrap();
    // r4's added theme codes its whole answer: "Nothing to add." is 15 characters.
    assert!(
        project.contains("name=\"Nothing to add.\" startPosition=\"0\" endPosition=\"15\""),
        "{project}"
    );
    assert_eq!(
        project.matches("name=\"funding\"").count(),
        1,
        "r3's funding is coded, r1's removed one is not"
    );
}
