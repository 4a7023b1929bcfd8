//! `thematic export --format qdpx`: the REFI-QDA project round trip. Every
//! coded selection, sliced from its source text by its (code point)
//! positions, is the evidence text of codes.jsonl for that unit and theme.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use tempfile::TempDir;

use crate::util::{gold_dev, read_jsonl, run_ok, thematic, write};

const NS: &str = "urn:QDA-XML:project:1.0";

/// (source name, code name, selected text), sorted: from the archive.
fn selections_in_archive(archive: &Path) -> (Vec<(String, String, String)>, usize) {
    let file = std::fs::File::open(archive).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut project = String::new();
    zip.by_name("project.qde")
        .unwrap()
        .read_to_string(&mut project)
        .unwrap();
    let doc = roxmltree::Document::parse(&project).expect("project.qde is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Project");
    assert_eq!(root.tag_name().namespace(), Some(NS));
    let order: Vec<&str> = root
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    assert_eq!(
        order,
        ["Users", "CodeBook", "Variables", "Cases", "Sources"]
    );
    let code_names: BTreeMap<&str, &str> = root
        .descendants()
        .filter(|n| n.has_tag_name((NS, "Code")))
        .map(|n| (n.attribute("guid").unwrap(), n.attribute("name").unwrap()))
        .collect();
    let mut out = Vec::new();
    let mut sources = 0;
    for source in root
        .descendants()
        .filter(|n| n.has_tag_name((NS, "TextSource")))
    {
        sources += 1;
        let path = source
            .attribute("plainTextPath")
            .unwrap()
            .strip_prefix("internal://")
            .expect("internal source");
        let mut body = String::new();
        zip.by_name(&format!("sources/{path}"))
            .unwrap()
            .read_to_string(&mut body)
            .unwrap();
        let chars: Vec<char> = body.chars().collect();
        for sel in source
            .children()
            .filter(|n| n.has_tag_name((NS, "PlainTextSelection")))
        {
            let start: usize = sel.attribute("startPosition").unwrap().parse().unwrap();
            let end: usize = sel.attribute("endPosition").unwrap().parse().unwrap();
            assert!(start < end && end <= chars.len(), "selection out of range");
            let code = sel
                .descendants()
                .find(|n| n.has_tag_name((NS, "CodeRef")))
                .and_then(|n| n.attribute("targetGUID"))
                .expect("a coding with a code ref");
            out.push((
                source.attribute("name").unwrap().to_owned(),
                code_names[code].to_owned(),
                chars[start..end].iter().collect(),
            ));
        }
    }
    out.sort();
    (out, sources)
}

