//! The command line end to end: outputs, counts line, exit codes.

use predicates::prelude::*;
use tempfile::TempDir;

use crate::util::{gold_dev, read_jsonl, thematic, write};

const OUTPUT_FILES: &[&str] = &[
    "index/meta.json",
    "codes.jsonl",
    "codes.csv",
    "themes.csv",
    "report.json",
    "summary.md",
    "report.html",
    "report.xlsx",
    "rejects.jsonl",
    "restricted/flagged.jsonl",
];

#[test]
fn run_without_inputs_codes_the_bundled_sample() {
    let dir = TempDir::new().unwrap();
    let out = thematic()
        .current_dir(dir.path())
        .args(["run", "--quiet"])
        .assert()
        .success()
        .stdout(predicate::str::contains("coded + 0 rejected"))
        .stdout(predicate::str::contains("thematic-out/summary.md"))
        .stdout(predicate::str::contains("thematic-out/report.html"))
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8(out).unwrap();
    let out_dir = dir.path().join("thematic-out");
    for f in OUTPUT_FILES {
        assert!(out_dir.join(f).exists(), "missing {f}");
    }
    let codes = read_jsonl(&out_dir.join("codes.jsonl"));
    let sample_lines = thematic::corpus::BUNDLED_SAMPLE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_eq!(codes.len(), sample_lines);
    assert!(stdout.contains(&format!(
        "read {sample_lines} records = {sample_lines} coded"
    )));
    assert!(
        codes
            .iter()
            .any(|c| !c["themes"].as_array().unwrap().is_empty())
    );
    // No staging or lock left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn gold_dev_reads_all_400_with_attributes() {
    let Some(gold) = gold_dev() else { return };
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&gold)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "read 400 records = 400 coded + 0 rejected",
        ));
    let csv = std::fs::read_to_string(out.join("codes.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for attr in ["respondent_type", "region", "question"] {
        assert!(
            header.split(',').any(|h| h == attr),
            "codes.csv header lacks {attr}: {header}"
        );
    }
    assert_eq!(csv.lines().count(), 401);
}

#[test]
fn broken_jsonl_line_exits_1_and_is_listed() {
    let dir = TempDir::new().unwrap();
    let input = write(
        dir.path(),
        "in.jsonl",
        "{\"id\":\"a\",\"text\":\"foster care was good\"}\nnot json at all\n{\"id\":\"c\",\"text\":\"more\"}\n",
    );
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&input)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "read 3 records = 2 coded + 1 rejected",
        ));
    let rejects = read_jsonl(&out.join("rejects.jsonl"));
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["line"], 2);
    assert_eq!(rejects[0]["file"], input.display().to_string());
    assert!(
        rejects[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not valid JSON")
    );
    assert_eq!(read_jsonl(&out.join("codes.jsonl")).len(), 2);
}

#[test]
fn missing_file_exits_2_naming_it_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(dir.path().join("absent.jsonl"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("absent.jsonl: no such file"));
    assert!(!out.exists());
}

