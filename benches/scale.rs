//! The scale benchmark: `cargo bench --bench scale`.
//!
//! For each corpus size (default 100,000, 300,000 and 1,000,000; set
//! `THEMATIC_SCALE_SIZES=100000,300000` to choose) it generates the corpus
//! with `../shared/tools/synth.py --seed 1` (kept in `bench-data/`), then runs,
//! as child processes of the release binary, the full pipeline
//! (`thematic run`, every report) and the index-only baseline (`thematic
//! index-only`: same reader, schema and tokenizer, no coding or reports). It
//! prints wall time, docs/s, MB/s, peak RSS and CPU time (user + system, from
//! `wait4`'s rusage), the pipeline / index-only ratio in wall and in CPU
//! time, and the time and peak RSS of `thematic code` re-coding the run.
//!
//! The machine's speed drifts by a third over minutes, so the sizes are
//! measured in *rounds*: each round runs every size once, smallest first,
//! and `THEMATIC_SCALE_ROUNDS` rounds (default 3; `THEMATIC_SCALE_REPEATS`
//! is its older name) give each size its medians. A slow spell then falls on every size alike instead of on
//! whichever size was being measured, which is what the linearity line at
//! the end (time per response against the sizes' mean) needs.
//! Nothing here runs under `cargo test`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

mod common;

#[derive(Clone, Copy)]
struct Measure {
    wall: f64,
    /// User + system CPU seconds of the child.
    cpu: f64,
    peak_rss_mb: f64,
}

/// Medians of repeated runs, each figure taken apart.
fn median(runs: &[Measure]) -> Measure {
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Measure {
        wall: mid(runs.iter().map(|m| m.wall).collect()),
        cpu: mid(runs.iter().map(|m| m.cpu).collect()),
        peak_rss_mb: mid(runs.iter().map(|m| m.peak_rss_mb).collect()),
    }
}

/// Run a command, wait for it with `wait4` to read its CPU time and peak RSS.
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
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measure {
        wall,
        cpu: secs(usage.ru_utime) + secs(usage.ru_stime),
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
    }
}

/// One corpus size's runs, gathered over the rounds.
struct Size {
    n: u64,
    mb: f64,
    input: PathBuf,
    runs: Vec<Measure>,
    codes: Vec<Measure>,
    idxs: Vec<Measure>,
}

/// The largest distance of `values` from their mean, as a fraction of it.
fn spread(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values
        .iter()
        .map(|v| (v - mean).abs() / mean)
        .fold(0.0, f64::max)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared");
    if !shared.join("tools/synth.py").is_file() {
        eprintln!("skipped: ../shared/tools/synth.py is absent");
        return;
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_thematic"));
    let mut sizes: Vec<u64> = std::env::var("THEMATIC_SCALE_SIZES")
        .unwrap_or_else(|_| "100000,300000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    sizes.sort_unstable();
    // THEMATIC_SCALE_REPEATS: the name before rounds, in older
    // BENCHMARKS.md commands.
    let rounds: usize = std::env::var("THEMATIC_SCALE_ROUNDS")
        .or_else(|_| std::env::var("THEMATIC_SCALE_REPEATS"))
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "thematic scale benchmark ({cores} cores, {rounds} rounds); corpora: synth.py --seed 1 --format jsonl"
    );
    let tmp = std::env::temp_dir().join(format!("thematic-scale-{}", std::process::id()));
    let mut sizes: Vec<Size> = sizes
        .into_iter()
        .map(|n| {
            let input = common::synth_corpus(&root, &shared, n);
            let mb = std::fs::metadata(&input).unwrap().len() as f64 / 1e6;
            Size {
                n,
                mb,
                input,
                runs: Vec::new(),
                codes: Vec::new(),
                idxs: Vec::new(),
            }
        })
        .collect();
    // `thematic COMMAND --quiet --out OUT [INPUT]`, timed.
    let thematic = |command: &str, out: &PathBuf, input: Option<&PathBuf>| {
        let mut cmd = Command::new(&bin);
        cmd.args([command, "--quiet", "--out"])
            .arg(out)
            .args(input)
            .stdout(std::process::Stdio::null());
        measure(&mut cmd)
    };
    for round in 1..=rounds {
        for size in &mut sizes {
            let n = size.n;
            let out_run = tmp.join(format!("run-{n}"));
            let out_idx = tmp.join(format!("idx-{n}"));
            let _ = std::fs::remove_dir_all(&out_run);
            let _ = std::fs::remove_dir_all(&out_idx);
            let run = thematic("run", &out_run, Some(&size.input));
            // Re-coding the run just made: no input read, no re-indexing.
            let code = thematic("code", &out_run, None);
            let idx = thematic("index-only", &out_idx, Some(&size.input));
            eprintln!(
                "round {round}, {n}: run {:.2} s ({:.1} CPU s), code {:.2} s, index-only {:.2} s ({:.1} CPU s)",
                run.wall, run.cpu, code.wall, idx.wall, idx.cpu
            );
            size.runs.push(run);
            size.codes.push(code);
            size.idxs.push(idx);
            let _ = std::fs::remove_dir_all(&out_run);
            let _ = std::fs::remove_dir_all(&out_idx);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);

    println!("medians over the rounds; CPU = user + system seconds");
    println!(
        "{:>9} {:>5} | {:>7} {:>7} {:>8} {:>6} {:>7} | {:>7} {:>7} {:>7} | {:>5} {:>5} | {:>7} {:>7} | {:>6} {:>7}",
        "responses",
        "MB",
        "run s",
        "docs/s",
        "MB/s",
        "CPU s",
        "peak MB",
        "index s",
        "CPU s",
        "peak MB",
        "ratio",
        "CPU",
        "µs/resp",
        "CPU µs",
        "code s",
        "peak MB"
    );
    let mut per_response = (Vec::new(), Vec::new());
    for size in &sizes {
        let (run, code, idx) = (median(&size.runs), median(&size.codes), median(&size.idxs));
        let n = size.n as f64;
        per_response.0.push(run.wall * 1e6 / n);
        per_response.1.push(run.cpu * 1e6 / n);
        println!(
            "{:>9} {:>5.0} | {:>7.2} {:>7.0} {:>8.1} {:>6.1} {:>7.0} | {:>7.2} {:>7.1} {:>7.0} | {:>5.2} {:>5.2} | {:>7.1} {:>7.1} | {:>6.2} {:>7.0}",
            size.n,
            size.mb,
            run.wall,
            n / run.wall,
            size.mb / run.wall,
            run.cpu,
            run.peak_rss_mb,
            idx.wall,
            idx.cpu,
            idx.peak_rss_mb,
            run.wall / idx.wall,
            run.cpu / idx.cpu,
            run.wall * 1e6 / n,
            run.cpu * 1e6 / n,
            code.wall,
            code.peak_rss_mb
        );
    }
    if sizes.len() > 1 {
        println!(
            "linearity: `run` time per response at most {:.1}% from the sizes' mean in wall time, {:.1}% in CPU time",
            spread(&per_response.0) * 100.0,
            spread(&per_response.1) * 100.0
        );
    }
}
