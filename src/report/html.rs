//! report.html: one self-contained page (no scripts, fonts or network) with
//! inline SVG charts — theme frequencies, theme × group heatmap, theme
//! co-occurrence heatmap — then the summary's sections. Rendered with maud,
//! which escapes every interpolated string; response text additionally goes
//! through `display_safe` so bidi and control characters cannot spoof it.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::sanitize::display_safe;
use super::write::{responses, shares_are, theme_counts, theme_order};
use super::{Headline, Report};

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
blockquote{margin:.6rem 0;padding:.4rem .8rem;border-left:4px solid #4a6fa5;background:#f5f7fb}
blockquote footer{font-size:.85rem;color:#555}
.note{background:#fff4e5;border-left:4px solid #e08a00;padding:.5rem .8rem}
.chart{margin:1rem 0}svg text{font-family:inherit}
.terms span{display:inline-block;background:#eef1f6;border-radius:3px;padding:0 .35rem;margin:.1rem}
@media print{body{max-width:none;margin:0}h2{break-before:auto}.chart,blockquote{break-inside:avoid}}
"#;

fn esc_text(s: &str) -> String {
    display_safe(s)
}

fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn bar_chart(report: &Report, order: &[usize]) -> Markup {
    let label_w = 190.0;
    let bar_w = 420.0;
    let row_h = 26.0;
    let height = row_h * order.len() as f64 + 10.0;
    // Bars and their labels lead with the headline count.
    let once = report.headline == Headline::CountOnce;
    let max = order
        .iter()
        .map(|i| report.headline_count(&report.themes[*i]))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    html! {
        svg class="chart" id="chart-themes" role="img" aria-label=(per_theme_title(report))
            width=(label_w + bar_w + 170.0) height=(height) xmlns="http://www.w3.org/2000/svg" {
            @for (row, &i) in order.iter().enumerate() {
                @let th = &report.themes[i];
                @let y = row as f64 * row_h + 5.0;
                @let w = bar_w * report.headline_count(th) as f64 / max;
                text x=(label_w - 8.0) y=(y + 16.0) text-anchor="end" font-size="13" { (esc_text(&th.label)) }
                rect x=(label_w) y=(y) width=(format!("{w:.1}")) height=(row_h - 8.0) fill="#4a6fa5" {}
                text x=(label_w + w + 6.0) y=(y + 15.0) font-size="12" {
                    @if once {
                        (th.distinct_submissions) " distinct (" (pct(th.distinct_share)) "); " (responses(th.responses))
                    } @else {
                        (th.responses) " (" (pct(th.share)) "); " (th.distinct_submissions) " distinct"
                    }
                }
            }
        }
    }
}

/// The theme chart's title: what its bars count.
fn per_theme_title(report: &Report) -> &'static str {
    match report.headline {
        Headline::CountAll => "Responses per theme",
        Headline::CountOnce => "Distinct submissions per theme",
    }
}

/// A heatmap of `values[r][c]` with row and column labels; cells shaded by
/// `shade[r][c]` in 0..=1.
fn heatmap(
    id: &str,
    title: &str,
    rows: &[String],
    cols: &[String],
    values: &[Vec<u64>],
    shade: &[Vec<f64>],
) -> Markup {
    let label_w = 190.0;
    let cell = 46.0;
    let head_h = 120.0;
    let width = label_w + cell * cols.len() as f64 + 10.0;
    let height = head_h + cell * rows.len() as f64 + 10.0;
    html! {
        svg class="chart" id=(id) role="img" aria-label=(title) width=(width) height=(height)
            xmlns="http://www.w3.org/2000/svg" {
            @for (c, col) in cols.iter().enumerate() {
                @let x = label_w + c as f64 * cell + cell / 2.0;
                text transform=(format!("translate({x:.1},{:.1}) rotate(-50)", head_h - 6.0)) font-size="12" { (esc_text(col)) }
            }
            @for (r, row) in rows.iter().enumerate() {
                @let y = head_h + r as f64 * cell;
                text x=(label_w - 8.0) y=(y + cell / 2.0 + 4.0) text-anchor="end" font-size="12" { (esc_text(row)) }
                @for c in 0..cols.len() {
                    @let x = label_w + c as f64 * cell;
                    @let s = shade[r][c].clamp(0.0, 1.0);
                    @let fill = format!("rgb({},{},{})", (245.0 - 171.0 * s) as u8, (247.0 - 136.0 * s) as u8, (251.0 - 86.0 * s) as u8);
                    rect x=(x) y=(y) width=(cell - 2.0) height=(cell - 2.0) fill=(fill) {}
                    text x=(x + cell / 2.0 - 1.0) y=(y + cell / 2.0 + 4.0) text-anchor="middle" font-size="11"
                        fill=(if s > 0.55 { "#fff" } else { "#1b1b1b" }) { (values[r][c]) }
                }
            }
        }
    }
}

pub fn render(report: &Report) -> String {
    let order = theme_order(report);
    let t = &report.totals;
    let labels: Vec<String> = order
        .iter()
        .map(|i| report.themes[*i].label.clone())
        .collect();

    let group_chart = report.crosstab.as_ref().map(|ct| {
        let cols: Vec<String> = ct.values.iter().map(|(v, _)| v.clone()).collect();
        let values: Vec<Vec<u64>> = order.iter().map(|i| ct.counts[*i].clone()).collect();
        let shade: Vec<Vec<f64>> = values
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&ct.values)
                    .map(|(n, (_, size))| *n as f64 / (*size).max(1) as f64)
                    .collect()
            })
            .collect();
        (
            ct.attribute.clone(),
            heatmap(
                "chart-crosstab",
                "Themes by group",
                &labels,
                &cols,
                &values,
                &shade,
            ),
        )
    });
    let cooc_values: Vec<Vec<u64>> = order
        .iter()
        .map(|a| {
            order
                .iter()
                .map(|b| report.cooccurrence.matrix[*a][*b])
                .collect()
        })
        .collect();
    let cooc_shade: Vec<Vec<f64>> = order
        .iter()
        .enumerate()
        .map(|(ra, a)| {
            order
                .iter()
                .enumerate()
                .map(|(rb, b)| {
                    let both = cooc_values[ra][rb] as f64;
                    let smaller = report.themes[*a].responses.min(report.themes[*b].responses);
                    both / smaller.max(1) as f64
                })
                .collect()
        })
        .collect();
    let cooc_chart = heatmap(
        "chart-cooccurrence",
        "Themes raised together",
        &labels,
        &labels,
        &cooc_values,
        &cooc_shade,
    );

    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (esc_text(&report.codebook.name)) " — summary of responses" }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { (esc_text(&report.codebook.name)) ": summary of responses" }
                p {
                    strong { (responses(t.records_coded)) } " coded against " (report.themes.len()) " themes ("
                    (t.records_read) " records read, " (t.records_rejected) " rejected). "
                    (t.responses_with_theme) " raised at least one theme, " (t.responses_without_theme)
                    " raised none, " (t.empty_responses) " empty. " (shares_are(report))
                }
                @if report.flagged.count > 0 {
                    p class="note" {
                        strong { (responses(report.flagged.count)) " flagged for safeguarding review" }
                        ", not quoted or summarised here: listed in " code { (report.flagged.file) } "."
                    }
                }
                @if !report.campaigns.is_empty() {
                    h2 { "Campaigns" }
                    p { "Identical or near-identical responses are grouped; each group counts once in “distinct submissions”." }
                    ul {
                        @for c in &report.campaigns {
                            li { strong { (c.id) } ": " (c.size) " responses"
                                @match (c.withheld_notice(), &c.representative) {
                                    (None, Some(text)) => { ", beginning “" (esc_text(&text.chars().take(160).collect::<String>())) "”" }
                                    (notice, _) => { ". " em { (notice.unwrap_or("Text withheld")) "." } }
                                }
                            }
                        }
                    }
                }
                h2 { (per_theme_title(report)) }
                (bar_chart(report, &order))
                @if let Some((attr, chart)) = &group_chart {
                    h2 { "Themes by " (esc_text(attr)) }
                    p { "Each cell counts the responses from that group that raised the theme; shading is the share of the group." }
                    (chart)
                }
                h2 { "Themes raised together" }
                p { "Each cell counts responses coded with both themes; shading is that count as a share of the smaller theme." }
                (cooc_chart)
                @for &i in &order {
                    @let th = &report.themes[i];
                    section id=(format!("theme-{}", th.id)) {
                        h2 { (esc_text(&th.label)) }
                        p { strong { (theme_counts(report, th)) "." } }
                        @if let Some(c) = report.codebook.themes.get(i) { @if !c.description.is_empty() { p { em { (esc_text(&c.description)) } } } }
                        @if !th.raised_most_by.is_empty() {
                            p { "Raised most by: "
                                @for (k, g) in th.raised_most_by.iter().enumerate() {
                                    @if k > 0 { "; " }
                                    (esc_text(&g.value)) " (" (g.responses) ", " (pct(g.share_of_group)) " of that group)"
                                }
                            }
                        }
                        @if !th.key_terms.is_empty() {
                            p class="terms" { "Key terms: " @for k in th.key_terms.iter().take(8) { span { (esc_text(&k.term)) } " " } }
                        }
                        @for q in &th.quotes {
                            blockquote {
                                p { "“" (esc_text(&q.text)) "”" }
                                footer { "Response " (esc_text(&q.id)) @if let Some(r) = &q.respondent_type { ", " (esc_text(r)) } }
                            }
                        }
                    }
                }
                @if !report.views_held_by_few.is_empty() {
                    h2 { "Views held by few" }
                    ul {
                        @for v in &report.views_held_by_few {
                            li { (esc_text(&v.theme)) ": " (pct(v.share_of_mentions)) " of mentions from "
                                (esc_text(&v.value)) " (" (pct(v.share_of_corpus)) " of all responses)" }
                        }
                    }
                }
                @if report.rejects.count > 0 {
                    h2 { "Records not coded" }
                    p { (report.rejects.count) " record(s) could not be used; see " code { (report.rejects.file) } "." }
                }
                footer { p { small { "Made by thematic " (report.tool.version) " with codebook “" (esc_text(&report.codebook.name))
                    "” version " (esc_text(&report.codebook.version)) ". Quotes are redacted of personal data." } } }
            }
        }
    };
    page.into_string()
}
