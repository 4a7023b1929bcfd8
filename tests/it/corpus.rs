//! Reading responses: CSV and JSONL edge cases, rejects, file-level errors.

use proptest::prelude::*;
use tempfile::TempDir;
use thematic::corpus::{CorpusError, CorpusReader, InputSource, Item, ReadOptions, Record, Reject};

use crate::util::write;

fn read(path: &std::path::Path, options: ReadOptions) -> (Vec<Record>, Vec<Reject>) {
    let reader = CorpusReader::open(&[InputSource::File(path.to_owned())], options).expect("open");
    let mut records = Vec::new();
    let mut rejects = Vec::new();
    for item in reader {
        match item.expect("no fatal error") {
            Item::Record(r) => records.push(r),
            Item::Reject(r) => rejects.push(r),
        }
    }
    (records, rejects)
}

fn open_err(path: &std::path::Path) -> CorpusError {
    match CorpusReader::open(
        &[InputSource::File(path.to_owned())],
        ReadOptions::default(),
    ) {
        Ok(_) => panic!("expected an error for {}", path.display()),
        Err(e) => e,
    }
}

#[test]
fn csv_quoted_newlines_doubled_quotes_bom_and_crlf() {
    let dir = TempDir::new().unwrap();
    let csv = "\u{feff}id,respondent_type,text\r\n\
               a1,parent,\"Line one\r\nline two, with a comma\"\r\n\
               a2,charity,\"She said \"\"enough\"\" twice\"\r\n\
               a3,other,plain\r\n";
    let path = write(dir.path(), "r.csv", csv);
    let (records, rejects) = read(&path, ReadOptions::default());
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].id, "a1");
    assert_eq!(
        records[0].answers[0].as_deref(),
        Some("Line one\r\nline two, with a comma")
    );
    assert_eq!(
        records[1].answers[0].as_deref(),
        Some("She said \"enough\" twice")
    );
    assert_eq!(
        records[0].attributes,
        vec![("respondent_type".to_owned(), "parent".to_owned())]
    );
    assert_eq!(records[2].line, 5, "line numbers count physical lines");
}

#[test]
fn csv_ragged_row_is_rejected_and_neighbours_kept() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "r.csv",
        "id,text\n1,good\n2,bad,extra\n3,also good\n",
    );
    let (records, rejects) = read(&path, ReadOptions::default());
    assert_eq!(
        records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["1", "3"]
    );
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].line, 3);
    assert!(
        rejects[0].reason.contains("expected 2 fields"),
        "{}",
        rejects[0].reason
    );
}

#[test]
fn tsv_reads_with_tabs() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "r.tsv",
        "id\ttext\tregion\nx\thello, world\tLondon\n",
    );
    let (records, _) = read(&path, ReadOptions::default());
    assert_eq!(records[0].answers[0].as_deref(), Some("hello, world"));
    assert_eq!(records[0].attributes[0].1, "London");
}

#[test]
fn jsonl_broken_line_mid_file_is_rejected_with_its_line() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "r.jsonl",
        "{\"id\":\"a\",\"text\":\"one\"}\n{\"id\":\"b\",\"text\":\n{\"id\":\"c\",\"text\":\"three\"}\n",
    );
    let (records, rejects) = read(&path, ReadOptions::default());
    assert_eq!(
        records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a", "c"]
    );
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].line, 2);
    assert!(
        rejects[0]
            .reason
            .starts_with("not valid JSON at column 17: ")
            && !rejects[0].reason.contains("line 1"),
        "the reason names the column, not serde's line 1 of one line: {}",
        rejects[0].reason
    );
}

