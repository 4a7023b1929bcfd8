//! The `thematic` command line: parses flags, turns them into validated
//! settings, calls the library and maps outcomes to exit codes
//! (0 ok, 1 some records rejected, 2 usage/input/codebook error).

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use thematic::classify::Classifier;
use thematic::codebook::{Codebook, DEFAULT_CODEBOOK_TOML};
use thematic::corpus::{CorpusReader, InputSource, Item, ReadOptions};
use thematic::eval;
use thematic::overrides::{OVERRIDES_FILE, OverrideSummary, Overrides};
use thematic::pipeline::{self, Outcome, RunSettings, files};
use thematic::report::sanitize::display_safe;
use thematic::report::{Headline, ReportOptions};
use thematic::search::{SearchSettings, Searcher};
use thematic::text::Tokeniser;

/// mimalloc: coding allocates many small, short-lived token and evidence
/// vectors on every core; the system allocator spent ~12% of `code` on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The exit code to leave with if standard output is closed early (`|
/// head`): the outcome's own code, once it is known.
static EXIT_ON_CLOSED_STDOUT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// `println!` that never panics: when standard output is closed early (a
/// pipe into `head`), stop quietly with the outcome's exit code, as grep
/// and ripgrep do; any other write failure is an error (exit 2). Every
/// output file is committed before anything is printed.
macro_rules! println {
    ($($arg:tt)*) => {
        print_line(format_args!($($arg)*))
    };
}

fn print_line(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"));
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(i32::from(
                EXIT_ON_CLOSED_STDOUT.load(std::sync::atomic::Ordering::Relaxed),
            ));
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}

#[derive(Parser)]
#[command(
    name = "thematic",
    version,
    about = "Code free-text consultation responses against a codebook, index them for search, and write reports."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// REFI-QDA project archive: OUT/thematic.qdpx.
    Qdpx,
    /// One JSON document per response and a Quickwit index config: OUT/export/.
    Ndjson,
}

#[derive(Subcommand)]
enum Command {
    /// Read responses, index and code them, write every report.
    Run(RunArgs),
    /// Re-code an existing run with a (changed) codebook, without re-reading input or re-indexing.
    Code {
        #[arg(long, default_value = "thematic-out")]
        out: PathBuf,
        /// Codebook TOML (default: the bundled seven-theme codebook).
        #[arg(long)]
        codebook: Option<PathBuf>,
        #[command(flatten)]
        report: ReportArgs,
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long)]
        quiet: bool,
    },
    /// Rebuild codes.jsonl and the reports of an existing run (same codebook), with analysts' corrections (overrides.jsonl) applied.
    Report {
        #[arg(long, default_value = "thematic-out")]
        out: PathBuf,
        #[command(flatten)]
        report: ReportArgs,
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long)]
        quiet: bool,
    },
    /// Search a run's responses: words, "phrases", AND/OR/NOT, -word, word*, NEAR/n(a b), field:value, theme:id.
    Search(SearchArgs),
    /// Compare a run's codes with hand-coded labels.
    Eval {
        #[arg(long, default_value = "thematic-out")]
        out: PathBuf,
        /// Gold JSONL: id, themes, flags (optional), text (optional).
        #[arg(long)]
        gold: PathBuf,
        /// Print the evaluation as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark baseline: index the inputs' texts only (no coding, no reports).
    #[command(hide = true)]
    IndexOnly(RunArgs),
    /// Export a run for other tools: `qdpx`, a REFI-QDA project for NVivo,
    /// ATLAS.ti, MAXQDA and QualCoder (OUT/thematic.qdpx); `ndjson`, one JSON
    /// document per response with a Quickwit index config (OUT/export/).
    Export {
        #[arg(long, default_value = "thematic-out")]
        out: PathBuf,
        #[arg(long, value_enum)]
        format: ExportFormat,
    },
    /// Browse, search and correct a run's codes in a local web page
    /// (127.0.0.1 only unless --bind says otherwise). Corrections go to
    /// OUT/overrides.jsonl; `code`, `report` and `eval` apply them.
    Serve {
        #[arg(long, default_value = "thematic-out")]
        out: PathBuf,
        /// Port to listen on (0: any free port; the address is printed).
        #[arg(long, default_value_t = 8321)]
        port: u16,
        /// Address to listen on. Anything but a loopback address exposes
        /// the responses to your network.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// Name recorded with each correction (default: $USER).
        #[arg(long)]
        user: Option<String>,
    },
    /// Codebook tools.
    Codebook {
        #[command(subcommand)]
        command: CodebookCommand,
    },
}

