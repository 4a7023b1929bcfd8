//! Rendering a [`Report`] as bytes: themes.csv, codes.csv, report.json,
//! summary.md and report.html. Callers write the bytes atomically.

use std::fmt::Write as _;

use super::sanitize::{csv_cell, markdown_inline};
use super::{Headline, Report, html};

fn csv_bytes(rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| csv_cell(c).into_owned()).collect();
        // Writing to a Vec cannot fail.
        let _ = w.write_record(&cells);
    }
    w.into_inner().unwrap_or_default()
}

fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// themes.csv: theme, label, responses, share, then one column per value of
/// the crosstab attribute.
pub fn write_themes_csv(report: &Report) -> Vec<u8> {
    let mut header = vec![
        "theme".to_owned(),
        "label".to_owned(),
        "responses".to_owned(),
        "share_of_coded_responses".to_owned(),
    ];
    if let Some(ct) = &report.crosstab {
        header.extend(
            ct.values
                .iter()
                .map(|(v, _)| format!("{}={v}", ct.attribute)),
        );
    }
    let mut rows = vec![header];
    for (t, theme) in report.themes.iter().enumerate() {
        let mut row = vec![
            theme.id.clone(),
            theme.label.clone(),
            theme.responses.to_string(),
            format!("{:.4}", theme.share),
        ];
        if let Some(ct) = &report.crosstab {
            row.extend(ct.counts[t].iter().map(u64::to_string));
        }
        rows.push(row);
    }
    csv_bytes(rows)
}

/// codes.csv: one row per response: id, attributes, one 0/1 column per theme
/// (per question and theme when there are several questions).
pub fn write_codes_csv(report: &Report) -> Vec<u8> {
    let r = &report.rows;
    let header = r.header();
    let mut w = CodesCsv::new(Vec::new(), header.iter().map(String::as_str));
    for i in 0..r.len() {
        let (id, attrs, codes) = r.row(i);
        // Writing to a Vec cannot fail.
        let _ = w.row(id, attrs, codes);
    }
    w.into_inner().unwrap_or_default()
}

/// codes.csv written row by row, into memory or (while coding) a file.
pub struct CodesCsv<W: std::io::Write> {
    w: csv::Writer<W>,
    /// The header's failure, reported with the first row.
    failed: Option<csv::Error>,
}

impl<W: std::io::Write> CodesCsv<W> {
    pub fn new<'h>(into: W, header: impl Iterator<Item = &'h str>) -> Self {
        let mut w = csv::WriterBuilder::new().from_writer(into);
        let failed = w
            .write_record(header.map(|h| csv_cell(h).into_owned()))
            .err();
        CodesCsv { w, failed }
    }

    /// One response: id, attribute values ("" where absent), 0/1 codes.
    pub fn row<'v>(
        &mut self,
        id: &str,
        attrs: impl Iterator<Item = &'v str>,
        codes: &[bool],
    ) -> std::io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e.into());
        }
        self.w.write_field(csv_cell(id).as_bytes())?;
        for value in attrs {
            self.w.write_field(csv_cell(value).as_bytes())?;
        }
        for c in codes {
            self.w.write_field(if *c { "1" } else { "0" })?;
        }
        self.w.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// The underlying writer, flushed.
    pub fn into_inner(self) -> std::io::Result<W> {
        if let Some(e) = self.failed {
            return Err(e.into());
        }
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

pub fn write_json(report: &Report) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(report).unwrap_or_default();
    out.push(b'\n');
    out
}