#[test]
fn jsonl_bad_text_values_duplicates_and_missing_ids() {
    let dir = TempDir::new().unwrap();
    let lines = [
        r#"{"id":"a","text":"fine","region":"London","score":3,"tags":["x","y"]}"#,
        r#"{"id":"b","text":42}"#,
        r#"{"id":"c","text":null}"#,
        r#"{"id":"d","text":["a"]}"#,
        r#"{"id":"e"}"#,
        r#"{"id":"a","text":"again"}"#,
        r#"{"text":"no id here"}"#,
        r#"{"id":"bad\nid","text":"x"}"#,
        r#"[1,2]"#,
    ];
    let path = write(dir.path(), "r.jsonl", lines.join("\n"));
    let (records, rejects) = read(&path, ReadOptions::default());
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let name = path.display().to_string();
    assert_eq!(
        ids,
        ["a".to_owned(), format!("{name}:7")]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        records[0].attributes,
        vec![
            ("region".to_owned(), "London".to_owned()),
            ("score".to_owned(), "3".to_owned()),
            ("tags".to_owned(), "x; y".to_owned()),
        ]
    );
    let reasons: Vec<(u64, &str)> = rejects
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 7, "{reasons:?}");
    assert!(reasons[0].1.contains("is a number"));
    assert!(reasons[1].1.contains("is null"));
    assert!(reasons[2].1.contains("is an array"));
    assert!(reasons[3].1.contains("no text field"));
    assert!(reasons[4].1.contains("duplicate id"));
    assert!(reasons[5].1.contains("line break"));
    assert!(reasons[6].1.contains("expected a JSON object"));
    assert_eq!(
        reasons.iter().map(|r| r.0).collect::<Vec<_>>(),
        [2, 3, 4, 5, 6, 8, 9]
    );
}

#[test]
fn invalid_utf8_in_one_record_only_rejects_that_record() {
    let dir = TempDir::new().unwrap();
    let mut bytes =
        b"{\"id\":\"a\",\"text\":\"ok\"}\n{\"id\":\"b\",\"text\":\"bad \xff\"}\n".to_vec();
    bytes.extend_from_slice(b"{\"id\":\"c\",\"text\":\"ok too\"}");
    let path = write(dir.path(), "r.jsonl", bytes);
    let (records, rejects) = read(&path, ReadOptions::default());
    assert_eq!(records.len(), 2);
    assert_eq!(rejects[0].line, 2);
    assert!(rejects[0].reason.contains("invalid UTF-8"));
}

#[test]
fn text_is_kept_as_written_and_ids_and_attributes_are_nfc() {
    // Evidence offsets point into the original text, so the text is not
    // normalised (the tokeniser normalises each word); ids and attribute
    // values, which are compared and grouped, are.
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "r.jsonl",
        "{\"id\":\"Rene\u{0301}\",\"region\":\"I\u{0302}le\",\"text\":\"e\u{0301}cole\"}\n",
    );
    let (records, _) = read(&path, ReadOptions::default());
    assert_eq!(records[0].answers[0].as_deref(), Some("e\u{0301}cole"));
    assert_eq!(records[0].id, "Ren\u{e9}");
    assert_eq!(
        records[0].attributes,
        [("region".to_owned(), "\u{ce}le".to_owned())]
    );
}

#[test]
fn several_text_fields_become_questions() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "r.csv",
        "id,q1,q2,region\n1,first answer,second answer,London\n2,,only the second,North East\n",
    );
    let options = ReadOptions {
        id_field: "id".into(),
        text_fields: vec!["q1".into(), "q2".into()],
        ..ReadOptions::default()
    };
    let (records, rejects) = read(&path, options);
    assert!(rejects.is_empty());
    assert_eq!(
        records[0].answers,
        vec![Some("first answer".into()), Some("second answer".into())]
    );
    assert_eq!(
        records[1].answers,
        vec![Some(String::new()), Some("only the second".into())]
    );
    assert_eq!(
        records[1].attributes,
        vec![("region".into(), "North East".into())]
    );
}