#[derive(Subcommand)]
enum CodebookCommand {
    /// Validate and explain a codebook; with --corpus, list keywords that never match.
    Check {
        file: PathBuf,
        /// Inputs to test the keywords on (JSONL/CSV).
        #[arg(long = "corpus", num_args = 1..)]
        corpus: Vec<String>,
        /// Field holding each response's id (default: id, and responses
        /// without one are numbered FILE:LINE).
        #[arg(long)]
        id_field: Option<String>,
        #[arg(long = "text-field")]
        text_fields: Vec<String>,
    },
    /// Turn a REFI-QDA codebook (.qdc, from NVivo, ATLAS.ti, MAXQDA,
    /// QualCoder) into a TOML codebook skeleton to fill with keywords.
    Import {
        file: PathBuf,
        /// Where to write the TOML (default: FILE with .toml).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Write a codebook's themes as a REFI-QDA codebook (.qdc).
    Export {
        file: PathBuf,
        /// Where to write the .qdc (default: FILE with .qdc).
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

/// How reports are built (run, code, report).
#[derive(clap::Args)]
struct ReportArgs {
    /// Attribute for crosstabs (default: respondent_type when present).
    #[arg(long)]
    by: Option<String>,
    /// Which count the headline uses when campaigns are found; both are always shown.
    #[arg(long, value_enum)]
    campaigns: Option<CampaignCount>,
    /// Jaccard similarity (0–1) at which responses are copies of one campaign letter.
    #[arg(long, value_parser = parse_threshold)]
    campaign_threshold: Option<f64>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CampaignCount {
    /// Every response counts.
    CountAll,
    /// Each campaign group counts once.
    CountOnce,
}

fn parse_threshold(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) && v > 0.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a similarity above 0 and at most 1 (e.g. 0.8)"
        )),
    }
}

impl ReportArgs {
    /// Apply these flags on top of `base` (the defaults, or a run's manifest).
    fn apply(self, mut base: ReportOptions) -> ReportOptions {
        if let Some(by) = self.by {
            base.by = Some(by);
        }
        if let Some(c) = self.campaigns {
            base.headline = match c {
                CampaignCount::CountAll => Headline::CountAll,
                CampaignCount::CountOnce => Headline::CountOnce,
            };
        }
        if let Some(t) = self.campaign_threshold {
            base.campaign_threshold = t;
        }
        base
    }
}

#[derive(clap::Args)]
struct SearchArgs {
    /// The query, e.g. "kinship care" OR ofsted -inspection
    query: String,
    #[arg(long, default_value = "thematic-out")]
    out: PathBuf,
    /// Only responses coded with this theme (repeatable: all must hold).
    #[arg(long = "theme")]
    themes: Vec<String>,
    /// Attribute filter FIELD=VALUE (repeatable: all must hold).
    #[arg(long = "where")]
    filters: Vec<String>,
    /// Only this question.
    #[arg(long)]
    question: Option<String>,
    /// How many hits to show.
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// One JSON object per hit, then a summary object.
    #[arg(long)]
    json: bool,
    /// Only the counts.
    #[arg(long)]
    count: bool,
    /// Show personal data and flagged responses' text (the analyst's private view).
    #[arg(long)]
    no_redact: bool,
    /// Redact personal data in snippets (the default; kept for explicitness).
    #[arg(long, conflicts_with = "no_redact")]
    redact: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Input files (.jsonl, .ndjson, .csv, .tsv, .xlsx) or - for JSONL on
    /// stdin. Default: the bundled sample corpus.
    inputs: Vec<String>,
    /// The worksheet to read from .xlsx inputs (default: the first).
    #[arg(long)]
    sheet: Option<String>,
    /// Codebook TOML (default: the bundled seven-theme codebook).
    #[arg(long)]
    codebook: Option<PathBuf>,
    #[arg(long, default_value = "thematic-out")]
    out: PathBuf,
    /// Field holding each response's id. Default: id, and responses without
    /// one are numbered FILE:LINE; a field named here must be in every
    /// header, and a record without an id is rejected.
    #[arg(long)]
    id_field: Option<String>,
    /// Field holding a response; repeat for several questions. Default: text.
    #[arg(long = "text-field")]
    text_fields: Vec<String>,
    #[command(flatten)]
    report: ReportArgs,
    /// Worker threads for coding and indexing (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(2)
        }
    }
}

