//! The search benchmark: `cargo bench --bench search`.
//!
//! Codes the 1,000,000-response synthetic corpus once (cached in
//! `bench-data/run-N/`; set `THEMATIC_SEARCH_N` for another size), then runs
//! 20 representative queries — words, phrases, boolean, prefix, NEAR, with
//! and without theme/attribute filters — and prints, per query, the median
//! in-process latency (`Searcher::search`, 15 repetitions after a warm-up)
//! and the median whole-command time (`thematic search`, 5 runs). Nothing
//! here runs under `cargo test`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use thematic::search::{SearchSettings, Searcher};

mod common;

/// (query, themes required, attribute filters).
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

const QUERIES: &[Case] = &[
    ("ofsted", &[], &[]),
    ("\"kinship care\"", &[], &[]),
    ("\"staying put\"", &[], &[]),
    ("funding", &[], &[]),
    ("placement*", &[], &[]),
    ("adopt*", &[], &[]),
    ("NEAR/5(social worker)", &[], &[]),
    ("NEAR/3(foster placement)", &[], &[]),
    ("ofsted AND inspection", &[], &[]),
    ("kinship OR grandparents", &[], &[]),
    ("\"care leavers\" -housing", &[], &[]),
    ("(therapy OR camhs) AND waiting", &[], &[]),
    ("\"children's homes\" profit*", &[], &[]),
    ("caseload*", &["delivery"], &[]),
    ("ofsted", &["accountability"], &[]),
    (
        "\"care leavers\"",
        &[],
        &[("respondent_type", "care_experienced")],
    ),
    ("funding", &["sustainability"], &[("region", "London")]),
    ("theme:safety police", &[], &[]),
    ("respondent_type:social_worker paperwork", &[], &[]),
    ("=Ofsted", &[], &[("question", "questions_to_ask")]),
];

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn ensure_run(root: &Path, shared: &Path, bin: &Path, n: u64) -> PathBuf {
    let input = common::synth_corpus(root, shared, n);
    let data = root.join("bench-data");
    let out = data.join(format!("run-{n}"));
    // A run cached by an older thematic may not open (its units.bin or
    // index in an earlier layout): code the corpus again rather than fail.
    if !out.join("run.json").exists() || Searcher::open(&out).is_err() {
        eprintln!("coding {} into {} ...", input.display(), out.display());
        let ok = Command::new(bin)
            .args(["run", "--quiet", "--out"])
            .arg(&out)
            .arg(&input)
            .stdout(Stdio::null())
            .status()
            .expect("thematic run");
        assert!(ok.success(), "thematic run failed");
    }
    out
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared");
    if !shared.join("tools/synth.py").is_file() {
        eprintln!("skipped: ../shared/tools/synth.py is absent");
        return;
    }
    let n: u64 = std::env::var("THEMATIC_SEARCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_thematic"));
    let out = ensure_run(&root, &shared, &bin, n);
    let searcher = Searcher::open(&out).expect("open the index");
    println!(
        "thematic search benchmark: {n} responses, index in {}",
        out.display()
    );
    println!(
        "{:<50} {:>9} {:>12} {:>12}",
        "query [filters]", "hits", "in-proc ms", "command ms"
    );
    let mut in_process = Vec::new();
    let mut command = Vec::new();
    for (query, themes, filters) in QUERIES {
        let settings = SearchSettings {
            query: query.to_string(),
            themes: themes.iter().map(|t| t.to_string()).collect(),
            filters: filters
                .iter()
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .collect(),
            question: None,
            limit: 10,
            redact: true,
        };
        let hits = searcher.search(&settings).expect("query runs").summary.hits;
        let times: Vec<f64> = (0..15)
            .map(|_| {
                let start = Instant::now();
                let r = searcher.search(&settings).expect("query runs");
                std::hint::black_box(r);
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let in_ms = median(times);
        let mut args = vec![
            "search".to_owned(),
            "--out".to_owned(),
            out.display().to_string(),
        ];
        args.push(query.to_string());
        for t in *themes {
            args.extend(["--theme".to_owned(), t.to_string()]);
        }
        for (f, v) in *filters {
            args.extend(["--where".to_owned(), format!("{f}={v}")]);
        }
        let runs: Vec<f64> = (0..5)
            .map(|_| {
                let start = Instant::now();
                let ok = Command::new(&bin)
                    .args(&args)
                    .stdout(Stdio::null())
                    .status()
                    .expect("thematic search");
                assert!(ok.success(), "thematic search {args:?} failed");
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let cmd_ms = median(runs);
        let label = format!("{query} {themes:?} {filters:?}");
        println!("{label:<50} {hits:>9} {in_ms:>12.2} {cmd_ms:>12.1}");
        in_process.push(in_ms);
        command.push(cmd_ms);
    }
    println!(
        "median over {} queries: in-process {:.2} ms, whole command {:.1} ms",
        QUERIES.len(),
        median(in_process),
        median(command)
    );
}