#[test]
fn unusable_files_are_clear_errors() {
    let dir = TempDir::new().unwrap();
    let gz = write(dir.path(), "r.jsonl", [0x1f, 0x8b, 8, 0, 0, 0]);
    assert!(matches!(open_err(&gz), CorpusError::Gzip { .. }));
    let utf16 = write(dir.path(), "u.csv", [0xff, 0xfe, b'i', 0, b'd', 0]);
    assert!(matches!(open_err(&utf16), CorpusError::Utf16 { .. }));
    let array = write(dir.path(), "a.jsonl", "\u{feff}  [{\"id\":1}]");
    let err = open_err(&array);
    assert!(
        err.to_string()
            .contains("this is a JSON array; expected one object per line")
    );
    // Pretty-printed JSON: read line by line it gave one reject per line.
    let pretty = write(
        dir.path(),
        "p.json",
        "{\n  \"id\": \"1\",\n  \"text\": \"foster care\"\n}\n{\n  \"id\": \"2\", \"text\": \"ok\"\n}\n",
    );
    assert!(matches!(open_err(&pretty), CorpusError::PrettyJson { .. }));
    let opened_on_one_line = write(
        dir.path(),
        "q.jsonl",
        "  {\"id\": \"1\",\n  \"text\": \"foster care\"}\n",
    );
    let err = open_err(&opened_on_one_line);
    assert!(err.to_string().contains("jq -c ."), "{err}");
    let unknown = write(dir.path(), "r.docx", "x");
    assert!(matches!(
        open_err(&unknown),
        CorpusError::UnknownFormat { .. }
    ));
    let missing = dir.path().join("nope.jsonl");
    let err = open_err(&missing);
    assert!(err.to_string().contains("nope.jsonl"));
    assert!(matches!(err, CorpusError::NotFound { .. }));
}

/// Reads through the CLI's exit code and stderr: header problems must stop
/// the run before anything is written.
fn run_fails(dir: &std::path::Path, file: &str, extra: &[&str]) -> String {
    let out = dir.join("out");
    let assert = crate::util::thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(dir.join(file))
        .args(extra)
        .assert()
        .code(2);
    assert!(!out.exists(), "nothing is written, not even the directory");
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

#[test]
fn a_quote_never_closed_rejects_the_rows_it_swallowed_and_names_its_line() {
    let dir = TempDir::new().unwrap();
    let csv = "id,text\n0,kept before\n1,\"foster care is\n2,placement\n3,ok\n";
    let path = write(dir.path(), "r.csv", csv);
    let (records, rejects) = read(&path, ReadOptions::default());
    assert_eq!(records.len(), 1, "the row before is kept");
    assert_eq!(records[0].id, "0");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0].line, 3);
    assert!(
        rejects[0]
            .reason
            .contains("quote opened on line 3 is never closed")
            && rejects[0].reason.contains("lines 3-5"),
        "{}",
        rejects[0].reason
    );
    // In a TSV an answer that merely starts with a quote does the same.
    let tsv = "id\ttext\n1\t\"Foster care\" is what I said\n2\t\"I was moved\n3\tok\n";
    let path = write(dir.path(), "r.tsv", tsv);
    let (records, rejects) = read(&path, ReadOptions::default());
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].answers[0].as_deref(),
        Some("Foster care is what I said")
    );
    assert_eq!((rejects.len(), rejects[0].line), (1, 3));
}

#[test]
fn a_header_that_never_closes_its_quote_is_an_error_that_does_not_print_the_file() {
    let dir = TempDir::new().unwrap();
    let mut csv = String::from("id,\"text\n");
    for i in 0..500 {
        csv.push_str(&format!("{i},a response that must not be printed {i}\n"));
    }
    write(dir.path(), "r.csv", csv);
    let stderr = run_fails(dir.path(), "r.csv", &[]);
    assert!(
        stderr.contains("r.csv: line 1: a quote opened here is never closed"),
        "{stderr}"
    );
    assert!(!stderr.contains("must not be printed"), "{stderr}");
}

#[test]
fn a_column_named_twice_or_a_text_field_missing_from_the_header_stops_the_run() {
    let dir = TempDir::new().unwrap();
    write(
        dir.path(),
        "dup.csv",
        "id,text,region,text\n1,foster care,London,second\n",
    );
    let stderr = run_fails(dir.path(), "dup.csv", &[]);
    assert!(
        stderr.contains("columns 2 and 4 are both named `text`"),
        "{stderr}"
    );
    // A misspelt second question would otherwise become an attribute.
    write(
        dir.path(),
        "two.csv",
        "id,text,q2\n1,foster care,placement\n",
    );
    let stderr = run_fails(
        dir.path(),
        "two.csv",
        &["--text-field", "text", "--text-field", "q2typo"],
    );
    assert!(
        stderr.contains("no column named `q2typo` (columns: id, text, q2)"),
        "{stderr}"
    );
}

