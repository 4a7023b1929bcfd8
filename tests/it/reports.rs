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

/// Distinct responses, each a strong quote for one theme (so none is grouped
/// as a campaign and each is quoted), each carrying one kind of personal data.
const PLANTED: &[(&str, &str, &str)] = &[
    (
        "foster_carer",
        "jane.doe@example.org",
        "Our foster placement ended after the children's home move; write to jane.doe@example.org about the placement breakdown.",
    ),
    (
        "care_experienced",
        "07700 900123",
        "I was moved between foster carers nine times and my placement changed again last spring, ring 07700 900123 if you want to hear it.",
    ),
    (
        "parent",
        "LS1 4AP",
        "Care leavers on our estate at LS1 4AP have no staying put offer and the leaving care team never visits.",
    ),
    (
        "social_worker",
        "Jane Doe",
        "My name is Jane Doe and my caseload is forty families, agency staff leave every month and turnover is relentless.",
    ),
    (
        "manager",
        "Sam Brown",
        "I am called Sam Brown; our social workers drown in paperwork and caseloads, and recruitment of agency staff never stops.",
    ),
    (
        "charity",
        "943 476 5919",
        "NHS number 943 476 5919 belongs to a boy whose social workers changed five times; his caseload holder left and agency staff covered.",
    ),
    (
        "local_authority",
        "LA/2021/00451",
        "Case ref LA/2021/00451 shows the cost: the placement budget is overspent by millions and funding cuts hit early help.",
    ),
    (
        "academic",
        "0113 496 0000",
        "Private providers charge councils a weekly fee of thousands; funding is cut while profit grows, call 0113 496 0000 for our costings.",
    ),
];