#[test]
fn several_inputs_are_one_corpus_and_stdin_works() {
    let dir = TempDir::new().unwrap();
    let a = write(dir.path(), "a.jsonl", "{\"id\":\"1\",\"text\":\"one\"}\n");
    let b = write(dir.path(), "b.csv", "id,text\n2,two\n1,dup of one\n");
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&a)
        .arg(&b)
        .arg("-")
        .write_stdin("{\"id\":\"3\",\"text\":\"three\"}\n")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "read 4 records = 3 coded + 1 rejected",
        ));
    let ids: Vec<String> = read_jsonl(&out.join("codes.jsonl"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
}

#[test]
fn bad_codebook_exits_2_before_writing() {
    let dir = TempDir::new().unwrap();
    let cb = write(
        dir.path(),
        "cb.toml",
        "name = \"x\"\n[[theme]]\nid = \"care\"\nkeywords = [\"foster\"]\n  [[theme.rule]]\n  id = \"r1\"\n  regex = '(unclosed'\n",
    );
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--codebook"])
        .arg(&cb)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cb.toml:7:"))
        .stderr(predicate::str::contains(
            "theme `care`, rule `r1`: invalid regex",
        ));
    assert!(!out.exists());
}

/// `thematic search … | head -1`: output closed early ends the command
/// quietly with a documented exit code, not a panic (exit 101).
#[test]
fn output_closed_early_is_not_a_panic() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    let lines: String = (0..2000)
        .map(|i| format!("{{\"id\":\"r{i}\",\"text\":\"Foster care support for family {i} and their children.\"}}\n"))
        .collect();
    let input = write(dir.path(), "r.jsonl", lines);
    crate::util::run_ok(&input, &out);
    // Hits far beyond what a pipe holds (64 KiB), so a write fails once
    // the reader is gone, however late it goes.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("thematic"))
        .args(["search", "--json", "--limit", "2000", "--out"])
        .arg(&out)
        .arg("foster")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_by_attribute_the_responses_lack_is_a_warning_naming_those_they_have() {
    let dir = TempDir::new().unwrap();
    let input = write(
        dir.path(),
        "in.jsonl",
        "{\"id\":\"a\",\"region\":\"North\",\"text\":\"foster care\"}\n",
    );
    let out = dir.path().join("out");
    let run = |by: &str| {
        let output = thematic()
            .args(["run", "--quiet", "--by", by, "--out"])
            .arg(&out)
            .arg(&input)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8(output.stderr).unwrap()
    };
    let stderr = run("regoin");
    assert!(
        stderr.contains(
            "warning: --by regoin: no attribute of that name in the responses (attributes: region)"
        ),
        "{stderr}"
    );
    assert!(!run("region").contains("warning"));
}

/// Standard output already closed when the command starts: `run` still
/// exits 1 for its rejects, `report` 0 as it always does.
#[test]
fn closed_stdout_keeps_each_command_s_own_exit_code() {
    let dir = TempDir::new().unwrap();
    let input = write(
        dir.path(),
        "in.jsonl",
        "{\"id\":\"a\",\"text\":\"foster care\"}\nnot json\n",
    );
    let out = dir.path().join("out");
    let exit_with_closed_stdout = |args: &[&std::ffi::OsStr]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("thematic"))
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        output.status.code()
    };
    let run: [&std::ffi::OsStr; 5] = [
        "run".as_ref(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        input.as_os_str(),
    ];
    assert_eq!(exit_with_closed_stdout(&run), Some(1));
    let report: [&std::ffi::OsStr; 4] = [
        "report".as_ref(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    assert_eq!(exit_with_closed_stdout(&report), Some(0));
}

#[test]
fn evidence_offsets_slice_the_text_as_written_even_with_decomposed_accents() {
    let dir = TempDir::new().unwrap();
    let codebook = write(
        dir.path(),
        "cb.toml",
        "name = \"t\"\nversion = \"1\"\n[[theme]]\nid = \"care\"\nlabel = \"Care\"\n\
         keywords = [\"caf\u{e9}\", \"foster care\"]\n",
    );
    // Two decomposed accents before "foster care": in NFC it would start
    // two chars earlier.
    let text = "Rene\u{301}e and Jose\u{301} met at a cafe\u{301}; foster care came later.";
    let input = write(
        dir.path(),
        "in.jsonl",
        format!("{}\n", serde_json::json!({"id": "a", "text": text})),
    );
    let out = dir.path().join("out");
    thematic()
        .args(["run", "--quiet", "--codebook"])
        .arg(&codebook)
        .arg("--out")
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let chars: Vec<char> = text.chars().collect();
    let codes = read_jsonl(&out.join("codes.jsonl"));
    let spans = codes[0]["evidence"]["care"].as_array().unwrap();
    let slices: Vec<(String, String)> = spans
        .iter()
        .map(|e| {
            let (start, end) = (e["start"].as_u64().unwrap(), e["end"].as_u64().unwrap());
            let slice: String = chars[start as usize..end as usize].iter().collect();
            (slice, e["text"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        slices,
        [
            ("cafe\u{301}".to_owned(), "cafe\u{301}".to_owned()),
            ("foster care".to_owned(), "foster care".to_owned()),
        ]
    );
}
