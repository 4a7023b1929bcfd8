//! The campaign-detection cost benchmark: `cargo bench --bench campaign`.
//!
//! Near-duplicate detection is two steps inside the pipeline: a MinHash
//! signature per unit (computed on the rayon workers, from tokens the
//! pipeline already has) and the grouping (LSH buckets + union-find, serial,
//! at the end). This times both on the synthetic corpus (default 1,000,000
//! responses; `THEMATIC_CAMPAIGN_N` to change) with the machine's threads,
//! so the figure can be set against the pipeline's wall time from
//! `cargo bench --bench scale`. Tokenising is timed too, but it is not part
//! of the cost: the pipeline tokenises once for everything.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;
use thematic::report::campaign::{Signature, find_groups};
use thematic::text::Tokeniser;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let n: u64 = std::env::var("THEMATIC_CAMPAIGN_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let input = root.join(format!("bench-data/synth-{n}.jsonl"));
    let Ok(file) = std::fs::File::open(&input) else {
        eprintln!(
            "skipped: {} is absent (run `cargo bench --bench scale` or synth.py first)",
            input.display()
        );
        return;
    };
    let texts: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l).ok()?;
            v["text"].as_str().map(str::to_owned)
        })
        .collect();
    let tokeniser = Tokeniser::shared();
    let start = Instant::now();
    let tokens: Vec<_> = texts.par_iter().map(|t| tokeniser.tokenise(t)).collect();
    let tokenise_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let sigs: Vec<Signature> = tokens.par_iter().map(Signature::of).collect();
    let signature_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let groups = find_groups(&sigs, 0.8);
    let group_s = start.elapsed().as_secs_f64();
    let grouped: usize = groups.iter().map(Vec::len).sum();
    println!(
        "campaign detection on {} responses ({} threads): signatures {:.2} s (parallel), \
         grouping {:.2} s (bands in parallel), total {:.2} s; {} groups holding {} responses \
         (tokenising, shared with the whole pipeline: {:.2} s)",
        texts.len(),
        rayon::current_num_threads(),
        signature_s,
        group_s,
        signature_s + group_s,
        groups.len(),
        grouped,
        tokenise_s
    );
}
