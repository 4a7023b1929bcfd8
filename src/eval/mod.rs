//! Comparing a run's codes with hand-coded labels: per-code precision,
//! recall, F1 and Cohen's kappa, micro and macro F1, for themes and for flags,
//! and every disagreement with its text and the evidence that fired.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::Path;

use serde::Serialize;

use crate::overrides::Overrides;
use crate::report::sanitize::markdown_inline;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Bad {
        path: String,
        line: usize,
        message: String,
    },
    #[error(
        "{path}: none of the gold ids is in this run's codes.jsonl; is --gold the file this run coded?"
    )]
    NoOverlap { path: String },
}

/// Labels of one response.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    pub themes: Vec<String>,
    pub flags: Vec<String>,
    pub text: Option<String>,
    /// code id → evidence summaries (`keyword "x" at 3..10: "matched"`).
    pub evidence: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CodeScore {
    pub code: String,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub true_negatives: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub kappa: f64,
}

impl CodeScore {
    /// False when neither the gold set nor the run has this code anywhere,
    /// so precision and recall are undefined (shown as "n/a", not 0).
    pub fn exercised(&self) -> bool {
        self.true_positives + self.false_positives + self.false_negatives > 0
    }

    /// Precision, recall and F1 formatted to three places, or "n/a".
    pub fn formatted(&self) -> [String; 3] {
        if self.exercised() {
            [self.precision, self.recall, self.f1].map(|v| format!("{v:.3}"))
        } else {
            ["n/a".to_owned(), "n/a".to_owned(), "n/a".to_owned()]
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Disagreement {
    pub id: String,
    pub code: String,
    /// "missed" (gold has it, the run does not) or "extra" (the run has it, gold does not).
    pub kind: &'static str,
    pub text: String,
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub responses: u64,
    /// Analysts' corrections (overrides.jsonl) applied to the run's codes.
    pub overrides_applied: usize,
    /// Gold ids with no line in codes.jsonl.
    pub missing_from_run: Vec<String>,
    pub themes: Vec<CodeScore>,
    pub theme_micro_f1: f64,
    pub theme_macro_f1: f64,
    pub flags: Vec<CodeScore>,
    pub flag_micro_f1: f64,
    pub flag_macro_f1: f64,
    pub disagreements: Vec<Disagreement>,
}

fn read_lines(path: &Path) -> Result<Vec<(usize, serde_json::Value)>, EvalError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| EvalError::Io {
        path: name.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| EvalError::Io {
            path: name.clone(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| EvalError::Bad {
            path: name.clone(),
            line: i + 1,
            message: format!("not valid JSON: {e}"),
        })?;
        out.push((i + 1, value));
    }
    Ok(out)
}

fn strings(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(|x| x.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn id_of(v: &serde_json::Value) -> Option<String> {
    match v.get("id")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Read gold labels: JSONL with `id`, `themes`, optional `flags` and `text`.
pub fn read_gold(path: &Path) -> Result<BTreeMap<String, Labels>, EvalError> {
    let mut gold = BTreeMap::new();
    for (line, v) in read_lines(path)? {
        let id = id_of(&v).ok_or_else(|| EvalError::Bad {
            path: path.display().to_string(),
            line,
            message: "no `id`; every gold line needs an id matching the run's ids".to_owned(),
        })?;
        if v.get("themes").is_none() {
            return Err(EvalError::Bad {
                path: path.display().to_string(),
                line,
                message: "no `themes` list; gold lines need `themes` (and optionally `flags`)"
                    .to_owned(),
            });
        }
        gold.insert(
            id,
            Labels {
                themes: strings(&v, "themes"),
                flags: strings(&v, "flags"),
                text: v.get("text").and_then(|t| t.as_str()).map(str::to_owned),
                evidence: BTreeMap::new(),
            },
        );
    }
    Ok(gold)
}

/// A run's codes, per response id, with analysts' corrections applied.
#[derive(Clone, Debug, Default)]
pub struct RunCodes {
    pub labels: HashMap<String, Labels>,
    /// (unit, correction) pairs applied from overrides.jsonl.
    pub overrides_applied: usize,
}

/// Read a run's codes.jsonl, apply `overrides` to each response×question
/// line (idempotent: lines written after a correction already hold it), and
/// merge the questions of each response.
pub fn read_codes(path: &Path, overrides: &Overrides) -> Result<RunCodes, EvalError> {
    let mut codes: HashMap<String, Labels> = HashMap::new();
    let mut overrides_applied = 0;
    for (_, v) in read_lines(path)? {
        let Some(id) = id_of(&v) else { continue };
        let mut themes = strings(&v, "themes");
        let question = v
            .get("question")
            .and_then(|q| q.as_str())
            .unwrap_or_default();
        overrides_applied += overrides.apply_to_ids(&id, question, &mut themes);
        let entry = codes.entry(id).or_default();
        for t in themes {
            if !entry.themes.contains(&t) {
                entry.themes.push(t);
            }
        }
        for f in strings(&v, "flags") {
            if !entry.flags.contains(&f) {
                entry.flags.push(f);
            }
        }
        if let Some(ev) = v.get("evidence").and_then(|e| e.as_object()) {
            for (code, spans) in ev {
                let list = entry.evidence.entry(code.clone()).or_default();
                for s in spans.as_array().into_iter().flatten() {
                    let by = s
                        .get("keyword")
                        .map(|k| format!("keyword {k}"))
                        .or_else(|| s.get("rule").map(|r| format!("rule {r}")))
                        .unwrap_or_default();
                    let matched = s.get("text").and_then(|t| t.as_str()).unwrap_or_default();
                    list.push(format!("{by}: \"{matched}\""));
                }
            }
        }
    }
    Ok(RunCodes {
        labels: codes,
        overrides_applied,
    })
}

fn score(code: &str, pairs: &[(bool, bool)]) -> CodeScore {
    let (mut tp, mut fp, mut fn_, mut tn) = (0u64, 0u64, 0u64, 0u64);
    for (gold, pred) in pairs {
        match (gold, pred) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => tn += 1,
        }
    }
    let div = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = div(tp, tp + fp);
    let recall = div(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let n = (tp + fp + fn_ + tn) as f64;
    let kappa = if n == 0.0 {
        0.0
    } else {
        let po = (tp + tn) as f64 / n;
        let pe =
            ((tp + fp) as f64 * (tp + fn_) as f64 + (fn_ + tn) as f64 * (fp + tn) as f64) / (n * n);
        if (1.0 - pe).abs() < 1e-12 {
            1.0
        } else {
            (po - pe) / (1.0 - pe)
        }
    };
    CodeScore {
        code: code.to_owned(),
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        true_negatives: tn,
        precision,
        recall,
        f1,
        kappa,
    }
}

fn micro_macro(scores: &[CodeScore]) -> (f64, f64) {
    let tp: u64 = scores.iter().map(|s| s.true_positives).sum();
    let fp: u64 = scores.iter().map(|s| s.false_positives).sum();
    let fn_: u64 = scores.iter().map(|s| s.false_negatives).sum();
    let micro = if 2 * tp + fp + fn_ == 0 {
        0.0
    } else {
        2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
    };
    // A code absent from both gold and run has no F1 to average.
    let exercised: Vec<f64> = scores
        .iter()
        .filter(|s| s.exercised())
        .map(|s| s.f1)
        .collect();
    let macro_ = if exercised.is_empty() {
        0.0
    } else {
        exercised.iter().sum::<f64>() / exercised.len() as f64
    };
    (micro, macro_)
}

/// Compare `codes` with `gold` over the given theme and flag ids.
pub fn evaluate(
    gold: &BTreeMap<String, Labels>,
    run: &RunCodes,
    theme_ids: &[String],
    flag_ids: &[String],
) -> Evaluation {
    let codes = &run.labels;
    let empty = Labels::default();
    let missing: Vec<String> = gold
        .keys()
        .filter(|id| !codes.contains_key(*id))
        .cloned()
        .collect();
    let mut disagreements = Vec::new();
    let mut per_code = |ids: &[String], pick: fn(&Labels) -> &Vec<String>| -> Vec<CodeScore> {
        ids.iter()
            .map(|code| {
                let pairs: Vec<(bool, bool)> = gold
                    .iter()
                    .map(|(id, g)| {
                        let p = codes.get(id).unwrap_or(&empty);
                        let in_gold = pick(g).contains(code);
                        let in_run = pick(p).contains(code);
                        if in_gold != in_run {
                            disagreements.push(Disagreement {
                                id: id.clone(),
                                code: code.clone(),
                                kind: if in_gold { "missed" } else { "extra" },
                                text: g.text.clone().unwrap_or_default(),
                                evidence: p.evidence.get(code).cloned().unwrap_or_default(),
                            });
                        }
                        (in_gold, in_run)
                    })
                    .collect();
                score(code, &pairs)
            })
            .collect()
    };
    let themes = per_code(theme_ids, |l| &l.themes);
    let flags = per_code(flag_ids, |l| &l.flags);
    let (theme_micro_f1, theme_macro_f1) = micro_macro(&themes);
    let (flag_micro_f1, flag_macro_f1) = micro_macro(&flags);
    disagreements.sort_by(|a, b| a.code.cmp(&b.code).then_with(|| a.id.cmp(&b.id)));
    Evaluation {
        responses: gold.len() as u64,
        overrides_applied: run.overrides_applied,
        missing_from_run: missing,
        themes,
        theme_micro_f1,
        theme_macro_f1,
        flags,
        flag_micro_f1,
        flag_macro_f1,
        disagreements,
    }
}

fn table(md: &mut String, scores: &[CodeScore]) {
    let _ = writeln!(
        md,
        "| code | precision | recall | F1 | kappa | TP | FP | FN |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for s in scores {
        let [precision, recall, f1] = s.formatted();
        let _ = writeln!(
            md,
            "| {} | {precision} | {recall} | {f1} | {:.3} | {} | {} | {} |",
            s.code, s.kappa, s.true_positives, s.false_positives, s.false_negatives
        );
    }
}

/// eval.md: the tables, then every disagreement with its text and evidence.
pub fn render_markdown(e: &Evaluation) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Evaluation against hand-coded labels\n");
    let _ = writeln!(
        md,
        "{} gold responses; {} missing from the run; {} analysts' correction(s) applied from overrides.jsonl.\n",
        e.responses,
        e.missing_from_run.len(),
        e.overrides_applied
    );
    let _ = writeln!(
        md,
        "## Themes\n\nmicro-F1 **{:.3}**, macro-F1 **{:.3}**\n",
        e.theme_micro_f1, e.theme_macro_f1
    );
    table(&mut md, &e.themes);
    if !e.flags.is_empty() {
        let _ = writeln!(
            md,
            "\n## Flags\n\nmicro-F1 **{:.3}**, macro-F1 **{:.3}**\n",
            e.flag_micro_f1, e.flag_macro_f1
        );
        table(&mut md, &e.flags);
    }
    let _ = writeln!(md, "\n## Disagreements ({})\n", e.disagreements.len());
    for d in &e.disagreements {
        let evidence = if d.evidence.is_empty() {
            "no evidence".to_owned()
        } else {
            d.evidence.join("; ")
        };
        let _ = writeln!(
            md,
            "- **{}** `{}` {}: {}\n  - evidence: {}",
            markdown_inline(&d.id),
            d.code,
            d.kind,
            markdown_inline(&d.text),
            markdown_inline(&evidence)
        );
    }
    md
}