#[test]
fn a_quoted_first_field_after_a_bom_is_no_unclosed_quote() {
    let dir = TempDir::new().unwrap();
    let csv = "\u{feff}\"note, quoted\",text\n1,hello there\n2,another reply";
    let path = write(dir.path(), "r.csv", csv);
    let (records, rejects) = read(&path, ReadOptions::default());
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].line, 3);
}

#[test]
fn old_mac_line_ends_are_line_ends() {
    let dir = TempDir::new().unwrap();
    let csv = "text,region\rfoster care,London\rplacement,North,extra\rok,South\r";
    let path = write(dir.path(), "r.csv", csv);
    let (records, rejects) = read(&path, ReadOptions::default());
    let lines: Vec<u64> = records.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 4]);
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert!(
        ids[0].ends_with("r.csv:2") && ids[1].ends_with("r.csv:4"),
        "fallback ids differ by line: {ids:?}"
    );
    assert_eq!((rejects.len(), rejects[0].line), (1, 3));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes never panic the JSONL or CSV reader; every non-blank
    /// line becomes a record or a reject.
    #[test]
    fn readers_never_panic_and_account_for_every_line(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let dir = TempDir::new().unwrap();
        for name in ["x.jsonl", "x.csv"] {
            let path = write(dir.path(), name, &bytes);
            if let Ok(reader) = CorpusReader::open(&[InputSource::File(path)], ReadOptions::default()) {
                let mut seen = 0usize;
                for item in reader {
                    if item.is_err() { break; }
                    seen += 1;
                }
                if name.ends_with("jsonl") {
                    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
                    let lines = body
                        .split(|b| *b == b'\n')
                        .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
                        .count();
                    prop_assert_eq!(seen, lines);
                }
            }
        }
    }

    /// Whatever mix of `\n`, `\r\n` and `\r` ends the lines, and however
    /// many quoted fields span lines, every record and every reject carries
    /// the physical line it starts on.
    #[test]
    fn csv_lines_are_counted_whatever_ends_them(
        rows in proptest::collection::vec((0usize..3, 0usize..3, any::<bool>()), 1..40)
    ) {
        const ENDS: [&str; 3] = ["\n", "\r\n", "\r"];
        let dir = TempDir::new().unwrap();
        let mut csv = String::from("id,text\n");
        let mut line = 2u64;
        let mut expected = Vec::new();
        for (i, &(end, inner_end, ragged)) in rows.iter().enumerate() {
            // Every third row's text spans two lines inside quotes.
            let text = if i % 3 == 0 {
                format!("\"first{}second\"", ENDS[inner_end])
            } else {
                format!("word{i}")
            };
            let extra = if ragged { ",extra" } else { "" };
            csv.push_str(&format!("r{i},{text}{extra}{}", ENDS[end]));
            expected.push((format!("r{i}"), line, ragged));
            line += 1 + u64::from(i % 3 == 0);
        }
        let path = write(dir.path(), "p.csv", &csv);
        let (records, rejects) = read(&path, ReadOptions::default());
        let want_records: Vec<(String, u64)> = expected.iter().filter(|e| !e.2).map(|e| (e.0.clone(), e.1)).collect();
        let got_records: Vec<(String, u64)> = records.iter().map(|r| (r.id.clone(), r.line)).collect();
        prop_assert_eq!(got_records, want_records);
        let want_rejects: Vec<u64> = expected.iter().filter(|e| e.2).map(|e| e.1).collect();
        let got_rejects: Vec<u64> = rejects.iter().map(|r| r.line).collect();
        prop_assert_eq!(got_rejects, want_rejects);
    }
}

