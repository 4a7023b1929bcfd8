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
