//! Helpers shared by the test modules.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The `thematic` binary.
pub fn thematic() -> Command {
    let mut cmd = Command::cargo_bin("thematic").expect("binary built");
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

/// `../shared` beside the project, or `None` with a printed reason.
pub fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if dir.join("gold/dev.jsonl").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared/gold/dev.jsonl is absent (a fresh clone has no shared/)");
        None
    }
}

pub fn gold_dev() -> Option<PathBuf> {
    shared().map(|s| s.join("gold/dev.jsonl"))
}

pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write fixture");
    path
}

pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid json line"))
        .collect()
}

/// A codebook from TOML text, panicking with the validation message.
pub fn codebook(toml: &str) -> thematic::codebook::Codebook {
    thematic::codebook::Codebook::from_toml(toml, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// Theme ids assigned to `text` by a codebook.
pub fn themes_of(classifier: &thematic::classify::Classifier, text: &str) -> Vec<String> {
    let tokens = thematic::text::Tokeniser::shared().tokenise(text);
    let coding = classifier.classify(text, &tokens);
    coding
        .themes
        .iter()
        .map(|h| classifier.codebook().themes[h.code].id.clone())
        .collect()
}

/// `thematic run --quiet --out OUT INPUT`, which must succeed.
pub fn run_ok(input: &Path, out: &Path) {
    run_ok_with(input, out, &[]);
}

/// `run_ok` with extra flags, such as `--text-field q1 --text-field q2`.
pub fn run_ok_with(input: &Path, out: &Path, flags: &[&str]) {
    thematic()
        .args(["run", "--quiet"])
        .args(flags)
        .arg("--out")
        .arg(out)
        .arg(input)
        .assert()
        .success();
}

/// The review's seven theme ids, in the default codebook's order.
pub const CARE_REVIEW_THEMES: [&str; 7] = [
    "support",
    "strengthening_families",
    "safety",
    "care",
    "delivery",
    "sustainability",
    "accountability",
];
