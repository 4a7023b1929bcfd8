//! Reliability: awkward inputs, exit codes, atomic outputs, locking and
//! determinism. Each test asserts the exact behaviour.

use std::path::{Path, PathBuf};
use std::time::Duration;

use predicates::prelude::*;
use tempfile::TempDir;

use crate::util::{read_jsonl, thematic, write};

const COMPARED: &[&str] = &[
    "codes.jsonl",
    "codes.csv",
    "themes.csv",
    "report.json",
    "summary.md",
    "report.html",
    "report.xlsx",
    "units.bin",
    "rejects.jsonl",
    "restricted/flagged.jsonl",
];

fn run(input: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    thematic()
        .args(["run", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .arg(input)
        .assert()
}

fn snapshot(out: &Path) -> Vec<(String, Vec<u8>)> {
    COMPARED
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")),
            )
        })
        .collect()
}

/// A synthetic corpus made here, so the test needs nothing from ../shared.
fn synthetic(dir: &Path, n: usize) -> PathBuf {
    let phrases = [
        "My foster carer moved me six times and nobody asked me.",
        "There is not enough funding for early help in our council.",
        "Ofsted should inspect how councils listen to children.",
        "Kinship carers need the same support as foster carers.",
        "Social workers have caseloads that are far too high.",
        "Children in care need stable placements and people who love them.",
    ];
    let mut s = String::with_capacity(n * 120);
    for i in 0..n {
        let a = phrases[i % phrases.len()];
        let b = phrases[(i * 7 + 3) % phrases.len()];
        s.push_str(&format!(
            "{{\"id\":\"s{i}\",\"respondent_type\":\"{}\",\"text\":\"{a} {b} Response number {i}.\"}}\n",
            ["parent", "social_worker", "care_experienced"][i % 3]
        ));
    }
    write(dir, "synthetic.jsonl", s)
}

#[test]
fn empty_file_and_header_only_csv_code_nothing_and_exit_0() {
    let dir = TempDir::new().unwrap();
    for (name, body) in [("empty.jsonl", ""), ("header.csv", "id,text\r\n")] {
        let input = write(dir.path(), name, body);
        let out = dir.path().join(format!("out-{name}"));
        run(&input, &out, &[])
            .success()
            .stdout(predicate::str::contains(
                "read 0 records = 0 coded + 0 rejected",
            ));
        assert_eq!(
            std::fs::read_to_string(out.join("codes.jsonl")).unwrap(),
            ""
        );
        assert!(out.join("report.html").is_file());
    }
}

#[test]
fn truncated_last_line_and_missing_final_newline() {
    let dir = TempDir::new().unwrap();
    let input = write(
        dir.path(),
        "t.jsonl",
        "{\"id\":\"a\",\"text\":\"fine\"}\n{\"id\":\"b\",\"text\":\"cut off",
    );
    let out = dir.path().join("out");
    run(&input, &out, &[]).code(1);
    let rejects = read_jsonl(&out.join("rejects.jsonl"));
    assert_eq!(rejects[0]["line"], 2);
    assert!(rejects[0]["reason"].as_str().unwrap().contains("truncated"));
    let input = write(
        dir.path(),
        "n.jsonl",
        "{\"id\":\"a\",\"text\":\"one\"}\n{\"id\":\"b\",\"text\":\"two\"}",
    );
    run(&input, &dir.path().join("out2"), &[])
        .success()
        .stdout(predicate::str::contains("2 coded + 0 rejected"));
}