fn setup_threads(threads: Option<usize>) -> Result<usize> {
    let n = match threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .context("starting the worker threads")?;
    Ok(n)
}

fn load_codebook(path: Option<&Path>) -> Result<(Codebook, String)> {
    match path {
        Some(p) => {
            let codebook = Codebook::from_path(p)?;
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read", p.display()))?;
            Ok((codebook, text))
        }
        None => Ok((
            Codebook::default_care_review()?,
            DEFAULT_CODEBOOK_TOML.to_owned(),
        )),
    }
}

fn progress(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Code {
            out,
            codebook,
            report,
            threads,
            quiet,
        } => {
            setup_threads(threads)?;
            let (codebook, text) = load_codebook(codebook.as_deref())?;
            let classifier = Classifier::new(codebook)?;
            let options = report.apply(pipeline::read_manifest(&out)?.report);
            let outcome =
                pipeline::recode(&out, &classifier, Some(&text), options, progress(quiet))?;
            print_outcome(&outcome);
            Ok(0)
        }
        Command::Report {
            out,
            report,
            threads,
            quiet,
        } => {
            setup_threads(threads)?;
            let options = report.apply(pipeline::read_manifest(&out)?.report);
            let stored = out.join(files::CODEBOOK);
            let (codebook, _) = load_codebook(Some(&stored))?;
            let classifier = Classifier::new(codebook)?;
            let outcome = pipeline::recode(&out, &classifier, None, options, progress(quiet))?;
            print_outcome(&outcome);
            Ok(0)
        }
        Command::Eval { out, gold, json } => run_eval(&out, &gold, json),
        Command::Serve {
            out,
            port,
            bind,
            user,
        } => {
            let user = user
                .or_else(|| std::env::var("USER").ok())
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| "analyst".to_owned());
            if !bind.is_loopback() {
                eprintln!(
                    "warning: listening on {bind}: anyone who can reach this machine can read the responses"
                );
            }
            let settings = thematic::serve::ServeSettings {
                out: out.clone(),
                bind,
                port,
                user,
            };
            thematic::serve::serve(&settings, |addr| {
                println!(
                    "serving {} at http://{addr}/ (Ctrl-C to stop)",
                    out.display()
                );
                let _ = std::io::stdout().flush();
            })?;
            Ok(0)
        }
        Command::Export { out, format } => match format {
            ExportFormat::Qdpx => {
                let done = thematic::export::write_qdpx(&out)?;
                println!(
                    "{}: {} sources, {} coded selections, {} codes",
                    done.path.display(),
                    done.sources,
                    done.selections,
                    done.codes
                );
                if done.flagged_left_out > 0 {
                    println!(
                        "left out {} unit(s) of flagged responses: their text stays in restricted/",
                        done.flagged_left_out
                    );
                }
                Ok(0)
            }
            ExportFormat::Ndjson => {
                let done = thematic::export::ndjson::write_ndjson(&out)?;
                println!(
                    "{}/export/{}: {} responses; Quickwit index config in {}/export/{}",
                    out.display(),
                    thematic::export::ndjson::NDJSON_FILE,
                    done.documents,
                    out.display(),
                    thematic::export::ndjson::QUICKWIT_FILE
                );
                if done.flagged_left_out > 0 {
                    println!(
                        "left out {} flagged response(s): their text stays in restricted/",
                        done.flagged_left_out
                    );
                }
                Ok(0)
            }
        },
        Command::Search(args) => search(args),
        Command::IndexOnly(args) => {
            let threads = setup_threads(args.threads)?;
            let settings = run_settings(args, threads);
            let units = pipeline::index_only(&settings)?;
            println!(
                "indexed {units} units into {}/index",
                settings.out.display()
            );
            Ok(0)
        }
        Command::Codebook { command } => match command {
            CodebookCommand::Check {
                file,
                corpus,
                id_field,
                text_fields,
            } => codebook_check(&file, &corpus, id_field, text_fields),
            CodebookCommand::Import { file, output } => {
                let xml = std::fs::read_to_string(&file)
                    .with_context(|| format!("{}: cannot read", file.display()))?;
                let toml = thematic::export::qdc::from_qdc(&xml, &file.display().to_string())?;
                let output = output.unwrap_or_else(|| file.with_extension("toml"));
                write_new_file(&output, toml.as_bytes())?;
                println!(
                    "{}: codebook skeleton written; add keywords, then `thematic codebook check {}`",
                    output.display(),
                    output.display()
                );
                Ok(0)
            }
            CodebookCommand::Export { file, output } => {
                let codebook = Codebook::from_path(&file)?;
                let output = output.unwrap_or_else(|| file.with_extension("qdc"));
                write_new_file(&output, thematic::export::qdc::to_qdc(&codebook).as_bytes())?;
                println!("{}: {} codes", output.display(), codebook.themes.len());
                Ok(0)
            }
        },
    }
}