/// The same triples from codes.jsonl, with theme labels from report.json.
fn evidence_in_run(out: &Path) -> (Vec<(String, String, String)>, usize) {
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let labels: BTreeMap<String, String> = report["codebook"]["themes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut out_rows = Vec::new();
    let mut units = 0;
    for line in read_jsonl(&out.join("codes.jsonl")) {
        if !line["flags"].as_array().unwrap().is_empty() {
            continue;
        }
        units += 1;
        let id = line["id"].as_str().unwrap();
        let mut spans = Vec::new();
        for (theme, list) in line["evidence"].as_object().unwrap() {
            for e in list.as_array().unwrap() {
                spans.push((
                    labels[theme].clone(),
                    e["start"].as_u64().unwrap(),
                    e["end"].as_u64().unwrap(),
                    e["text"].as_str().unwrap().to_owned(),
                ));
            }
        }
        spans.sort();
        spans.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
        out_rows.extend(
            spans
                .into_iter()
                .map(|(label, _, _, text)| (id.to_owned(), label, text)),
        );
    }
    out_rows.sort();
    (out_rows, units)
}

fn export(out: &Path) {
    thematic()
        .args(["export", "--format", "qdpx", "--out"])
        .arg(out)
        .assert()
        .success();
}

#[test]
fn qdpx_selections_slice_to_the_evidence_on_unicode_text() {
    let dir = TempDir::new().unwrap();
    let lines = [
        r#"{"id":"u1","respondent_type":"care_experienced","text":"😀 I was moved 11 times — my foster carer’s home was the “best” placement."}"#,
        r#"{"id":"u2","respondent_type":"parent","text":"Café talk: kinship care & special guardianship <need> funding; the council’s budget was cut."}"#,
        r#"{"id":"u3","respondent_type":"charity","text":"Nothing to add."}"#,
    ];
    let input = write(dir.path(), "in.jsonl", lines.join("\n"));
    let out = dir.path().join("out");
    run_ok(&input, &out);
    export(&out);
    let (in_archive, sources) = selections_in_archive(&out.join("thematic.qdpx"));
    let (in_run, units) = evidence_in_run(&out);
    assert_eq!(sources, units);
    assert!(in_run.len() >= 6, "too little evidence to test: {in_run:?}");
    assert_eq!(in_archive, in_run);
    // Re-exporting gives the same bytes.
    let first = std::fs::read(out.join("thematic.qdpx")).unwrap();
    export(&out);
    assert_eq!(std::fs::read(out.join("thematic.qdpx")).unwrap(), first);
}

#[test]
fn qdpx_round_trip_on_gold_dev() {
    let Some(gold) = gold_dev() else { return };
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    run_ok(&gold, &out);
    export(&out);
    let (in_archive, sources) = selections_in_archive(&out.join("thematic.qdpx"));
    let (in_run, units) = evidence_in_run(&out);
    assert_eq!(sources, units, "one source per unflagged unit");
    assert!(sources < 400, "flagged responses are left out");
    assert_eq!(in_archive.len(), in_run.len());
    assert_eq!(in_archive, in_run);
}

#[test]
fn a_hand_made_qdc_imports_as_a_codebook_that_checks_clean() {
    let dir = TempDir::new().unwrap();
    let qdc = write(
        dir.path(),
        "frame.qdc",
        r##"<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="NVivo 14">
  <Codes>
    <Code guid="a1" name="Family &amp; friends" isCodable="false">
      <Code guid="a2" name="Kinship care" isCodable="true"><Description>Grandparents, aunts, "connected" carers.</Description></Code>
      <Code guid="a3" name="Special guardianship" isCodable="true"/>
    </Code>
    <Code guid="b1" name="Ofsted" isCodable="true" color="#FF0000"/>
    <Code guid="b2" name="Ofsted" isCodable="true"/>
  </Codes>
</CodeBook>"##,
    );
    let toml_path = dir.path().join("frame.toml");
    thematic()
        .args(["codebook", "import"])
        .arg(&qdc)
        .assert()
        .success();
    thematic()
        .args(["codebook", "check"])
        .arg(&toml_path)
        .assert()
        .success();
    let cb = crate::util::codebook(&std::fs::read_to_string(&toml_path).unwrap());
    let themes: Vec<(&str, &str)> = cb
        .themes
        .iter()
        .map(|t| (t.id.as_str(), t.label.as_str()))
        .collect();
    assert_eq!(
        themes,
        [
            (
                "family_friends_kinship_care",
                "Family & friends / Kinship care"
            ),
            (
                "family_friends_special_guardianship",
                "Family & friends / Special guardianship"
            ),
            ("ofsted", "Ofsted"),
            ("ofsted_2", "Ofsted"),
        ]
    );
    assert_eq!(
        cb.themes[0].description,
        "Grandparents, aunts, \"connected\" carers."
    );
    // The skeleton codes at once: each theme's name is its keyword.
    let input = write(
        dir.path(),
        "in.jsonl",
        r#"{"id":"x","text":"Kinship care works."}"#,
    );
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--codebook"])
        .arg(&toml_path)
        .arg("--out")
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let codes = read_jsonl(&out.join("codes.jsonl"));
    assert_eq!(
        codes[0]["themes"],
        serde_json::json!(["family_friends_kinship_care"])
    );
}

#[test]
fn the_default_codebook_survives_a_qdc_round_trip_and_bad_xml_is_refused() {
    let dir = TempDir::new().unwrap();
    let qdc = dir.path().join("default.qdc");
    thematic()
        .args([
            "codebook",
            "export",
            "corpora/care-review/codebook.toml",
            "--output",
        ])
        .arg(&qdc)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .assert()
        .success();
    let toml_path = dir.path().join("back.toml");
    thematic()
        .args(["codebook", "import"])
        .arg(&qdc)
        .arg("--output")
        .arg(&toml_path)
        .assert()
        .success();
    let back = crate::util::codebook(&std::fs::read_to_string(&toml_path).unwrap());
    let default = thematic::codebook::Codebook::default_care_review().unwrap();
    let summary = |cb: &thematic::codebook::Codebook| -> Vec<(String, String, String)> {
        cb.themes
            .iter()
            .map(|t| (t.id.clone(), t.label.clone(), t.description.clone()))
            .collect()
    };
    assert_eq!(summary(&back), summary(&default));

    let bad = write(dir.path(), "bad.qdc", "<CodeBook><Codes><Code name=\"x\">");
    thematic()
        .args(["codebook", "import"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "bad.qdc: not a REFI-QDA codebook",
        ));
}

#[test]
fn ndjson_export_has_one_document_per_unflagged_response_with_its_themes() {
    let dir = TempDir::new().unwrap();
    let lines = [
        r#"{"id":"r1","region":"London","q1":"Kinship care saved us.","q2":"Ofsted never asked."}"#,
        r#"{"id":"r2","region":"North East","q1":"I'm 15 and he hits me, I'm scared to go home tonight.","q2":"n/a"}"#,
        r#"{"id":"r3","region":"London","q1":"Funding cuts closed the youth club.","q2":""}"#,
    ];
    let input = write(dir.path(), "in.jsonl", lines.join("\n"));
    let out = dir.path().join("out");
    crate::util::run_ok_with(&input, &out, &["--text-field", "q1", "--text-field", "q2"]);
    thematic()
        .args(["export", "--format", "ndjson", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicates::str::contains("left out 1 flagged response"));
    let docs = read_jsonl(&out.join("export/responses.ndjson"));
    let ids: Vec<&str> = docs.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["r1", "r3"], "the flagged response r2 is left out");
    // Themes per question agree with codes.jsonl.
    for line in read_jsonl(&out.join("codes.jsonl")) {
        let Some(doc) = docs.iter().find(|d| d["id"] == line["id"]) else {
            continue;
        };
        let q = line["question"].as_str().unwrap();
        assert_eq!(doc["themes_by_question"][q], line["themes"], "{doc}");
    }
    assert_eq!(docs[0]["attributes"]["region"], "London");
    assert_eq!(docs[0]["answers"]["q2"], "Ofsted never asked.");
    // The REFI-QDA export follows the same policy: both of r2's answers stay
    // out, though only q1 holds the disclosure.
    thematic()
        .args(["export", "--format", "qdpx", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "left out 2 unit(s) of flagged responses",
        ));
    let (selections, sources) = selections_in_archive(&out.join("thematic.qdpx"));
    let units_not_r2 = read_jsonl(&out.join("codes.jsonl"))
        .iter()
        .filter(|l| l["id"] != "r2")
        .count();
    assert_eq!(sources, units_not_r2, "every unit of r1 and r3, none of r2");
    assert!(
        selections
            .iter()
            .all(|(source, _, _)| !source.starts_with("r2:"))
    );
    let config = std::fs::read_to_string(out.join("export/quickwit-index.yaml")).unwrap();
    for field in [
        "index_id: thematic-responses",
        "- name: answers",
        "- name: themes",
    ] {
        assert!(config.contains(field), "quickwit config lacks {field}");
    }
}
