//! Criterion benches for the hot path of coding, single-threaded: the
//! tokeniser, the keyword matcher, and per-response coding (tokenise + match
//! and rules) with the default codebook and with a 5,000-keyword codebook.
//!
//! Inputs: the first 2,000 responses of `bench-data/synth-100000.jsonl` (made
//! by `cargo bench --bench scale` or synth.py), else the bundled sample.
//! Throughput is reported in bytes of response text per second. At the end,
//! the 5,000-keyword codebook's cost over the default's is measured in
//! interleaved rounds and printed (issue #4's ≤ 1.5× target).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group};

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use thematic::classify::Classifier;
use thematic::codebook::Codebook;
use thematic::text::Tokeniser;

mod common;
use common::big_codebook;

fn texts() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let synth = root.join("bench-data/synth-100000.jsonl");
    let source = std::fs::read_to_string(&synth)
        .unwrap_or_else(|_| thematic::corpus::BUNDLED_SAMPLE.to_owned());
    source
        .lines()
        .take(2000)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect()
}

fn bench(c: &mut Criterion) {
    let texts = texts();
    let bytes: usize = texts.iter().map(String::len).sum();
    let tokeniser = Tokeniser::shared();
    let default = Classifier::new(Codebook::default_care_review().unwrap()).unwrap();
    let big = Classifier::new(big_codebook(&texts, 5000)).unwrap();

    let mut g = c.benchmark_group("coding");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("tokenise", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(tokeniser.tokenise(t));
            }
        })
    });
    let tokenised: Vec<_> = texts.iter().map(|t| tokeniser.tokenise(t)).collect();
    g.bench_function("classify_default_pretokenised", |b| {
        b.iter(|| {
            for (t, toks) in texts.iter().zip(&tokenised) {
                black_box(default.classify(t, toks));
            }
        })
    });
    g.bench_function("tokenise_and_classify_default", |b| {
        b.iter(|| {
            for t in &texts {
                let toks = tokeniser.tokenise(t);
                black_box(default.classify(t, &toks));
            }
        })
    });
    g.bench_function("tokenise_and_classify_5000_keywords", |b| {
        b.iter(|| {
            for t in &texts {
                let toks = tokeniser.tokenise(t);
                black_box(big.classify(t, &toks));
            }
        })
    });
    g.finish();
}

/// The 5,000-keyword codebook's cost over the default's, measured in
/// alternation: criterion runs the two benches seconds apart, and this
/// machine's speed drifts by a third within minutes, so their quotient
/// moved between 1.1 and 1.7 from one invocation to the next. Each round
/// times one pass over the texts with each codebook back to back (order
/// alternating); the median of the rounds' quotients is printed.
fn interleaved_keyword_ratio() {
    const ROUNDS: usize = 21;
    let texts = texts();
    let tokeniser = Tokeniser::shared();
    let default = Classifier::new(Codebook::default_care_review().unwrap()).unwrap();
    let big = Classifier::new(big_codebook(&texts, 5000)).unwrap();
    let pass = |classifier: &Classifier| {
        let started = std::time::Instant::now();
        for t in &texts {
            let toks = tokeniser.tokenise(t);
            black_box(classifier.classify(t, &toks));
        }
        started.elapsed().as_secs_f64()
    };
    // Warm the caches of both.
    pass(&default);
    pass(&big);
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            if round % 2 == 0 {
                let d = pass(&default);
                pass(&big) / d
            } else {
                let b = pass(&big);
                b / pass(&default)
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "5,000 keywords / default codebook, tokenise + classify, {ROUNDS} interleaved rounds: \
         median {:.2}x (min {:.2}x, max {:.2}x)",
        ratios[ROUNDS / 2],
        ratios[0],
        ratios[ROUNDS - 1]
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    // Always (about ten seconds), whatever criterion filter is given.
    interleaved_keyword_ratio();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
