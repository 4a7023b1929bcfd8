//! Campaigns, safeguarding routing and redaction (issue 9).

use std::collections::{BTreeSet, HashMap};

use tempfile::TempDir;

use crate::util::{gold_dev, read_jsonl, thematic, write};

fn shingles(text: &str) -> BTreeSet<String> {
    let toks = thematic::text::Tokeniser::shared().tokenise(text);
    let words: Vec<&str> = (0..toks.len()).map(|i| toks.lower(i)).collect();
    words.windows(3).map(|w| w.join(" ")).collect()
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let inter = a.intersection(b).count() as f64;
    let union = a.union(b).count() as f64;
    if union == 0.0 { 0.0 } else { inter / union }
}

#[test]
fn dev_campaign_letter_is_one_group_and_groups_never_mix_unrelated_responses() {
    let Some(gold) = gold_dev() else { return };
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&gold)
        .assert()
        .success();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let lines = read_jsonl(&gold);
    let text: HashMap<String, String> = lines
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_owned(),
                l["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let sets: HashMap<&String, BTreeSet<String>> =
        text.iter().map(|(id, t)| (id, shingles(t))).collect();
    let groups: Vec<Vec<String>> = report["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    let group_of: HashMap<&String, usize> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, ms)| ms.iter().map(move |m| (m, g)))
        .collect();
    // Brute force: every pair at Jaccard >= 0.9 must share a group.
    let ids: Vec<&String> = text.keys().collect();
    let mut close_pairs = 0;
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            if sets[*a].len() >= 10 && jaccard(&sets[*a], &sets[*b]) >= 0.9 {
                close_pairs += 1;
                assert!(
                    group_of.contains_key(*a) && group_of.get(*a) == group_of.get(*b),
                    "{a} and {b} are copies but not grouped"
                );
            }
        }
    }
    assert!(
        close_pairs >= 11,
        "the campaign letter's copies are close pairs"
    );
    // The campaign letter: 12 copies in one group, all labelled alike in gold.
    let labels: HashMap<String, Vec<String>> = lines
        .iter()
        .map(|l| {
            let t = l["themes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect();
            (l["id"].as_str().unwrap().to_owned(), t)
        })
        .collect();
    let biggest = groups
        .iter()
        .max_by_key(|g| g.len())
        .expect("a campaign group");
    assert_eq!(biggest.len(), 12);
    for m in biggest {
        assert_eq!(
            labels[m],
            ["accountability", "strengthening_families", "sustainability"],
            "{m}"
        );
    }
    // No group mixes unrelated responses: every member is close to the group's first.
    for g in &groups {
        for m in &g[1..] {
            let j = jaccard(&sets[&g[0]], &sets[m]);
            assert!(j >= 0.5, "{} and {m} grouped at Jaccard {j:.2}", g[0]);
        }
    }
    // Both counts are reported side by side.
    let totals = &report["totals"];
    assert_eq!(
        totals["distinct_submissions"].as_u64().unwrap(),
        totals["records_coded"].as_u64().unwrap()
            - groups.iter().map(|g| g.len() as u64 - 1).sum::<u64>()
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("Distinct submissions"));
    assert!(summary.contains("**C1**: 12 identical or near-identical responses"));
}

#[test]
fn count_once_headline_orders_by_distinct_submissions() {
    let dir = TempDir::new().unwrap();
    let letter = "We demand a legal duty to fund kinship carers and a national allowance for every family raising a relative's child.";
    let mut lines = Vec::new();
    for i in 0..6 {
        lines.push(serde_json::json!({"id": format!("c{i}"), "text": format!("Dear review, {letter} Thanks, person {i}")}).to_string());
    }
    let others = [
        "Social workers have caseloads that are far too high to know the children they work with.",
        "Ofsted should ask children in care what they think of the homes they live in.",
        "Early help services closed in our town and families now wait until there is a crisis.",
        "Care leavers need somewhere to live at eighteen and someone to call when things go wrong.",
    ];
    for (i, t) in others.iter().enumerate() {
        lines.push(serde_json::json!({"id": format!("o{i}"), "text": t}).to_string());
    }
    let input = write(dir.path(), "c.jsonl", lines.join("\n"));
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--campaigns", "count-once", "--out"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["headline"], "count-once");
    assert_eq!(report["campaigns"][0]["size"], 6);
    assert_eq!(report["totals"]["distinct_submissions"], 5);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("Ordered by distinct submissions"));
    // Quotes come once per campaign group.
    for theme in report["themes"].as_array().unwrap() {
        let from_campaign = theme["quotes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["id"].as_str().unwrap().starts_with('c'))
            .count();
        assert!(from_campaign <= 1, "{}", theme["id"]);
    }
}

