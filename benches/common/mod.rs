//! What the benches share: the synthetic corpora they measure on, and the
//! 5,000-keyword codebook the coding benches compare the default with.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `bench-data/synth-N.jsonl`, made with `../shared/tools/synth.py --n N
/// --seed 1 --format jsonl` the first time it is asked for.
#[allow(dead_code)] // not every bench that shares this module uses it
pub fn synth_corpus(root: &Path, shared: &Path, n: u64) -> PathBuf {
    let path = root.join(format!("bench-data/synth-{n}.jsonl"));
    if !path.exists() {
        std::fs::create_dir_all(path.parent().expect("bench-data/ has a parent"))
            .expect("create bench-data/");
        eprintln!("generating {} ...", path.display());
        let ok = Command::new("python3")
            .arg(shared.join("tools/synth.py"))
            .args([
                "--n",
                &n.to_string(),
                "--seed",
                "1",
                "--format",
                "jsonl",
                "--out",
            ])
            .arg(&path)
            .status()
            .expect("python3");
        assert!(ok.success(), "synth.py failed");
    }
    path
}

/// A codebook of `n` keywords over 50 themes, from words of the texts plus
/// made-up phrases, so most keywords are real candidates.
#[allow(dead_code)] // not every bench that shares this module uses it
pub fn big_codebook(texts: &[String], n: usize) -> thematic::codebook::Codebook {
    let mut words: Vec<String> = texts
        .iter()
        .flat_map(|t| {
            t.split_whitespace().map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase()
            })
        })
        .filter(|w| w.len() > 3 && w.chars().all(char::is_alphabetic))
        .collect();
    words.sort();
    words.dedup();
    let mut toml = String::from("name = \"big\"\n");
    let per_theme = n / 50;
    for t in 0..50 {
        toml.push_str(&format!("[[theme]]\nid = \"t{t}\"\nkeywords = [\n"));
        for k in 0..per_theme {
            let i = t * per_theme + k;
            let w = &words[i % words.len()];
            let item = match i % 4 {
                0 => w.clone(),
                1 => format!("{w} {}", words[(i * 7 + 3) % words.len()]),
                2 => format!("{}*", &w[..w.len().min(5)]),
                _ => format!("zz{i} {w}"),
            };
            toml.push_str(&format!("  {item:?},\n"));
        }
        toml.push_str("]\n");
    }
    thematic::codebook::Codebook::from_toml(&toml, "big").expect("valid big codebook")
}