#[test]
fn bom_crlf_and_nul_bytes() {
    let dir = TempDir::new().unwrap();
    let input = write(
        dir.path(),
        "b.jsonl",
        "\u{feff}{\"id\":\"a\",\"text\":\"with BOM\"}\r\n{\"id\":\"b\",\"text\":\"escaped nul \\u0000 here\"}\r\n{\"id\":\"c\",\"text\":\"raw nul \u{0} here\"}\r\n",
    );
    let out = dir.path().join("out");
    run(&input, &out, &[])
        .code(1)
        .stdout(predicate::str::contains(
            "read 3 records = 2 coded + 1 rejected",
        ));
    let rejects = read_jsonl(&out.join("rejects.jsonl"));
    assert_eq!(
        rejects[0]["line"], 3,
        "a raw control character is not valid JSON"
    );
    let csv = write(dir.path(), "n.csv", "id,text\r\nx,has a \u{0} nul\r\n");
    run(&csv, &dir.path().join("out2"), &[]).success();
}

#[test]
fn gzip_and_json_array_inputs_say_what_they_are() {
    let dir = TempDir::new().unwrap();
    let gz = write(dir.path(), "r.jsonl", [0x1f, 0x8b, 8, 0, 1, 2, 3]);
    run(&gz, &dir.path().join("o1"), &[])
        .code(2)
        .stderr(predicate::str::contains("gzip"));
    let arr = write(dir.path(), "a.jsonl", "[{\"id\":\"1\",\"text\":\"x\"}]");
    run(&arr, &dir.path().join("o2"), &[])
        .code(2)
        .stderr(predicate::str::contains(
            "this is a JSON array; expected one object per line",
        ));
    let utf16 = write(dir.path(), "u.csv", [0xff, 0xfe, b'i', 0]);
    run(&utf16, &dir.path().join("o3"), &[])
        .code(2)
        .stderr(predicate::str::contains("UTF-16"));
    assert!(!dir.path().join("o1").exists() && !dir.path().join("o2").exists());
}

#[test]
fn a_10_mb_response_is_coded_with_correct_offsets() {
    let dir = TempDir::new().unwrap();
    let filler = "word ".repeat(2_000_000);
    let text = format!("{filler}and then there was foster care at the very end");
    let line = serde_json::json!({"id": "big", "text": text}).to_string();
    let input = write(dir.path(), "big.jsonl", line);
    let codebook = write(
        dir.path(),
        "cb.toml",
        "[[theme]]\nid = \"care\"\nkeywords = [\"foster care\"]\n",
    );
    let out = dir.path().join("out");
    run(&input, &out, &["--codebook", codebook.to_str().unwrap()]).success();
    let codes = read_jsonl(&out.join("codes.jsonl"));
    let care = codes[0]["evidence"]["care"]
        .as_array()
        .expect("care evidence");
    let ev = care
        .iter()
        .find(|e| e["text"] == "foster care")
        .expect("foster care evidence");
    let start = ev["start"].as_u64().unwrap() as usize;
    assert_eq!(start, filler.chars().count() + "and then there was ".len());
}

#[test]
fn many_tiny_records_all_counted() {
    let dir = TempDir::new().unwrap();
    let mut s = String::new();
    for i in 0..100_000 {
        s.push_str(&format!("{{\"id\":{i},\"text\":\"ok\"}}\n"));
    }
    let input = write(dir.path(), "tiny.jsonl", s);
    run(&input, &dir.path().join("out"), &[])
        .success()
        .stdout(predicate::str::contains(
            "read 100000 records = 100000 coded + 0 rejected",
        ));
}

#[test]
fn outputs_are_identical_across_thread_counts_and_runs() {
    let dir = TempDir::new().unwrap();
    let input = synthetic(dir.path(), 3000);
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let c = dir.path().join("c");
    run(&input, &a, &["--threads", "1"]).success();
    run(&input, &b, &["--threads", "2"]).success();
    run(&input, &c, &["--threads", "2"]).success();
    assert_eq!(snapshot(&a), snapshot(&b), "--threads 1 vs 2");
    assert_eq!(snapshot(&b), snapshot(&c), "two runs");
}

