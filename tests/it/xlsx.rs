//! Spreadsheets in and out: XLSX input through calamine (header row, empty
//! rows, formula cells, --sheet) and report.xlsx read back with calamine.

use calamine::{Data, Reader, open_workbook_auto};
use rust_xlsxwriter::{Formula, Workbook};
use tempfile::TempDir;

use crate::util::{read_jsonl, run_ok, thematic};

#[test]
fn a_workbook_reads_like_a_csv_with_empty_rows_skipped_and_formulas_as_values() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("responses.xlsx");
    let mut book = Workbook::new();
    let notes = book.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write_string(0, 0, "exported 2021-07-01").unwrap();
    let sheet = book.add_worksheet();
    sheet.set_name("Responses").unwrap();
    for (c, h) in ["id", "respondent_type", "age", "text"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    sheet.write_number(1, 0, 101).unwrap();
    sheet.write_string(1, 1, "care_experienced").unwrap();
    sheet.write_number(1, 2, 19).unwrap();
    sheet
        .write_string(1, 3, "I was moved 11 times and lost my foster carer.")
        .unwrap();
    // Row 3 is empty; row 4 has a formula for age and text that looks like one.
    sheet.write_string(3, 0, "r4").unwrap();
    sheet
        .write_string(3, 1, "=HYPERLINK(\"http://x\")")
        .unwrap();
    sheet
        .write_formula(3, 2, Formula::new("=10+5").set_result("15"))
        .unwrap();
    sheet
        .write_string(3, 3, "Kinship care needs an allowance.")
        .unwrap();
    // A row without text is rejected with its spreadsheet row number.
    sheet.write_string(4, 0, "r5").unwrap();
    book.save(&path).unwrap();

    let out = dir.path().join("out");
    let assert = thematic()
        .args(["run", "--quiet", "--sheet", "Responses", "--out"])
        .arg(&out)
        .arg(&path)
        .assert()
        .code(1);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("read 3 records = 2 coded + 1 rejected"),
        "{stdout}"
    );
    let codes = read_jsonl(&out.join("codes.jsonl"));
    let ids: Vec<&str> = codes.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["101", "r4"]);
    assert!(
        codes[0]["themes"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("care"))
    );
    let rejects = read_jsonl(&out.join("rejects.jsonl"));
    assert_eq!(rejects[0]["line"], 5, "spreadsheet row number");
    let csv = std::fs::read_to_string(out.join("codes.csv")).unwrap();
    assert!(
        csv.contains("r4,\"'=HYPERLINK(\"\"http://x\"\")\",15,"),
        "formula-like text neutralised, formula cell read as its value: {csv}"
    );
    assert!(csv.contains("\n101,care_experienced,19,"), "{csv}");

    // Without --sheet the first sheet is read: a header row and nothing else.
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("out2"))
        .arg(&path)
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "read 0 records = 0 coded + 0 rejected",
        ));
    // A sheet that does not exist is a clear error naming the sheets.
    thematic()
        .args(["run", "--quiet", "--sheet", "Nope", "--out"])
        .arg(dir.path().join("out3"))
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "no sheet named `Nope`; the sheets are: Notes, Responses",
        ));
}

fn cell_number(cell: &Data) -> f64 {
    match cell {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn report_xlsx_counts_equal_themes_csv_and_codes_sum_up() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        thematic::corpus::BUNDLED_SAMPLE.to_owned()
            + "{\"id\":\"=cmd|' /C calc'!A0\",\"respondent_type\":\"=HYPERLINK(\\\"http://x\\\")\",\"text\":\"Foster care placements moved me.\"}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    run_ok(&input, &out);
    let mut book = open_workbook_auto(out.join("report.xlsx")).unwrap();
    assert_eq!(
        book.sheet_names(),
        ["Themes", "Codes", "Crosstab", "Quotes", "Campaigns"]
    );
    let themes = book.worksheet_range("Themes").unwrap();
    let mut from_xlsx: Vec<(String, u64)> = themes
        .rows()
        .skip(1)
        .take_while(|r| !matches!(r[0], Data::Empty))
        .map(|r| (r[0].to_string(), cell_number(&r[2]) as u64))
        .collect();
    from_xlsx.sort();
    let csv = std::fs::read_to_string(out.join("themes.csv")).unwrap();
    let mut from_csv: Vec<(String, u64)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[0].to_owned(), cells[2].parse().unwrap())
        })
        .collect();
    from_csv.sort();
    assert_eq!(from_xlsx, from_csv);

    // Codes: one row per response, column sums equal the theme counts.
    let codes = book.worksheet_range("Codes").unwrap();
    let header: Vec<String> = codes
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(codes.height() - 1, 201);
    for (theme, count) in &from_csv {
        let col = header.iter().position(|h| h == theme).unwrap();
        let sum: f64 = codes.rows().skip(1).map(|r| cell_number(&r[col])).sum();
        assert_eq!(sum as u64, *count, "{theme}");
    }
    // Formula-looking text stays a string, never a formula.
    let formulas = book.worksheet_formula("Codes").unwrap();
    assert!(
        formulas.used_cells().all(|(_, _, f)| f.is_empty()),
        "a formula was written"
    );
    let hyperlink_cell = codes
        .rows()
        .flat_map(|r| r.iter())
        .any(|c| matches!(c, Data::String(s) if s.starts_with("=HYPERLINK")));
    assert!(hyperlink_cell, "the attribute is kept as text");
}