/// summary.md, for the chair: headline totals, then one section per theme in
/// descending order of responses.
pub fn write_summary_md(report: &Report) -> Vec<u8> {
    let t = &report.totals;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# {}: summary of responses\n",
        markdown_inline(&report.codebook.name)
    );
    let _ = writeln!(
        md,
        "**{}** were coded against {} themes ({} records read, {} rejected).",
        responses(t.records_coded),
        report.themes.len(),
        t.records_read,
        t.records_rejected
    );
    let _ = writeln!(
        md,
        "{} raised at least one theme; {} raised none of them; {} empty. {}\n",
        t.responses_with_theme,
        t.responses_without_theme,
        t.empty_responses,
        shares_are(report)
    );
    if report.flagged.count > 0 {
        let _ = writeln!(
            md,
            "> **{} flagged for safeguarding review**, not quoted or \
             summarised here: listed in `{}` for a named person to triage.\n",
            responses(report.flagged.count),
            report.flagged.file
        );
    }
    if !report.campaigns.is_empty() {
        let _ = writeln!(md, "## Campaigns\n");
        for c in &report.campaigns {
            let shown = match (c.withheld_notice(), &c.representative) {
                (None, Some(text)) => format!(
                    "It begins: “{}”",
                    markdown_inline(&text.chars().take(160).collect::<String>())
                ),
                (notice, _) => format!("{}.", notice.unwrap_or("Text withheld")),
            };
            let _ = writeln!(
                md,
                "- **{}**: {} identical or near-identical responses, counted once in “distinct submissions”. {shown}",
                c.id, c.size,
            );
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Themes at a glance\n");
    if report.headline == Headline::CountOnce {
        let _ = writeln!(
            md,
            "Ordered by distinct submissions (each campaign counted once); shares are of {}.\n",
            distinct(t.distinct_submissions)
        );
    }
    let _ = writeln!(
        md,
        "| Theme | Responses | Distinct submissions | Share |\n|---|---:|---:|---:|"
    );
    let order = theme_order(report);
    for &i in &order {
        let th = &report.themes[i];
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            markdown_inline(&th.label),
            th.responses,
            th.distinct_submissions,
            pct(report.headline_share(th))
        );
    }
    md.push('\n');
    for &i in &order {
        let th = &report.themes[i];
        let _ = writeln!(md, "## {}\n", markdown_inline(&th.label));
        let _ = writeln!(md, "**{}.**", theme_counts(report, th));
        if let Some(desc) = report.codebook.themes.get(i).map(|c| &c.description)
            && !desc.is_empty()
        {
            let _ = writeln!(md, "_{}_", markdown_inline(desc));
        }
        md.push('\n');
        if let (Some(ct), false) = (&report.crosstab, th.raised_most_by.is_empty()) {
            let who: Vec<String> = th
                .raised_most_by
                .iter()
                .map(|g| {
                    format!(
                        "{} ({}, {} of that group)",
                        markdown_inline(&g.value),
                        responses(g.responses),
                        pct(g.share_of_group)
                    )
                })
                .collect();
            let _ = writeln!(
                md,
                "- **Raised most by** ({}): {}",
                markdown_inline(&ct.attribute),
                who.join("; ")
            );
        }
        if !th.key_terms.is_empty() {
            let terms: Vec<String> = th
                .key_terms
                .iter()
                .take(8)
                .map(|k| markdown_inline(&k.term))
                .collect();
            let _ = writeln!(md, "- **Key terms**: {}", terms.join(", "));
        }
        if !th.quotes.is_empty() {
            let _ = writeln!(md, "\n**What respondents said**\n");
            for q in &th.quotes {
                let who = q
                    .respondent_type
                    .as_deref()
                    .map(|r| format!(", {}", markdown_inline(r)))
                    .unwrap_or_default();
                let _ = writeln!(
                    md,
                    "> “{}”  \n> — response {}{}\n",
                    markdown_inline(&q.text),
                    markdown_inline(&q.id),
                    who
                );
            }
        }
        md.push('\n');
    }
    if !report.views_held_by_few.is_empty() {
        let _ = writeln!(md, "## Views held by few\n");
        let _ = writeln!(
            md,
            "Themes raised mostly by one group, out of proportion to its size:\n"
        );
        for v in &report.views_held_by_few {
            let label = report
                .themes
                .iter()
                .find(|t| t.id == v.theme)
                .map_or(v.theme.as_str(), |t| t.label.as_str());
            let _ = writeln!(
                md,
                "- **{}**: {} of its {} mentions came from {} ({} of all responses).",
                markdown_inline(label),
                pct(v.share_of_mentions),
                (v.mentions as f64 / v.share_of_mentions.max(1e-9)).round() as u64,
                markdown_inline(&v.value),
                pct(v.share_of_corpus)
            );
        }
        md.push('\n');
    }
    if report.rejects.count > 0 {
        let _ = writeln!(md, "## Records not coded\n");
        let _ = writeln!(
            md,
            "{} input record(s) could not be used; each is listed with its file, line and reason in `{}`.\n",
            report.rejects.count, report.rejects.file
        );
        for (reason, n) in &report.rejects.by_reason {
            let _ = writeln!(md, "- {}: {n}", markdown_inline(reason));
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "---\nMade by thematic {} with codebook “{}” version {}. Quotes are redacted of personal data.",
        report.tool.version,
        markdown_inline(&report.codebook.name),
        markdown_inline(&report.codebook.version)
    );
    md.into_bytes()
}

/// Themes in headline order: descending count (responses, or distinct
/// submissions with `--campaigns count-once`), codebook order on ties.
pub fn theme_order(report: &Report) -> Vec<usize> {
    let key = |i: usize| report.headline_count(&report.themes[i]);
    let mut order: Vec<usize> = (0..report.themes.len()).collect();
    order.sort_by(|a, b| key(*b).cmp(&key(*a)).then_with(|| a.cmp(b)));
    order
}

pub fn write_html(report: &Report) -> Vec<u8> {
    html::render(report).into_bytes()
}

/// "1 response", "2 responses".
pub(super) fn responses(n: impl Into<u64>) -> String {
    counted(n.into(), "response", "responses")
}

/// "1 distinct submission", "2 distinct submissions".
pub(super) fn distinct(n: u64) -> String {
    counted(n, "distinct submission", "distinct submissions")
}

/// `n` and the noun in its number.
fn counted(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// What the headline shares are of, as a sentence: of every coded response,
/// or (`--campaigns count-once`) of distinct submissions.
pub(super) fn shares_are(report: &Report) -> String {
    let t = &report.totals;
    match report.headline {
        Headline::CountAll => format!(
            "Shares below are of all {}.",
            counted(t.records_coded, "coded response", "coded responses")
        ),
        Headline::CountOnce => format!(
            "Each campaign group counts once: shares below are of {}, not of all {}.",
            distinct(t.distinct_submissions),
            counted(t.records_coded, "coded response", "coded responses")
        ),
    }
}

/// A theme's counts, the headline's first: "6 responses (85.7% of coded
/// responses); 5 distinct submissions", or with `--campaigns count-once`
/// "5 distinct submissions (80.0% of distinct submissions); 6 responses".
pub(super) fn theme_counts(report: &Report, th: &super::ThemeCount) -> String {
    match report.headline {
        Headline::CountAll => format!(
            "{} ({} of coded responses); {}",
            responses(th.responses),
            pct(th.share),
            distinct(th.distinct_submissions)
        ),
        Headline::CountOnce => format!(
            "{} ({} of distinct submissions); {}",
            distinct(th.distinct_submissions),
            pct(th.distinct_share),
            responses(th.responses)
        ),
    }
}