#[test]
fn killed_run_leaves_previous_outputs_whole_and_rerun_matches() {
    let dir = TempDir::new().unwrap();
    let small = synthetic(dir.path(), 50);
    let out = dir.path().join("out");
    run(&small, &out, &[]).success();
    let before = snapshot(&out);
    // A larger corpus whose run is killed part-way.
    let big_dir = dir.path().join("big");
    std::fs::create_dir_all(&big_dir).unwrap();
    let big = synthetic(&big_dir, 150_000);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("thematic"))
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&big)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let finished_early = child.try_wait().unwrap().is_some();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    if !finished_early {
        assert_eq!(
            snapshot(&out),
            before,
            "previous outputs changed by a killed run"
        );
        let index = thematic::index::open(&out.join("index")).expect("previous index opens");
        assert_eq!(index.num_docs(), 50);
    }
    // The rerun takes over the stale lock and equals an uninterrupted run.
    run(&big, &out, &[]).success();
    let fresh = dir.path().join("fresh");
    run(&big, &fresh, &[]).success();
    assert_eq!(snapshot(&out), snapshot(&fresh));
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_second_run_into_a_locked_directory_is_refused() {
    let dir = TempDir::new().unwrap();
    let input = synthetic(dir.path(), 10);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // A lock held by a live process (this test).
    std::fs::write(out.join(".thematic.lock"), std::process::id().to_string()).unwrap();
    run(&input, &out, &[])
        .code(2)
        .stderr(predicate::str::contains("another thematic command"))
        .stderr(predicate::str::contains(std::process::id().to_string()));
    assert!(!out.join("codes.jsonl").exists());
}

#[test]
fn an_unwritable_output_directory_is_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let input = synthetic(dir.path(), 10);
    let blocker = write(dir.path(), "not-a-dir", "x");
    run(&input, &blocker.join("out"), &[])
        .code(2)
        .stderr(predicate::str::contains(
            "cannot write the output directory",
        ));
}

#[test]
fn control_and_bidi_characters_cannot_spoof_outputs() {
    let dir = TempDir::new().unwrap();
    let text = "Foster care \u{202E}evil\u{202C} and children's homes \u{200B} and placement moves \u{1b}[31mred";
    let line =
        serde_json::json!({"id": "x\u{202E}y", "respondent_type": "a\u{2066}b", "text": text})
            .to_string();
    let input = write(dir.path(), "s.jsonl", line);
    let out = dir.path().join("out");
    run(&input, &out, &[]).code(predicate::in_iter([0, 1]));
    for f in ["summary.md", "report.html", "codes.csv", "themes.csv"] {
        let body = std::fs::read_to_string(out.join(f)).unwrap();
        for bad in ['\u{202E}', '\u{2066}', '\u{200B}', '\u{1b}'] {
            assert!(!body.contains(bad), "{f} contains {bad:?}");
        }
    }
    // The stored text is kept intact.
    let index = thematic::index::open(&out.join("index")).unwrap();
    let units = index.all_units().unwrap();
    assert!(units.iter().any(|u| u.text == text));
}

/// Unmounts the small tmpfs when the test ends, however it ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_previous_outputs_whole() {
    let dir = TempDir::new().unwrap();
    let disk = dir.path().join("small-disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=400k", "tmpfs"])
        .arg(&disk)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root and mount rights)");
        return;
    }
    let _unmount = Mounted(disk.clone());
    let out = disk.join("out");
    let inputs = dir.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let small = synthetic(&inputs, 5);
    run(&small, &out, &[]).success();
    let before = snapshot(&out);

    let big_dir = dir.path().join("big");
    std::fs::create_dir(&big_dir).unwrap();
    let big = synthetic(&big_dir, 20_000);
    let failed = run(&big, &out, &[]).code(2).get_output().clone();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("No space left on device") && stderr.contains(&*out.to_string_lossy()),
        "unclear error: {stderr}"
    );
    assert_eq!(snapshot(&out), before, "previous outputs changed");
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging or lock left behind: {leftovers:?}"
    );
}
