//! Reports: counts agree across files; text is redacted, escaped and neutralised.

use std::collections::HashMap;

use tempfile::TempDir;

use crate::util::{gold_dev, read_jsonl, thematic, write};

fn run_into(input: &std::path::Path, out: &std::path::Path) {
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(out)
        .arg(input)
        .assert()
        .code(predicates::ord::le(1));
}

#[test]
fn theme_counts_agree_across_codes_csv_themes_csv_report_json_and_codes_jsonl() {
    let Some(gold) = gold_dev() else { return };
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    run_into(&gold, &out);
    let mut csv = csv::Reader::from_path(out.join("codes.csv")).unwrap();
    let headers = csv.headers().unwrap().clone();
    let mut column_sums: HashMap<String, u64> = HashMap::new();
    for row in csv.records() {
        let row = row.unwrap();
        for (h, v) in headers.iter().zip(row.iter()) {
            if v == "1" || v == "0" {
                *column_sums.entry(h.to_owned()).or_default() += v.parse::<u64>().unwrap();
            }
        }
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], 1);
    let mut themes_csv = csv::Reader::from_path(out.join("themes.csv")).unwrap();
    let mut from_jsonl: HashMap<String, u64> = HashMap::new();
    for line in read_jsonl(&out.join("codes.jsonl")) {
        for t in line["themes"].as_array().unwrap() {
            *from_jsonl
                .entry(t.as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let mut checked = 0;
    for row in themes_csv.records() {
        let row = row.unwrap();
        let id = &row[0];
        let n: u64 = row[2].parse().unwrap();
        assert_eq!(
            column_sums.get(id).copied().unwrap_or(0),
            n,
            "codes.csv vs themes.csv for {id}"
        );
        let in_json = report["themes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap();
        assert_eq!(
            in_json["responses"].as_u64().unwrap(),
            n,
            "report.json for {id}"
        );
        assert_eq!(
            from_jsonl.get(id).copied().unwrap_or(0),
            n,
            "codes.jsonl for {id}"
        );
        checked += 1;
    }
    assert_eq!(checked, 7);
    let totals = &report["totals"];
    assert_eq!(
        totals["records_read"].as_u64(),
        Some(
            totals["records_coded"].as_u64().unwrap()
                + totals["records_rejected"].as_u64().unwrap()
        )
    );
    assert_eq!(
        totals["records_coded"].as_u64(),
        Some(
            totals["empty_responses"].as_u64().unwrap()
                + totals["responses_without_theme"].as_u64().unwrap()
                + totals["responses_with_theme"].as_u64().unwrap()
        )
    );
}

/// Responses that are strong quotes for the care theme, each carrying personal data.
fn planted() -> Vec<serde_json::Value> {
    let secrets = [
        "jane.doe@example.org",
        "07700 900123",
        "LS1 4AP",
        "my name is Jane Doe",
        "0113 496 0000",
    ];
    secrets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let kind = ["foster_carer", "care_experienced", "parent", "social_worker", "charity"][i];
            serde_json::json!({
                "id": format!("p{i}"),
                "respondent_type": kind,
                "text": format!("Foster care and children's homes and care leavers and placement moves matter, {s}, foster care placements."),
            })
        })
        .collect()
}

#[test]
fn planted_personal_data_never_reaches_summary_or_html() {
    let dir = TempDir::new().unwrap();
    let lines: Vec<String> = planted().iter().map(|v| v.to_string()).collect();
    let input = write(dir.path(), "in.jsonl", lines.join("\n"));
    let out = dir.path().join("out");
    run_into(&input, &out);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        // Markdown-escaped placeholders: the quote was shown, redacted.
        summary.contains(r"\[email\]") || summary.contains(r"\[phone\]"),
        "quotes were shown:\n{summary}"
    );
    for secret in [
        "jane.doe@example.org",
        "07700 900123",
        "LS1 4AP",
        "Jane Doe",
        "496 0000",
    ] {
        assert!(!summary.contains(secret), "{secret} in summary.md");
        assert!(!html.contains(secret), "{secret} in report.html");
    }
}

#[test]
fn script_payloads_are_inert_and_csv_cells_neutralised() {
    let dir = TempDir::new().unwrap();
    let rows = [
        serde_json::json!({"id": "<script>alert(1)</script>", "respondent_type": "=HYPERLINK(\"http://x\")",
            "text": "Foster care <script>alert(1)</script> and children's homes and placement moves."}),
        serde_json::json!({"id": "<img src=x onerror=alert(1)>", "respondent_type": "parent",
            "text": "Foster care <img src=x onerror=alert(1)> and care leavers and placement moves."}),
    ];
    let lines: Vec<String> = rows.iter().map(|v| v.to_string()).collect();
    let input = write(dir.path(), "in.jsonl", lines.join("\n"));
    let out = dir.path().join("out");
    run_into(&input, &out);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let doc = scraper::Html::parse_document(&html);
    let scripts = scraper::Selector::parse("script").unwrap();
    let imgs = scraper::Selector::parse("img").unwrap();
    assert_eq!(doc.select(&scripts).count(), 0, "no script element");
    assert_eq!(doc.select(&imgs).count(), 0, "no img element");
    assert!(
        html.contains("&lt;script&gt;") || html.contains("&lt;img"),
        "payload shown as text"
    );
    for name in ["codes.csv", "themes.csv"] {
        let mut reader = csv::Reader::from_path(out.join(name)).unwrap();
        let headers = reader.headers().unwrap().clone();
        for cell in headers.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "{name} header {cell}"
            );
        }
        for row in reader.records() {
            for cell in row.unwrap().iter() {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{name} cell {cell:?}"
                );
            }
        }
    }
    let codes_csv = std::fs::read_to_string(out.join("codes.csv")).unwrap();
    assert!(codes_csv.contains("'=HYPERLINK"));
}