/// The Codes sheet as text rows (numbers as integers), header included.
fn codes_sheet_rows(out: &std::path::Path) -> Vec<Vec<String>> {
    let mut book = open_workbook_auto(out.join("report.xlsx")).unwrap();
    let codes = book.worksheet_range("Codes").unwrap();
    codes
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Float(f) => format!("{}", *f as i64),
                    Data::Int(i) => i.to_string(),
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

fn codes_csv_rows(out: &std::path::Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(out.join("codes.csv")).unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    std::iter::once(header)
        .chain(
            reader
                .records()
                .map(|r| r.unwrap().iter().map(str::to_owned).collect()),
        )
        .collect()
}

/// What codes.csv must hold, from the input and codes.jsonl alone: per
/// response (in order of first unit), each attribute column's value and a 1
/// for each theme (per question when several) of any of its units.
fn check_codes_csv_against_units(
    name: &str,
    csv: &[Vec<String>],
    attributes: &std::collections::HashMap<String, Vec<(String, String)>>,
    units: &[serde_json::Value],
) {
    let header = &csv[0];
    let mut order: Vec<String> = Vec::new();
    let mut coded: std::collections::HashSet<(String, String)> = Default::default();
    for u in units {
        let id = u["id"].as_str().unwrap().to_owned();
        if !order.contains(&id) {
            order.push(id.clone());
        }
        for t in u["themes"].as_array().unwrap() {
            let q = u["question"].as_str().unwrap();
            coded.insert((id.clone(), t.as_str().unwrap().to_owned()));
            coded.insert((id.clone(), format!("{q}:{}", t.as_str().unwrap())));
        }
    }
    let ids: Vec<&String> = csv[1..].iter().map(|r| &r[0]).collect();
    assert_eq!(
        ids,
        order.iter().collect::<Vec<_>>(),
        "{name}: one row per response, in order"
    );
    let is_code = |h: &str| {
        let theme = h.rsplit(':').next().unwrap_or(h);
        crate::util::CARE_REVIEW_THEMES.contains(&theme)
    };
    for row in &csv[1..] {
        for (c, column) in header.iter().enumerate().skip(1) {
            let expected = if is_code(column) {
                let hit = coded.contains(&(row[0].clone(), column.clone()));
                (if hit { "1" } else { "0" }).to_owned()
            } else {
                attributes[&row[0]]
                    .iter()
                    .rev()
                    .find(|(k, _)| k == column)
                    .map_or_else(String::new, |(_, v)| v.clone())
            };
            assert_eq!(row[c], expected, "{name}: {} {column}", row[0]);
        }
    }
}

/// codes.csv and the Codes sheet are written while coding when the first
/// response's attributes hold for the whole corpus, and after the run when
/// a later response brings a new one (here `age`); with several questions
/// the columns are per question. Either way codes.csv holds what the input
/// and codes.jsonl say, and the sheet is codes.csv, cell for cell.
#[test]
fn codes_csv_and_the_codes_sheet_hold_every_response_whether_streamed_or_not() {
    let dir = TempDir::new().unwrap();
    let sample = thematic::corpus::BUNDLED_SAMPLE;
    let late_attribute = sample.to_owned()
        + "{\"id\":\"late\",\"respondent_type\":\"parent\",\"age\":\"41\",\"text\":\"Kinship carers need an allowance.\"}\n"
        + "{\"id\":\"after\",\"respondent_type\":\"parent\",\"text\":\"Ofsted should inspect more often.\"}\n";
    let several_questions = "id,respondent_type,q1,q2\n\
        a,parent,Kinship care needs support.,Ofsted inspections matter.\n\
        b,young_person,,My social worker left.\n\
        c,carer,Foster carers need respite.,\n";
    for (name, contents, extra) in [
        ("same.jsonl", sample.to_owned(), vec![]),
        ("late.jsonl", late_attribute, vec![]),
        (
            "questions.csv",
            several_questions.to_owned(),
            vec!["--text-field", "q1", "--text-field", "q2"],
        ),
    ] {
        let input = dir.path().join(name);
        std::fs::write(&input, &contents).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        thematic()
            .args(["run", "--quiet", "--out"])
            .arg(&out)
            .args(&extra)
            .arg(&input)
            .assert()
            .success();
        let attributes: std::collections::HashMap<String, Vec<(String, String)>> =
            if name.ends_with(".csv") {
                let mut r = csv::Reader::from_reader(contents.as_bytes());
                r.records()
                    .map(|rec| {
                        let rec = rec.unwrap();
                        (
                            rec[0].to_owned(),
                            vec![("respondent_type".to_owned(), rec[1].to_owned())],
                        )
                    })
                    .collect()
            } else {
                contents
                    .lines()
                    .map(|l| {
                        let v: serde_json::Value = serde_json::from_str(l).unwrap();
                        let attrs = v
                            .as_object()
                            .unwrap()
                            .iter()
                            .filter(|(k, _)| *k != "id" && *k != "text")
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect();
                        (v["id"].as_str().unwrap().to_owned(), attrs)
                    })
                    .collect()
            };
        let csv = codes_csv_rows(&out);
        check_codes_csv_against_units(
            name,
            &csv,
            &attributes,
            &read_jsonl(&out.join("codes.jsonl")),
        );
        let sheet = codes_sheet_rows(&out);
        assert_eq!(sheet, csv, "{name}: the sheet is codes.csv");
        if name == "late.jsonl" {
            assert!(
                csv[0].iter().any(|h| h == "age"),
                "the late attribute has its column"
            );
        }
    }
}
