//! A plain harness for counting the coding hot path's instructions and
//! mispredicted branches under cachegrind, whose counts do not move with
//! the machine's load (timings here drift by a third within minutes).
//!
//! `cargo bench --bench coding_instructions -- PHASE REPS` runs one phase
//! (`tokenise`, `classify` on pre-tokenised texts, `both`, or `big`: both
//! with the 5,000-keyword codebook) REPS times over
//! the same 2,000 responses as the criterion `coding` bench, and prints its
//! best time. `benches/scripts/instructions.sh` runs it under cachegrind
//! with 3 and with 6 repetitions and prints the difference per byte of
//! text: the steady-state cost, free of set-up and first-pass warm-up.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use thematic::classify::Classifier;
use thematic::codebook::Codebook;
use thematic::text::Tokeniser;

mod common;

fn main() {
    // `cargo bench` passes `--bench`; the phase and count are the others.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let phase = args.first().map_or("both", String::as_str).to_owned();
    let reps: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(15);

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("bench-data/synth-100000.jsonl"))
        .unwrap_or_else(|_| thematic::corpus::BUNDLED_SAMPLE.to_owned());
    let texts: Vec<String> = source
        .lines()
        .take(2000)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let tokeniser = Tokeniser::shared();
    let classifier = Classifier::new(Codebook::default_care_review().unwrap()).unwrap();
    let tokenised: Vec<_> = texts.iter().map(|t| tokeniser.tokenise(t)).collect();
    let big =
        (phase == "big").then(|| Classifier::new(common::big_codebook(&texts, 5000)).unwrap());

    let run = || match phase.as_str() {
        "tokenise" => texts.iter().for_each(|t| {
            black_box(tokeniser.tokenise(t));
        }),
        "classify" => texts.iter().zip(&tokenised).for_each(|(t, k)| {
            black_box(classifier.classify(t, k));
        }),
        "both" => texts.iter().for_each(|t| {
            let k = tokeniser.tokenise(t);
            black_box(classifier.classify(t, &k));
        }),
        "big" => {
            let big = big.as_ref().expect("built for this phase");
            texts.iter().for_each(|t| {
                let k = tokeniser.tokenise(t);
                black_box(big.classify(t, &k));
            })
        }
        // Set-up only (what the script subtracts is the same either way).
        _ => {}
    };
    let best = (0..reps)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min);
    println!(
        "{phase}: {bytes} bytes, best of {reps}: {:.2} ns/byte, {:.1} MiB/s",
        best * 1e9 / bytes as f64,
        bytes as f64 / best / 1048576.0
    );
}