fn planted() -> Vec<serde_json::Value> {
    PLANTED
        .iter()
        .enumerate()
        .map(|(i, (kind, _, text))| {
            serde_json::json!({"id": format!("p{i}"), "respondent_type": kind, "text": text})
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
    // The quotes were shown, redacted (placeholders are Markdown-escaped).
    let placeholders = ["email", "phone", "postcode", "name", "number"]
        .iter()
        .filter(|p| summary.contains(&format!(r"\[{p}\]")))
        .count();
    assert!(placeholders >= 4, "too few redacted quotes:\n{summary}");
    for (_, secret, _) in PLANTED {
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

/// `code` with the run's own codebook re-codes the stored texts to the same
/// outputs as `run`, attribute columns included: the index hands attributes
/// back sorted by name, and run.json keeps the run's first-seen order
/// (the sample's is respondent_type, region, question).
#[test]
fn code_rewrites_what_run_wrote_attribute_columns_in_run_order() {
    let dir = TempDir::new().unwrap();
    let input = write(dir.path(), "in.jsonl", thematic::corpus::BUNDLED_SAMPLE);
    let ran = dir.path().join("ran");
    run_into(&input, &ran);
    let recoded = dir.path().join("recoded");
    run_into(&input, &recoded);
    thematic()
        .args(["code", "--quiet", "--out"])
        .arg(&recoded)
        .assert()
        .success();
    let header = std::fs::read_to_string(ran.join("codes.csv")).unwrap();
    assert!(
        header.starts_with("id,respondent_type,region,question,"),
        "run keeps input order: {}",
        header.lines().next().unwrap()
    );
    for name in [
        "codes.jsonl",
        "codes.csv",
        "themes.csv",
        "report.json",
        "report.xlsx",
        "units.bin",
    ] {
        assert!(
            std::fs::read(ran.join(name)).unwrap() == std::fs::read(recoded.join(name)).unwrap(),
            "{name} differs between run and code"
        );
    }
}

/// `--campaigns count-once` puts distinct submissions first everywhere:
/// every share in summary.md and report.html is of distinct submissions
/// and says so, and counts of one read in the singular.
#[test]
fn count_once_shares_are_of_distinct_submissions_in_both_reports() {
    let dir = TempDir::new().unwrap();
    let letter = "We demand a legal duty to fund kinship carers and a national allowance for every family raising a relative's child.";
    let mut lines: Vec<String> = (0..3)
        .map(|i| {
            serde_json::json!({"id": format!("c{i}"), "text": format!("Dear review, {letter} Thanks, person {i}")})
                .to_string()
        })
        .collect();
    for (i, text) in [
        "Foster care placements move children too often.",
        "Children's homes are far from family and foster placements break down.",
        "Social workers have caseloads that are far too high.",
        "Foster care and care leavers deserve better.",
    ]
    .iter()
    .enumerate()
    {
        lines.push(serde_json::json!({"id": format!("o{i}"), "text": text}).to_string());
    }
    let input = write(dir.path(), "in.jsonl", lines.join("\n"));
    let run = |mode: &str| {
        let out = dir.path().join(mode);
        thematic()
            .args(["run", "--quiet", "--campaigns", mode, "--out"])
            .arg(&out)
            .arg(&input)
            .assert()
            .success();
        let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
        let report: serde_json::Value = serde_json::from_str(&read("report.json")).unwrap();
        (report, read("summary.md"), read("report.html"))
    };

    // 7 coded responses, 5 distinct submissions; Care is 3 of each, Strengthening
    // families 3 responses but 1 submission, Delivery 1 of each.
    let (report, summary, html) = run("count-once");
    assert_eq!(report["totals"]["distinct_submissions"], 5);
    let shares = "Each campaign group counts once: shares below are of 5 distinct submissions, not of all 7 coded responses.";
    assert!(summary.contains(shares), "{summary}");
    assert!(html.contains(shares), "{html}");
    assert!(summary.contains("shares are of 5 distinct submissions."));
    assert!(summary.contains("| Care | 3 | 3 | 60.0% |"), "{summary}");
    for body in [&summary, &html] {
        assert!(
            body.contains("3 distinct submissions (60.0% of distinct submissions); 3 responses.")
        );
        assert!(
            body.contains("1 distinct submission (20.0% of distinct submissions); 3 responses."),
            "Strengthening families"
        );
        assert!(
            body.contains("1 distinct submission (20.0% of distinct submissions); 1 response.")
        );
        // No share of coded responses: 3 of 7, 1 of 7.
        assert!(!body.contains("42.9%") && !body.contains("14.3%"));
        assert!(!body.contains("1 distinct submissions") && !body.contains(" 1 responses"));
    }
    assert!(html.contains("Distinct submissions per theme"));
    assert!(
        html.contains("3 distinct (60.0%); 3 responses"),
        "Care's bar"
    );

    // The default puts responses first, with shares of all coded responses.
    let (_, summary, html) = run("count-all");
    assert!(summary.contains("Shares below are of all 7 coded responses."));
    assert!(html.contains("Shares below are of all 7 coded responses."));
    assert!(summary.contains("| Care | 3 | 3 | 42.9% |"), "{summary}");
    for body in [&summary, &html] {
        assert!(body.contains("3 responses (42.9% of coded responses); 1 distinct submission."));
        assert!(body.contains("1 response (14.3% of coded responses); 1 distinct submission."));
        assert!(!body.contains("60.0%") && !body.contains("distinct submissions)"));
        assert!(!body.contains("1 distinct submissions") && !body.contains(" 1 responses"));
    }
    assert!(html.contains("3 (42.9%); 1 distinct"));
}

/// Reject reasons are grouped by their wording without turning words such
/// as UTF-8 into UTF-N, and an id shown in a reason is one kind whatever it
/// holds.
#[test]
fn reject_reasons_group_without_mangling_words() {
    let dir = TempDir::new().unwrap();
    let csv = write(
        dir.path(),
        "in.csv",
        b"id,text\nr1,Foster care placements move children too often.\nr2,Kinship carers \xff need an allowance.\nr3,Kinship \xfe carers.\n",
    );
    let jsonl = write(
        dir.path(),
        "in.jsonl",
        "{\"id\":\"a\\u0000b\",\"text\":\"Foster care is fine.\"}\n{\"id\":\"c\\u00017\",\"text\":\"Foster care.\"}\n{\"id\":\"d\",\"text\":\"Kinship care needs money.\"}\n",
    );
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&csv)
        .arg(&jsonl)
        .assert()
        .code(1);
    assert_eq!(read_jsonl(&out.join("rejects.jsonl")).len(), 4);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["rejects"]["by_reason"],
        serde_json::json!([
            [
                "id \"…\" contains a line break or control character; ids must be one line",
                2
            ],
            [
                "invalid UTF-8 in field `…` at byte N; re-save the file as UTF-8",
                2
            ],
        ])
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary
            .contains("- invalid UTF-8 in field \\`…\\` at byte N; re-save the file as UTF-8: 2"),
        "{summary}"
    );
    assert!(!summary.contains("UTF-N") && !summary.contains(r"\N"));
}

/// codes.csv's header (and the Codes sheet's) names no column twice: an
/// attribute called `id` (with `--id-field ref`) or like a theme was a
/// second `id` or `care` column, so a reader by name got the wrong one.
/// `id` and the theme columns keep their names; the attribute is
/// `attr:NAME`. The same whether the rows were written while coding
/// (every attribute in the first response) or after the run (a later
/// response brought one), and `code` rewrites the same bytes.
#[test]
fn codes_csv_column_names_are_unique_when_an_attribute_is_named_id_or_like_a_theme() {
    use calamine::Reader as _;
    let dir = TempDir::new().unwrap();
    let first = r#"{"ref":"r1","id":"legacy-1","care":"yes","region":"North","text":"Foster care placements keep moving children."}"#;
    let later =
        r#"{"ref":"r2","id":"legacy-2","region":"South","text":"Kinship carers need support."}"#;
    let want = "id,attr:id,attr:care,region,support,strengthening_families,safety,care,delivery,sustainability,accountability";
    for (name, lines) in [("streamed", [first, later]), ("after", [later, first])] {
        let input = write(dir.path(), &format!("{name}.jsonl"), lines.join("\n"));
        let out = dir.path().join(name);
        crate::util::run_ok_with(&input, &out, &["--id-field", "ref"]);
        let csv = std::fs::read_to_string(out.join("codes.csv")).unwrap();
        let header = csv.lines().next().unwrap();
        let want = if name == "after" {
            "id,attr:id,region,attr:care,support,strengthening_families,safety,care,delivery,sustainability,accountability"
        } else {
            want
        };
        assert_eq!(header, want, "{name}");
        let mut reader = csv::Reader::from_path(out.join("codes.csv")).unwrap();
        let columns: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let row: HashMap<String, String> = reader
            .records()
            .map(|r| r.unwrap())
            .find(|r| &r[0] == "r1")
            .map(|r| {
                columns
                    .iter()
                    .cloned()
                    .zip(r.iter().map(str::to_owned))
                    .collect()
            })
            .unwrap();
        assert_eq!(row.len(), columns.len(), "{name}: a name twice");
        assert_eq!(row["id"], "r1");
        assert_eq!(row["attr:id"], "legacy-1");
        assert_eq!(row["attr:care"], "yes");
        assert_eq!(row["care"], "1", "{name}: the theme column");

        let mut book = calamine::open_workbook_auto(out.join("report.xlsx")).unwrap();
        let sheet = book.worksheet_range("Codes").unwrap();
        let sheet_header: Vec<String> = sheet
            .rows()
            .next()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(sheet_header.join(","), want, "{name}: the Codes sheet");

        let before = std::fs::read(out.join("codes.csv")).unwrap();
        thematic()
            .args(["code", "--quiet", "--out"])
            .arg(&out)
            .assert()
            .success();
        assert!(
            std::fs::read(out.join("codes.csv")).unwrap() == before,
            "{name}: code rewrites codes.csv"
        );
    }
}
