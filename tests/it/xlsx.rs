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

    // Without --sheet the first sheet is read: its one row is its header,
    // which has no text column, an input error as in CSV.
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("out2"))
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "no column named `text` (columns: exported 2021-07-01)",
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

/// A workbook of `rows` (strings, or numbers when they parse as one) from
/// row 1, column A; `None` leaves a cell empty.
fn workbook(path: &std::path::Path, rows: &[&[Option<&str>]]) -> Workbook {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let Some(cell) = cell else { continue };
            match cell.parse::<f64>() {
                Ok(n) => sheet.write_number(r as u32, c as u16, n).unwrap(),
                Err(_) => sheet.write_string(r as u32, c as u16, *cell).unwrap(),
            };
        }
    }
    book.save(path).unwrap();
    book
}

/// `thematic run --quiet --out OUT INPUT` with its exit code checked;
/// stdout and stderr.
fn run_code(input: &std::path::Path, out: &std::path::Path, code: i32) -> (String, String) {
    let assert = thematic()
        .args(["run", "--quiet", "--out"])
        .arg(out)
        .arg(input)
        .assert()
        .code(code);
    let output = assert.get_output();
    (
        String::from_utf8(output.stdout.clone()).unwrap(),
        String::from_utf8(output.stderr.clone()).unwrap(),
    )
}

fn reject_reasons(out: &std::path::Path) -> Vec<(u64, String)> {
    read_jsonl(&out.join("rejects.jsonl"))
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn coded_ids(out: &std::path::Path) -> Vec<String> {
    let mut ids: Vec<String> = read_jsonl(&out.join("codes.jsonl"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    ids.dedup();
    ids
}

/// One value at XFD1048576, the last cell a sheet has, stretches the used
/// area to 2^34 cells: a grid of it aborted the process ("memory
/// allocation of 549755813888 bytes failed"). Read cell by cell, the value
/// is one more row, rejected for having no header, at its row number.
#[test]
fn a_value_in_the_last_cell_of_a_sheet_is_a_reject_not_a_crash() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("far.xlsx");
    let mut book = workbook(
        &path,
        &[
            &[Some("id"), Some("text")],
            &[Some("a"), Some("Foster care moved me.")],
            &[Some("b"), Some("Kinship carers need an allowance.")],
        ],
    );
    book.worksheet_from_index(0)
        .unwrap()
        .write_string(1_048_575, 16_383, "stray")
        .unwrap();
    book.save(&path).unwrap();
    assert!(
        std::fs::metadata(&path).unwrap().len() < 20_000,
        "a small file"
    );

    let out = dir.path().join("out");
    let (stdout, stderr) = run_code(&path, &out, 1);
    assert!(
        stdout.contains("read 3 records = 2 coded + 1 rejected"),
        "{stdout}{stderr}"
    );
    assert_eq!(coded_ids(&out), ["a", "b"]);
    let rejects = reject_reasons(&out);
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].0, 1_048_576, "the spreadsheet row");
    assert!(
        rejects[0]
            .1
            .contains("beyond the 2 named columns (in column XFD)"),
        "{rejects:?}"
    );
}

/// The header ends at its last name: a value right of it, or under an
/// empty header cell between names, rejects its row (both were dropped,
/// the row coded without them). Blank cells there are nothing.
#[test]
fn values_beside_or_beyond_the_header_are_rejects_not_dropped() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("gaps.xlsx");
    workbook(
        &path,
        &[
            &[Some("id"), None, Some("text")],
            &[Some("r2"), None, Some("Foster care moved me.")],
            &[Some("r3"), Some("stray"), Some("Kinship care.")],
            &[Some("r4"), None, Some("Ofsted inspections."), Some("extra")],
            &[
                Some("r5"),
                Some("  "),
                Some("Social workers left."),
                Some(" "),
            ],
        ],
    );
    let out = dir.path().join("out");
    let (stdout, _) = run_code(&path, &out, 1);
    assert!(
        stdout.contains("read 4 records = 2 coded + 2 rejected"),
        "{stdout}"
    );
    assert_eq!(coded_ids(&out), ["r2", "r5"]);
    let rejects = reject_reasons(&out);
    assert_eq!(rejects[0].0, 3);
    assert_eq!(
        rejects[0].1,
        "row has a value in column B, which has no header; give it a header"
    );
    assert_eq!(rejects[1].0, 4);
    assert!(
        rejects[1]
            .1
            .starts_with("row has values beyond the 2 named columns (in column D)"),
        "{rejects:?}"
    );
}