/// `--id-field` left out is the default `id`, which records may lack; one
/// given is required (`ReadOptions::id_field_explicit`).
fn read_options(
    id_field: Option<String>,
    text_fields: Vec<String>,
    sheet: Option<String>,
) -> ReadOptions {
    ReadOptions {
        id_field_explicit: id_field.is_some(),
        id_field: id_field.unwrap_or_else(|| ReadOptions::default().id_field),
        sheet,
        text_fields: if text_fields.is_empty() {
            vec!["text".to_owned()]
        } else {
            text_fields
        },
    }
}

fn run(args: RunArgs) -> Result<u8> {
    let threads = setup_threads(args.threads)?;
    let (codebook, codebook_text) = load_codebook(args.codebook.as_deref())?;
    let classifier = Classifier::new(codebook)?;
    let settings = run_settings(args, threads);
    let outcome = pipeline::run(&settings, &classifier, &codebook_text)?;
    let code = if outcome.records_rejected > 0 { 1 } else { 0 };
    // `code` and `report` exit 0 whatever the run rejected; only `run`
    // reports rejects in its exit code, closed stdout or not.
    EXIT_ON_CLOSED_STDOUT.store(code, std::sync::atomic::Ordering::Relaxed);
    print_outcome(&outcome);
    Ok(code)
}

fn run_settings(args: RunArgs, threads: usize) -> RunSettings {
    let inputs = if args.inputs.is_empty() {
        vec![InputSource::Bundled]
    } else {
        args.inputs
            .iter()
            .map(|a| InputSource::from_arg(a))
            .collect()
    };
    RunSettings {
        inputs,
        read: read_options(args.id_field, args.text_fields, args.sheet),
        out: args.out,
        threads,
        report: args.report.apply(ReportOptions::default()),
        progress: progress(args.quiet),
        index_budget: 200_000_000,
    }
}

fn print_outcome(o: &Outcome) {
    let out = o.out.display();
    println!(
        "read {} records = {} coded + {} rejected ({} response×question units)",
        o.records_read, o.records_coded, o.records_rejected, o.units
    );
    if o.records_rejected > 0 {
        println!(
            "rejected records are listed with file, line and reason in {out}/{}",
            files::REJECTS
        );
    }
    if o.flagged > 0 {
        eprintln!(
            "warning: {} response(s) flagged for safeguarding review: {out}/{} (restricted; route to a named person now)",
            o.flagged,
            files::FLAGGED
        );
    }
    warn_unknown_by(&o.out);
    print_overrides(&o.overrides, &out.to_string());
    println!("summary: {out}/{}", files::SUMMARY_MD);
    println!("html:    {out}/{}", files::REPORT_HTML);
}

/// A misspelt `--by` would otherwise just leave the crosstabs out.
fn warn_unknown_by(out: &Path) {
    let Ok(manifest) = pipeline::read_manifest(out) else {
        return;
    };
    if let Some(by) = &manifest.report.by
        && !manifest.attributes.contains(by)
    {
        eprintln!(
            "warning: --by {by}: no attribute of that name in the responses (attributes: {}); the reports have no crosstab by it",
            if manifest.attributes.is_empty() {
                "none".to_owned()
            } else {
                manifest.attributes.join(", ")
            }
        );
    }
}