/// The csv crate skips blank lines itself, and a one-column row `""` came
/// out as one empty field, which the reader took for a blank line: the
/// response was dropped and not counted. A quoted field, however empty,
/// is a record (an empty answer, as `1,` is in a two-column file); a line
/// of spaces is still blank. The csv crate also placed the record after
/// blank lines at the first of them, so its line was wrong.
#[test]
fn a_quoted_empty_row_in_a_one_column_csv_is_a_record() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "r.csv",
        "text\nfoster care\n\"\"\n   \n\n\" \"\r\n\r\nplacement\n",
    );
    let (records, rejects) = read(&path, ReadOptions::default());
    assert!(rejects.is_empty(), "{rejects:?}");
    let got: Vec<(u64, Option<&str>)> = records
        .iter()
        .map(|r| (r.line, r.answers[0].as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (2, Some("foster care")),
            (3, Some("")),
            (6, Some(" ")),
            (8, Some("placement")),
        ]
    );
    // In a two-column file a lone `""` is a row of one field: a reject,
    // not skipped; blank lines before a row do not shift its line.
    let path = write(
        dir.path(),
        "two.csv",
        "id,text\n1,foster care\n\n\n2,b,extra\n\"\"\n3,\n",
    );
    let (records, rejects) = read(&path, ReadOptions::default());
    let lines: Vec<u64> = rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, [5, 6], "{rejects:?}");
    assert_eq!(
        records
            .iter()
            .map(|r| (r.id.as_str(), r.line, r.answers[0].as_deref()))
            .collect::<Vec<_>>(),
        [("1", 2, Some("foster care")), ("3", 7, Some(""))]
    );
    // Through the run: counted like any empty answer.
    let out = dir.path().join("out");
    crate::util::thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(dir.path().join("r.csv"))
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "read 4 records = 4 coded + 0 rejected",
        ));
}
/// Standard input is sniffed as a file is: gzip, UTF-16, a ZIP, a JSON
/// array and pretty-printed JSON are refused with the files' messages
/// (they were read line by line into rejects), before the output
/// directory exists; the bytes sniffed are read again as records.
#[test]
fn stdin_is_sniffed_like_a_file() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    let cases: [(&[u8], &str); 5] = [
        (
            &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
            "<stdin>: this is a gzip-compressed file; decompress it first (… | gunzip -c | thematic run -)",
        ),
        (
            &[0xff, 0xfe, b'{', 0, b'}', 0, b'\n', 0],
            "<stdin>: this file is UTF-16 encoded; re-save it as UTF-8",
        ),
        (b"PK\x03\x04rest", "<stdin>: this is a ZIP archive"),
        (
            b"\xef\xbb\xbf [{\"id\":\"1\",\"text\":\"a\"}]\n",
            "<stdin>: this is a JSON array; expected one object per line (JSONL). Convert it with: … | jq -c '.[]' | thematic run -",
        ),
        (
            b"{\n  \"id\": \"1\",\n  \"text\": \"foster care\"\n}\n",
            "<stdin>: its first JSON object spans several lines",
        ),
    ];
    for (bytes, message) in cases {
        let assert = crate::util::thematic()
            .args(["run", "--quiet", "--out"])
            .arg(&out)
            .arg("-")
            .write_stdin(bytes)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains(message), "{message}: {stderr}");
        assert!(!out.exists(), "{message}: nothing is written");
    }
    // More than the sniffed prefix, after a BOM: every line is read once.
    let mut jsonl = String::from("\u{feff}");
    for i in 0..3000 {
        jsonl.push_str(&format!(
            "{{\"id\":\"r{i}\",\"text\":\"a response about foster care, number {i}\"}}\n"
        ));
    }
    assert!(jsonl.len() > 1 << 17);
    crate::util::thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg("-")
        .write_stdin(jsonl)
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "read 3000 records = 3000 coded + 0 rejected",
        ));
    let codes = crate::util::read_jsonl(&out.join("codes.jsonl"));
    assert_eq!(codes.len(), 3000);
    assert_eq!(codes[0]["id"], "r0");
    assert_eq!(codes[2999]["id"], "r2999");
}

