//! What the benches share: the synthetic corpora they measure on.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `bench-data/synth-N.jsonl`, made with `../shared/tools/synth.py --n N
/// --seed 1 --format jsonl` the first time it is asked for.
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