/// Say how many analysts' corrections were applied, and which were not.
fn print_overrides(s: &OverrideSummary, out: &str) {
    if s.lines == 0 {
        return;
    }
    println!(
        "overrides: {} correction(s) in effect from {out}/{OVERRIDES_FILE}, applied to {} unit(s), {} changed an automatic code",
        s.in_effect, s.applied, s.changed
    );
    if s.not_applied() > 0 {
        eprintln!(
            "warning: {} correction(s) not applied ({} name a theme not in the codebook, {} a response not in this run); they stay in {OVERRIDES_FILE}",
            s.not_applied(),
            s.unknown_theme,
            s.unmatched
        );
    }
}

fn search(args: SearchArgs) -> Result<u8> {
    let mut filters = Vec::with_capacity(args.filters.len());
    for f in &args.filters {
        let Some((field, value)) = f.split_once('=') else {
            bail!("--where {f}: expected FIELD=VALUE, as in --where respondent_type=parent");
        };
        filters.push((field.trim().to_owned(), value.trim().to_owned()));
    }
    let settings = SearchSettings {
        query: args.query,
        themes: args.themes,
        filters,
        question: args.question,
        limit: if args.count { 0 } else { args.limit },
        redact: !args.no_redact,
    };
    let searcher = Searcher::open(&args.out)?;
    let results = searcher.search(&settings)?;
    let summary = &results.summary;
    if args.json {
        for hit in &results.hits {
            println!("{}", serde_json::to_string(hit)?);
        }
        println!("{}", serde_json::json!({ "summary": summary }));
        return Ok(0);
    }
    let bold = std::io::stdout().is_terminal();
    println!(
        "{} hit{} for {} (showing {})",
        summary.hits,
        if summary.hits == 1 { "" } else { "s" },
        display_safe(&summary.query),
        summary.shown
    );
    for hit in &results.hits {
        let attrs: Vec<String> = hit
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={}", display_safe(v.as_str().unwrap_or_default())))
            .collect();
        println!(
            "\n{}  [{}]  {:.2}  {}",
            display_safe(&hit.id),
            hit.themes.join(", "),
            hit.score,
            attrs.join(" ")
        );
        println!("    {}", highlight(&hit.snippet, &hit.highlights, bold));
    }
    let by_theme: Vec<String> = summary
        .by_theme
        .iter()
        .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    println!(
        "\nhits by theme: {}",
        if by_theme.is_empty() {
            "none".to_owned()
        } else {
            by_theme.join(", ")
        }
    );
    for (attr, values) in &summary.by_attribute {
        let Some(values) = values.as_object() else {
            continue;
        };
        if values.is_empty() || values.len() > 20 {
            continue;
        }
        let shown: Vec<String> = values
            .iter()
            .map(|(v, n)| format!("{} {n}", display_safe(v)))
            .collect();
        println!("hits by {attr}: {}", shown.join(", "));
    }
    Ok(0)
}

/// Mark highlighted char ranges: bold on a terminal, **…** otherwise.
fn highlight(snippet: &str, ranges: &[(usize, usize)], bold: bool) -> String {
    let (open, close) = if bold {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("**", "**")
    };
    let mut out = String::with_capacity(snippet.len() + ranges.len() * 8);
    let mut in_range = None;
    for (i, c) in snippet.chars().enumerate() {
        if in_range.is_none()
            && let Some(r) = ranges.iter().find(|r| r.0 == i)
        {
            out.push_str(open);
            in_range = Some(r.1);
        }
        out.push(c);
        if in_range == Some(i + 1) {
            out.push_str(close);
            in_range = None;
        }
    }
    if in_range.is_some() {
        out.push_str(close);
    }
    out
}