/// A header without the text column, or with a name twice, is an input
/// error as in CSV: exit 2, and the previous run's outputs stay as they were
/// (it used to reject every row, exit 1, and replace them).
#[test]
fn a_header_without_the_text_column_or_with_a_name_twice_is_an_input_error() {
    let dir = TempDir::new().unwrap();
    let good = dir.path().join("good.xlsx");
    workbook(
        &good,
        &[
            &[Some("id"), Some("text")],
            &[Some("a"), Some("Foster care moved me.")],
        ],
    );
    let out = dir.path().join("out");
    run_ok(&good, &out);
    let listing = |out: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = (
        listing(&out),
        std::fs::read(out.join("codes.jsonl")).unwrap(),
    );

    let misnamed = dir.path().join("misnamed.xlsx");
    workbook(
        &misnamed,
        &[
            &[Some("id"), Some("answer")],
            &[Some("a"), Some("Foster care moved me.")],
        ],
    );
    let (_, stderr) = run_code(&misnamed, &out, 2);
    assert!(
        stderr.contains("no column named `text` (columns: id, answer)"),
        "{stderr}"
    );

    let twice = dir.path().join("twice.xlsx");
    workbook(
        &twice,
        &[
            &[Some("id"), Some("text"), Some("id")],
            &[Some("a"), Some("Foster care moved me."), Some("b")],
        ],
    );
    let (_, stderr) = run_code(&twice, &out, 2);
    assert!(
        stderr.contains("columns 1 and 3 are both named `id`"),
        "{stderr}"
    );

    let after = (
        listing(&out),
        std::fs::read(out.join("codes.jsonl")).unwrap(),
    );
    assert!(before == after, "the previous outputs were touched");
}

/// In a text column a number is its text, as CSV reads it (it was
/// rejected as "a number"); numbers elsewhere are still numbers. An error
/// cell there rejects its row naming the error (it read as null).
#[test]
fn a_number_in_a_text_column_is_text_and_an_error_cell_is_named() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("cells.xlsx");
    let mut book = workbook(
        &path,
        &[
            &[Some("id"), Some("age"), Some("text")],
            &[Some("7"), Some("19"), Some("12345")],
            &[Some("8"), Some("20"), None],
        ],
    );
    book.worksheet_from_index(0)
        .unwrap()
        .write_formula(2, 2, Formula::new("=NA()").set_result("#N/A"))
        .unwrap();
    book.save(&path).unwrap();
    let out = dir.path().join("out");
    let (stdout, _) = run_code(&path, &out, 1);
    assert!(
        stdout.contains("read 2 records = 1 coded + 1 rejected"),
        "{stdout}"
    );
    assert_eq!(coded_ids(&out), ["7"]);
    let csv = std::fs::read_to_string(out.join("codes.csv")).unwrap();
    assert!(csv.contains("\n7,19,"), "{csv}");
    let rejects = reject_reasons(&out);
    assert_eq!(rejects[0].0, 3);
    assert!(
        rejects[0]
            .1
            .contains("text field `text`: cell C3 has the error #N/A"),
        "{rejects:?}"
    );
}