/// `thematic run --quiet --out OUT ARGS...`, its exit code checked; stderr.
fn run_code_with(out: &std::path::Path, args: &[&std::ffi::OsStr], code: i32) -> String {
    let assert = crate::util::thematic()
        .args(["run", "--quiet", "--out"])
        .arg(out)
        .args(args)
        .assert()
        .code(code);
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}
/// An `--id-field` the header lacks stops the run before anything is
/// written, naming the file, the column and the columns there are: it
/// silently numbered every response FILE:LINE. The default `id` may be
/// absent (FILE:LINE ids, as ever); a named id column's empty cell is a
/// reject, not a made-up id.
#[test]
fn an_explicit_id_field_missing_from_the_header_stops_the_run() {
    let dir = TempDir::new().unwrap();
    let csv = write(
        dir.path(),
        "r.csv",
        "ref,text,region\n1,foster care,London\n",
    );
    let stderr = run_fails(dir.path(), "r.csv", &["--id-field", "respondent"]);
    assert!(
        stderr.contains("r.csv: no column named `respondent`, which --id-field names (columns: ref, text, region)"),
        "{stderr}"
    );
    write(dir.path(), "r.tsv", "ref\ttext\n1\tfoster care\n");
    let stderr = run_fails(dir.path(), "r.tsv", &["--id-field", "respondent"]);
    assert!(
        stderr.contains("r.tsv: no column named `respondent`"),
        "{stderr}"
    );

    let out = dir.path().join("default");
    crate::util::run_ok(&csv, &out);
    let codes = crate::util::read_jsonl(&out.join("codes.jsonl"));
    assert!(
        codes[0]["id"].as_str().unwrap().ends_with("r.csv:2"),
        "the default id field may be absent: {}",
        codes[0]["id"]
    );

    let named = write(
        dir.path(),
        "n.csv",
        "ref,text\n1,foster care\n,no id typed in\n3,placement\n",
    );
    let out = dir.path().join("named");
    run_code_with(
        &out,
        &[named.as_os_str(), "--id-field".as_ref(), "ref".as_ref()],
        1,
    );
    let ids: Vec<String> = crate::util::read_jsonl(&out.join("codes.jsonl"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["1", "3"]);
    let rejects = crate::util::read_jsonl(&out.join("rejects.jsonl"));
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["line"], 3);
    assert!(
        rejects[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("id field `ref` is empty, and --id-field names it"),
        "{}",
        rejects[0]["reason"]
    );
}
/// JSONL has no header: a record without the field `--id-field` names (or
/// with it null or empty) is a reject naming its line, not a response
/// numbered FILE:LINE among the real ids. Without `--id-field` such
/// records still get FILE:LINE ids.
#[test]
fn jsonl_records_without_an_explicitly_named_id_are_rejects() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "r.jsonl",
        [
            r#"{"ref":"a","text":"foster care"}"#,
            r#"{"text":"no ref here"}"#,
            r#"{"ref":null,"text":"a null ref"}"#,
            r#"{"ref":"  ","text":"a blank ref"}"#,
            r#"{"ref":7,"text":"placement"}"#,
        ]
        .join("\n"),
    );
    let out = dir.path().join("out");
    run_code_with(
        &out,
        &[path.as_os_str(), "--id-field".as_ref(), "ref".as_ref()],
        1,
    );
    let ids: Vec<String> = crate::util::read_jsonl(&out.join("codes.jsonl"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["a", "7"]);
    let rejects: Vec<(u64, String)> = crate::util::read_jsonl(&out.join("rejects.jsonl"))
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rejects.iter().map(|r| r.0).collect::<Vec<_>>(),
        [2, 3, 4],
        "{rejects:?}"
    );
    assert!(
        rejects[0]
            .1
            .starts_with("no id field `ref`, and --id-field names it; give this record its id"),
        "{}",
        rejects[0].1
    );
    assert!(
        rejects[1].1.starts_with("id field `ref` is empty"),
        "{}",
        rejects[1].1
    );

    let out = dir.path().join("default");
    run_code_with(&out, &[path.as_os_str()], 0);
    let coded = crate::util::read_jsonl(&out.join("codes.jsonl"));
    assert_eq!(coded.len(), 5, "without --id-field every record is coded");
}
