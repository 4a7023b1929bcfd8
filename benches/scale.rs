//! The scale benchmark: `cargo bench --bench scale`.
//!
//! For each corpus size (default 100,000, 300,000 and 1,000,000; set
//! `THEMATIC_SCALE_SIZES=100000,300000` to choose) it generates the corpus
//! with `../shared/tools/synth.py --seed 1` (kept in `bench-data/`), then runs,
//! as child processes of the release binary, the full pipeline
//! (`thematic run`, every report) and the index-only baseline (`thematic
//! index-only`: same reader, schema and tokenizer, no coding or reports). It
//! prints wall time, docs/s, MB/s, peak RSS (from `wait4`'s rusage) and the
//! pipeline / index-only ratio, and the time and peak RSS of `thematic
//! code` re-coding the run. The machine's speed drifts by a third over
//! minutes, so each size runs the three commands in turn
//! `THEMATIC_SCALE_REPEATS` times (default 3 up to 300,000 responses, 1
//! above) and prints the medians.
//! Nothing here runs under `cargo test`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

mod common;

#[derive(Clone, Copy)]
struct Measure {
    wall: f64,
    peak_rss_mb: f64,
}

/// Median wall time and median peak RSS of repeated runs (taken apart).
fn median(runs: &[Measure]) -> Measure {
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Measure {
        wall: mid(runs.iter().map(|m| m.wall).collect()),
        peak_rss_mb: mid(runs.iter().map(|m| m.peak_rss_mb).collect()),
    }
}

/// Run a command, wait for it with `wait4` to read its peak RSS.
fn measure(cmd: &mut Command) -> Measure {
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn thematic");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    assert!(rc == pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) <= 1,
        "child failed: status {status}"
    );
    std::mem::forget(child);
    Measure {
        wall,
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared");
    if !shared.join("tools/synth.py").is_file() {
        eprintln!("skipped: ../shared/tools/synth.py is absent");
        return;
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_thematic"));
    let sizes: Vec<u64> = std::env::var("THEMATIC_SCALE_SIZES")
        .unwrap_or_else(|_| "100000,300000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("thematic scale benchmark ({cores} cores); corpora: synth.py --seed 1 --format jsonl");
    println!(
        "{:>9} {:>8} | {:>8} {:>9} {:>7} {:>9} | {:>8} {:>9} | {:>6} {:>9} | {:>7} {:>9}",
        "responses",
        "MB",
        "run s",
        "docs/s",
        "MB/s",
        "peak MB",
        "index s",
        "peak MB",
        "ratio",
        "µs/resp",
        "code s",
        "peak MB"
    );
    let tmp = std::env::temp_dir().join(format!("thematic-scale-{}", std::process::id()));
    for n in sizes {
        let input = common::synth_corpus(&root, &shared, n);
        let mb = std::fs::metadata(&input).unwrap().len() as f64 / 1e6;
        let out_run = tmp.join(format!("run-{n}"));
        let out_idx = tmp.join(format!("idx-{n}"));
        let repeats: usize = std::env::var("THEMATIC_SCALE_REPEATS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(if n <= 300_000 { 3 } else { 1 })
            .max(1);
        // `thematic COMMAND --quiet --out OUT [INPUT]`, timed.
        let thematic = |command: &str, out: &PathBuf, input: Option<&PathBuf>| {
            let mut cmd = Command::new(&bin);
            cmd.args([command, "--quiet", "--out"])
                .arg(out)
                .args(input)
                .stdout(std::process::Stdio::null());
            measure(&mut cmd)
        };
        let (mut runs, mut codes, mut idxs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..repeats {
            let _ = std::fs::remove_dir_all(&out_run);
            let _ = std::fs::remove_dir_all(&out_idx);
            runs.push(thematic("run", &out_run, Some(&input)));
            // Re-coding the run just made: no input read, no re-indexing.
            codes.push(thematic("code", &out_run, None));
            idxs.push(thematic("index-only", &out_idx, Some(&input)));
        }
        let (run, code, idx) = (median(&runs), median(&codes), median(&idxs));
        if repeats > 1 {
            let walls = |v: &[Measure]| {
                v.iter()
                    .map(|m| format!("{:.2}", m.wall))
                    .collect::<Vec<_>>()
                    .join("/")
            };
            eprintln!(
                "{n}: run {} s, code {} s, index-only {} s (medians below)",
                walls(&runs),
                walls(&codes),
                walls(&idxs)
            );
        }
        println!(
            "{:>9} {:>8.0} | {:>8.2} {:>9.0} {:>7.1} {:>9.0} | {:>8.2} {:>9.0} | {:>6.2} {:>9.1} | {:>7.2} {:>9.0}",
            n,
            mb,
            run.wall,
            n as f64 / run.wall,
            mb / run.wall,
            run.peak_rss_mb,
            idx.wall,
            idx.peak_rss_mb,
            run.wall / idx.wall,
            run.wall * 1e6 / n as f64,
            code.wall,
            code.peak_rss_mb
        );
        let _ = std::fs::remove_dir_all(&out_run);
        let _ = std::fs::remove_dir_all(&out_idx);
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