/// An OpenDocument spreadsheet of `rows`, then one `far` value after
/// `gap` empty rows and `indent` empty cells (repeats, so the file is small).
fn ods(path: &std::path::Path, rows: &[&[&str]], far: Option<(u32, u32, &str)>) {
    use std::io::Write;
    let cell = |v: &str| match v.parse::<f64>() {
        Ok(_) => format!(
            "<table:table-cell office:value-type=\"float\" office:value=\"{v}\"><text:p>{v}</text:p></table:table-cell>"
        ),
        Err(_) if v.is_empty() => "<table:table-cell/>".to_owned(),
        Err(_) => format!(
            "<table:table-cell office:value-type=\"string\"><text:p>{v}</text:p></table:table-cell>"
        ),
    };
    let mut table = String::new();
    for row in rows {
        table.push_str("<table:table-row>");
        for v in *row {
            table.push_str(&cell(v));
        }
        table.push_str("</table:table-row>");
    }
    if let Some((gap, indent, v)) = far {
        table.push_str(&format!(
            "<table:table-row table:number-rows-repeated=\"{gap}\"><table:table-cell/></table:table-row>\
             <table:table-row><table:table-cell table:number-columns-repeated=\"{indent}\"/>{}</table:table-row>",
            cell(v)
        ));
    }
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
         xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\">\
         <office:body><office:spreadsheet><table:table table:name=\"Responses\">{table}</table:table>\
         </office:spreadsheet></office:body></office:document-content>"
    );
    let manifest = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.2\">\
        <manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/>\
        <manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/>\
        </manifest:manifest>";
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, body) in [
        ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
        ("META-INF/manifest.xml", manifest),
        ("content.xml", content.as_str()),
    ] {
        zip.start_file(name, stored).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

/// `.ods` (and `.xls`) have no cell-by-cell reader: calamine builds their
/// grid. Read as workbooks are (row numbers, empty rows, the header's
/// width), and a grid stretched far beyond its values by a stray one is
/// refused, naming it, rather than walked.
#[test]
fn an_ods_sheet_reads_like_a_workbook_and_one_stretched_by_a_far_value_is_refused() {
    let dir = TempDir::new().unwrap();
    let rows: &[&[&str]] = &[
        &["id", "age", "text"],
        &["a", "19", "Foster care moved me."],
        &[],
        &["b", "", ""],
        &["c", "20", "Kinship carers.", "extra"],
    ];
    let path = dir.path().join("responses.ods");
    ods(&path, rows, None);
    let out = dir.path().join("out");
    let (stdout, stderr) = run_code(&path, &out, 1);
    assert!(
        stdout.contains("read 3 records = 1 coded + 2 rejected"),
        "{stdout}{stderr}"
    );
    assert_eq!(coded_ids(&out), ["a"]);
    let rejects = reject_reasons(&out);
    assert_eq!(rejects[0].0, 4);
    assert_eq!(rejects[1].0, 5);
    assert!(rejects[1].1.contains("(in column D)"), "{rejects:?}");

    // 5,000 rows by 301 columns for 12 values.
    let far = dir.path().join("far.ods");
    ods(&far, rows, Some((4_994, 300, "stray")));
    let (_, stderr) = run_code(&far, &dir.path().join("out-far"), 2);
    assert!(
        stderr.contains("sheet `Responses` spans A1:KO5000 (1505000 cells), for only 12 values"),
        "{stderr}"
    );
    assert!(stderr.contains("its far values are at KO5000"), "{stderr}");
}

/// A workbook's header is checked when the inputs are opened, as a CSV's
/// is: a name twice, a missing text column or a missing `--id-field`
/// column stops the run before the output directory exists (it was
/// checked once reading began, leaving an empty new `--out` behind). The
/// workbook is then read whole, header and rows.
#[test]
fn a_workbook_header_error_leaves_no_new_output_directory() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("new-out");
    type Case<'a> = (&'a str, &'a [&'a [Option<&'a str>]], &'a [&'a str], &'a str);
    let cases: [Case; 3] = [
        (
            "twice.xlsx",
            &[
                &[Some("id"), Some("text"), Some("id")],
                &[Some("a"), Some("Foster care moved me."), Some("b")],
            ],
            &[],
            "twice.xlsx: columns 1 and 3 are both named `id`",
        ),
        (
            "misnamed.xlsx",
            &[
                &[Some("id"), Some("answer")],
                &[Some("a"), Some("Foster care moved me.")],
            ],
            &[],
            "misnamed.xlsx: no column named `text` (columns: id, answer)",
        ),
        (
            "noref.xlsx",
            &[
                &[Some("id"), Some("text"), Some("region")],
                &[Some("a"), Some("Foster care moved me."), Some("North")],
            ],
            &["--id-field", "ref"],
            "noref.xlsx: no column named `ref`, which --id-field names (columns: id, text, region)",
        ),
    ];
    for (name, rows, flags, message) in cases {
        let path = dir.path().join(name);
        workbook(&path, rows);
        let assert = thematic()
            .args(["run", "--quiet", "--out"])
            .arg(&out)
            .arg(&path)
            .args(flags)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains(message), "{message}: {stderr}");
        assert!(!out.exists(), "{name}: the new --out directory was created");
    }
    // A good workbook after a CSV: both read, the workbook opened twice.
    let good = dir.path().join("good.xlsx");
    workbook(
        &good,
        &[
            &[Some("ref"), Some("text")],
            &[Some("w1"), Some("Foster care moved me.")],
            &[Some("w2"), Some("Kinship carers need support.")],
        ],
    );
    let csv = dir.path().join("first.csv");
    std::fs::write(&csv, "ref,text\nc1,placement moves\n").unwrap();
    thematic()
        .args(["run", "--quiet", "--id-field", "ref", "--out"])
        .arg(&out)
        .arg(&good)
        .arg(&csv)
        .arg(&good)
        .assert()
        .code(1);
    assert_eq!(coded_ids(&out), ["w1", "w2", "c1"]);
    assert_eq!(
        reject_reasons(&out).len(),
        2,
        "the second copy's ids are duplicates"
    );
}