fn run_eval(out: &Path, gold_path: &Path, json: bool) -> Result<u8> {
    let gold = eval::read_gold(gold_path)?;
    let overrides = Overrides::load(out)?;
    let codes = eval::read_codes(&out.join(files::CODES_JSONL), &overrides).with_context(|| {
        format!(
            "{}: no codes to evaluate; run `thematic run` first",
            out.display()
        )
    })?;
    if !gold.keys().any(|id| codes.labels.contains_key(id)) {
        return Err(eval::EvalError::NoOverlap {
            path: gold_path.display().to_string(),
        }
        .into());
    }
    let codebook = Codebook::from_path(&out.join(files::CODEBOOK))?;
    let theme_ids: Vec<String> = codebook.themes.iter().map(|t| t.id.clone()).collect();
    let flag_ids: Vec<String> = codebook.flags.iter().map(|t| t.id.clone()).collect();
    let evaluation = eval::evaluate(&gold, &codes, &theme_ids, &flag_ids);
    let output = thematic::output::OutputDir::prepare(out)?;
    let json_bytes = serde_json::to_vec_pretty(&evaluation)?;
    output.write_file("eval.json", &json_bytes)?;
    output.write_file("eval.md", eval::render_markdown(&evaluation).as_bytes())?;
    output.commit()?;
    if json {
        println!("{}", String::from_utf8_lossy(&json_bytes));
        return Ok(0);
    }
    println!(
        "{:<24} {:>9} {:>9} {:>7} {:>7}",
        "theme", "precision", "recall", "F1", "kappa"
    );
    for s in evaluation.themes.iter().chain(&evaluation.flags) {
        let [precision, recall, f1] = s.formatted();
        println!(
            "{:<24} {precision:>9} {recall:>9} {f1:>7} {:>7.3}",
            s.code, s.kappa
        );
    }
    println!(
        "themes: micro-F1 {:.3}, macro-F1 {:.3}; {} disagreements in {}/eval.md",
        evaluation.theme_micro_f1,
        evaluation.theme_macro_f1,
        evaluation.disagreements.len(),
        out.display()
    );
    if overrides.lines() > 0 {
        println!(
            "overrides: {} analysts' correction(s) applied from {}/{OVERRIDES_FILE}",
            evaluation.overrides_applied,
            out.display()
        );
    }
    Ok(0)
}

fn codebook_check(
    file: &Path,
    corpus: &[String],
    id_field: Option<String>,
    text_fields: Vec<String>,
) -> Result<u8> {
    let codebook = Codebook::from_path(file)?;
    println!(
        "{}: \"{}\" version {} — valid",
        file.display(),
        codebook.name,
        codebook.version
    );
    println!(
        "defaults: stem = {}, negation_window = {}, {} negators",
        codebook.defaults.stem,
        codebook.defaults.negation_window,
        codebook.defaults.negators.len()
    );
    for (kind, codes) in [("theme", &codebook.themes), ("flag", &codebook.flags)] {
        for c in codes {
            println!(
                "  {kind} {:<24} {:<32} {:>4} keywords, {:>3} excludes, {:>3} rules, min_score {}",
                c.id,
                c.label,
                c.keywords.len(),
                c.exclude.len(),
                c.rules.len(),
                c.min_score
            );
        }
    }
    if corpus.is_empty() {
        return Ok(0);
    }
    let inputs: Vec<InputSource> = corpus.iter().map(|a| InputSource::from_arg(a)).collect();
    let reader = CorpusReader::open(&inputs, read_options(id_field, text_fields, None))?;
    let classifier = Classifier::new(codebook)?;
    let codes: Vec<_> = classifier.codebook().codes().cloned().collect();
    let mut hits: Vec<Vec<u64>> = codes.iter().map(|c| vec![0; c.keywords.len()]).collect();
    let mut texts = 0u64;
    for item in reader {
        if let Item::Record(r) = item? {
            for text in r.answers.iter().flatten() {
                texts += 1;
                let tokens = Tokeniser::shared().tokenise(text);
                for (c, k) in classifier.keyword_occurrences(&tokens) {
                    hits[c][k] += 1;
                }
            }
        }
    }
    println!("keywords that never matched in {texts} answers:");
    let mut unmatched = 0;
    for (c, code) in codes.iter().enumerate() {
        let never: Vec<&str> = code
            .keywords
            .iter()
            .zip(&hits[c])
            .filter(|(_, n)| **n == 0)
            .map(|(k, _)| k.item.source.as_str())
            .collect();
        if !never.is_empty() {
            unmatched += never.len();
            println!("  {} ({}): {}", code.id, never.len(), never.join(", "));
        }
    }
    if unmatched == 0 {
        println!("  none");
    }
    Ok(0)
}

/// The error and its causes, skipping a cause whose text the message already
/// holds (our errors name their source in their own message).
fn error_chain(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}

/// Write `bytes` to `path` atomically (a sibling temp file, then rename).
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}