#[test]
fn flagged_responses_are_routed_and_never_published() {
    let dir = TempDir::new().unwrap();
    let secret = "my foster carer hits me and nobody listens to me";
    let lines = [
        serde_json::json!({"id": "f1", "respondent_type": "care_experienced",
            "text": format!("Foster care and placement moves matter. {secret}. Please help, children's homes are scary.")}),
        serde_json::json!({"id": "n1", "respondent_type": "foster_carer",
            "text": "Foster care placements need stability and children's homes need love."}),
    ];
    let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let input = write(dir.path(), "f.jsonl", body.join("\n"));
    let codebook = write(
        dir.path(),
        "cb.toml",
        "name = \"t\"\n[[theme]]\nid = \"care\"\nkeywords = [\"foster care\", \"children's home\"]\n\
         [[flag]]\nid = \"safeguarding\"\nkeywords = [\"hits me\"]\n",
    );
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--codebook"])
        .arg(&codebook)
        .arg("--out")
        .arg(&out)
        .arg(&input)
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "warning: 1 response(s) flagged for safeguarding review",
        ));
    let flagged = read_jsonl(&out.join("restricted/flagged.jsonl"));
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["id"], "f1");
    assert!(
        flagged[0]["evidence"]["safeguarding"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for body in [&summary, &html] {
        assert!(!body.contains("hits me"));
        assert!(!body.contains("scary"));
        assert!(body.contains("restricted/flagged.jsonl"));
    }
    // Search hides the text unless --no-redact.
    let shown = thematic()
        .args(["search", "--json", "--out"])
        .arg(&out)
        .arg("foster")
        .output()
        .unwrap();
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(!shown.contains("hits me"));
    let private = thematic()
        .args(["search", "--json", "--no-redact", "--out"])
        .arg(&out)
        .arg("hits")
        .output()
        .unwrap();
    assert!(
        String::from_utf8(private.stdout)
            .unwrap()
            .contains("hits me")
    );
}

#[test]
fn search_output_is_redacted_unless_asked() {
    let dir = TempDir::new().unwrap();
    let text = "Kinship care saved us. Email me at jane.doe@example.org or call 07700 900123, my name is Jane Doe, LS1 4AP, NHS number 943 476 5919.";
    let input = write(
        dir.path(),
        "r.jsonl",
        serde_json::json!({"id": "k", "text": text}).to_string(),
    );
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let redacted = thematic()
        .args(["search", "--out"])
        .arg(&out)
        .arg("kinship")
        .output()
        .unwrap();
    let redacted = String::from_utf8(redacted.stdout).unwrap();
    for secret in [
        "jane.doe@example.org",
        "07700 900123",
        "Jane Doe",
        "LS1 4AP",
        "943 476 5919",
    ] {
        assert!(!redacted.contains(secret), "{secret} in {redacted}");
    }
    assert!(redacted.contains("[email]"));
    let private = thematic()
        .args(["search", "--no-redact", "--out"])
        .arg(&out)
        .arg("kinship")
        .output()
        .unwrap();
    assert!(
        String::from_utf8(private.stdout)
            .unwrap()
            .contains("jane.doe@example.org")
    );
}

/// Every cell of every sheet of a workbook, one per line.
fn xlsx_text(path: &std::path::Path) -> String {
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto(path).unwrap();
    let mut text = String::new();
    for name in book.sheet_names() {
        for row in book.worksheet_range(&name).unwrap().rows() {
            for cell in row {
                text.push_str(&cell.to_string());
                text.push('\n');
            }
        }
    }
    text
}

/// The reports of a run, as text: summary.md, report.html, report.json and
/// every cell of report.xlsx.
fn published(out: &std::path::Path) -> [(&'static str, String); 4] {
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    [
        ("summary.md", read("summary.md")),
        ("report.html", read("report.html")),
        ("report.json", read("report.json")),
        ("report.xlsx", xlsx_text(&out.join("report.xlsx"))),
    ]
}

fn report_json(out: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

/// Every key term of every theme.
fn key_terms(report: &serde_json::Value) -> Vec<String> {
    report["themes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["key_terms"].as_array().unwrap())
        .map(|k| k["term"].as_str().unwrap().to_owned())
        .collect()
}

/// Copies of a flagged response form a campaign; the campaign keeps its
/// counts but shows no member's text (summary, HTML, workbook, JSON), and
/// the flagged text gives no key terms.
#[test]
fn a_campaign_of_flagged_responses_is_counted_but_never_shown() {
    let dir = TempDir::new().unwrap();
    let disclosure =
        "My stepdad hits me every night and I want a foster care placement away from him please";
    let mut lines: Vec<String> = (0..3)
        .map(|i| serde_json::json!({"id": format!("s{i}"), "text": disclosure}).to_string())
        .collect();
    for (i, text) in [
        "Social workers have caseloads that are far too high to know the children they work with.",
        "Ofsted should ask children in care what they think of the homes they live in.",
        "Early help services closed in our town and families now wait until there is a crisis.",
        "Care leavers need somewhere to live at eighteen and someone to call when things go wrong.",
        "Foster carers need more support and training to keep children safe at home.",
        "Children are not safe when the police and social workers do not share information.",
    ]
    .iter()
    .enumerate()
    {
        lines.push(serde_json::json!({"id": format!("o{i}"), "text": text}).to_string());
    }
    let input = write(dir.path(), "in.jsonl", lines.join("\n"));
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    assert_eq!(read_jsonl(&out.join("restricted/flagged.jsonl")).len(), 3);
    let report = report_json(&out);
    let campaign = &report["campaigns"][0];
    assert_eq!(campaign["size"], 3);
    assert_eq!(campaign["members"], serde_json::json!(["s0", "s1", "s2"]));
    assert_eq!(campaign["representative"], serde_json::Value::Null);
    assert_eq!(campaign["withheld"], "flagged");
    assert_eq!(report["totals"]["distinct_submissions"], 7);
    for (name, body) in published(&out) {
        for words in ["stepdad", "hits me", "every night", "away from him"] {
            assert!(!body.contains(words), "{words:?} in {name}");
        }
    }
    let [(_, summary), (_, html), _, (_, xlsx)] = published(&out);
    assert!(
        summary.contains("- **C1**: 3 identical or near-identical responses, counted once in “distinct submissions”. Text withheld because the group contains responses flagged for safeguarding review."),
        "{summary}"
    );
    assert!(html.contains("Text withheld because"));
    assert!(xlsx.contains("Text withheld because"));
    // Key terms come from unflagged responses alone: the disclosure's
    // words occur in no other response.
    let terms = key_terms(&report);
    for word in [
        "stepdad", "hits", "night", "away", "please", "every", "want",
    ] {
        assert!(!terms.iter().any(|t| t == word), "{word} in {terms:?}");
    }
}

/// A respondent with a flagged answer is quoted and summarised by none of
/// their answers, whichever answer is the flagged one (the first, or a
/// later one, after the earlier were already taken in).
#[test]
fn no_answer_of_a_flagged_response_is_quoted_or_summarised() {
    let dir = TempDir::new().unwrap();
    let lines = [
        serde_json::json!({"id": "a", "q1": "My stepdad hits me and I am scared to go home.",
            "q2": "Kinship carers like my nan need an allowance."}),
        serde_json::json!({"id": "z", "q1": "My nan is a kinship carer and she needs an allowance too.",
            "q2": "My mum's boyfriend hits me when she is out."}),
        serde_json::json!({"id": "b", "q1": "Foster care is fine.",
            "q2": "Kinship carers deserve financial support and an allowance from the council."}),
        serde_json::json!({"id": "c", "q1": "Children's homes are far from family.",
            "q2": "Grandparents raising grandchildren through kinship care get no allowance."}),
    ];
    let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let input = write(dir.path(), "in.jsonl", body.join("\n"));
    let out = dir.path().join("out");
    crate::util::run_ok_with(&input, &out, &["--text-field", "q1", "--text-field", "q2"]);
    let flagged: Vec<String> = read_jsonl(&out.join("restricted/flagged.jsonl"))
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(flagged, ["a", "z"], "one flagged in q1, one in q2");
    let report = report_json(&out);
    assert!(
        report["campaigns"].as_array().unwrap().is_empty(),
        "no campaign hides the answers instead"
    );
    let quoted: Vec<&str> = report["themes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["quotes"].as_array().unwrap())
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert!(quoted.contains(&"b"), "{quoted:?}");
    assert!(
        !quoted.contains(&"a") && !quoted.contains(&"z"),
        "{quoted:?}"
    );
    for (name, body) in published(&out) {
        for words in ["my nan", "My nan", "stepdad", "boyfriend"] {
            assert!(!body.contains(words), "{words:?} in {name}");
        }
    }
    // Both flagged respondents' kinship answers name "nan": with them
    // counted it is a key term of Strengthening families.
    assert!(
        !key_terms(&report).iter().any(|t| t == "nan"),
        "{:?}",
        key_terms(&report)
    );
}
