//! The pages of `thematic serve`, rendered with maud. Every interpolated
//! string is escaped by maud; response text also goes through
//! `display_safe`/`block_safe` so bidi and control characters cannot disguise it.

use maud::{DOCTYPE, Markup, html};

use super::view::{Dashboard, Filter, NO_THEME, PAGE_SIZE, Page, RunView, UnitView};
use crate::classify::{CodeHit, Coding, Evidence, Source};
use crate::codebook::{Code, Codebook};
use crate::report::sanitize::{block_safe, display_safe};

pub const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;line-height:1.5}
header{background:#24344d;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header a:hover{text-decoration:underline}
header .run{opacity:.8;font-size:.9rem;margin-right:auto}
.switch{border:1px solid #fff;border-radius:4px;padding:.1rem .5rem}
.switch.on{background:#b3261e;border-color:#b3261e}
main{max-width:72rem;margin:1rem auto;padding:0 1.2rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:1.6rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #e6e6e6;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.totals{display:flex;gap:1rem;flex-wrap:wrap}.totals div{background:#f3f5f9;border-radius:6px;padding:.5rem .9rem}
.totals b{display:block;font-size:1.4rem}
.chip{display:inline-block;background:#e3ebf7;color:#1d3d6e;border-radius:999px;padding:0 .55rem;margin:.1rem;font-size:.85rem}
.chip.flag{background:#fde4e1;color:#8c1d18}.chip.override{background:#fff1cc;color:#6b4e00}
form.filters{display:flex;gap:.5rem;flex-wrap:wrap;align-items:end;background:#f7f8fa;padding:.6rem;border-radius:6px}
form.filters label{display:flex;flex-direction:column;font-size:.8rem;color:#444}
input,select,button{font:inherit;padding:.2rem .4rem}
button{cursor:pointer}
.text{white-space:pre-wrap;background:#fbfbfb;border:1px solid #e6e6e6;border-radius:6px;padding:.8rem 1rem;max-width:52rem}
mark.ev{background:#ffe58a;border-radius:2px}mark.ev.flag{background:#f7b4ad}
.tag{font-size:.7rem;color:#6b4e00;background:#fff6d6;border-radius:3px;padding:0 .25rem;margin-left:.15rem;vertical-align:super}
.restricted{background:#fde4e1;border-left:4px solid #b3261e;padding:.5rem .8rem}
.note{color:#555;font-size:.9rem}
.pager{display:flex;gap:1rem;margin:.8rem 0}
.codes form{display:inline}
td.snippet{max-width:40rem}
"#;

/// `path?key=value&…` with every part encoded.
fn href(path: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return path.to_owned();
    }
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    format!("{path}?{}", s.finish())
}

pub fn response_href(id: &str, restricted: bool) -> String {
    if restricted {
        href("/response", &[("id", id), ("restricted", "1")])
    } else {
        href("/response", &[("id", id)])
    }
}

fn restricted_param(restricted: bool) -> Vec<(&'static str, &'static str)> {
    if restricted {
        vec![("restricted", "1")]
    } else {
        Vec::new()
    }
}

fn layout(view: &RunView, title: &str, restricted: bool, toggle: &str, body: Markup) -> String {
    let r = restricted_param(restricted);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · thematic" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body {
                header {
                    a href=(href("/", &r)) { b { "thematic" } }
                    span class="run" { (view.codebook().name) " · " (view.out.display().to_string()) }
                    a href=(href("/", &r)) { "Dashboard" }
                    a href=(href("/responses", &r)) { "Responses" }
                    a href="/report" { "Full report" }
                    @if restricted {
                        a id="restricted-switch" class="switch on" href=(toggle) title="Flagged responses are shown: hide them again" { "Restricted shown — hide" }
                    } @else {
                        a id="restricted-switch" class="switch" href=(toggle) title="Flagged (safeguarding) responses are hidden" { "Show restricted" }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

pub fn error(status: axum::http::StatusCode, message: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (status.as_u16()) " · thematic" } link rel="stylesheet" href="/assets/app.css"; }
            body { main {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or_default()) }
                p id="error" { (message) }
                p { a href="/" { "Back to the dashboard" } }
            } }
        }
    }
    .into_string()
}

fn theme_label(view: &RunView, t: usize) -> &str {
    &view.codebook().themes[t].label
}

fn chips(view: &RunView, themes: &[usize]) -> Markup {
    html! {
        @for &t in themes {
            span class="chip" data-theme=(view.codebook().themes[t].id) { (theme_label(view, t)) }
        }
    }
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        "–".to_owned()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / of as f64)
    }
}

pub fn dashboard(view: &RunView, d: &Dashboard, restricted: bool) -> String {
    let themes = &view.codebook().themes;
    let mut order: Vec<usize> = (0..themes.len()).collect();
    order.sort_by(|a, b| d.themes[*b].cmp(&d.themes[*a]).then(a.cmp(b)));
    let max = order.first().map_or(1, |t| d.themes[*t]).max(1) as f64;
    let r = restricted_param(restricted);
    let theme_href = |id: &str| {
        let mut p = vec![("theme", id)];
        p.extend(r.iter().copied());
        href("/responses", &p)
    };
    let (label_w, bar_w, row_h) = (200.0, 420.0, 26.0);
    let body = html! {
        h1 { "Dashboard" }
        div class="totals" {
            div { b id="total-responses" { (d.responses) } "responses" }
            div { b { (d.units) } "response × question units" }
            div { b id="total-uncoded" { (d.uncoded) } "with no theme" }
            div { b id="total-flagged" { (d.flagged) } "flagged (restricted)" }
            div { b id="total-overrides" { (d.overrides_in_effect) } "analysts' corrections in effect" }
        }
        p class="note" { "Counts include every correction made here; "
            code { "thematic report" } " writes them into the report files." }
        h2 { "Responses per theme" }
        svg id="chart-themes" role="img" aria-label="Responses per theme" width=(label_w + bar_w + 120.0)
            height=(row_h * order.len() as f64 + 10.0) xmlns="http://www.w3.org/2000/svg" {
            @for (row, &t) in order.iter().enumerate() {
                @let y = row as f64 * row_h + 5.0;
                @let w = bar_w * d.themes[t] as f64 / max;
                a href=(theme_href(&themes[t].id)) {
                    text x=(label_w - 8.0) y=(y + 16.0) text-anchor="end" font-size="13" { (themes[t].label) }
                    rect x=(label_w) y=(y) width=(format!("{w:.1}")) height=(row_h - 8.0) fill="#4a6fa5" {}
                    text x=(label_w + w + 6.0) y=(y + 15.0) font-size="12" { (d.themes[t]) " (" (pct(d.themes[t], d.responses)) ")" }
                }
            }
        }
        table id="theme-table" {
            thead { tr { th { "Theme" } th class="n" { "Responses" } th class="n" { "Share" } } }
            tbody {
                @for &t in &order {
                    tr {
                        td { a class="theme-link" data-theme=(themes[t].id) href=(theme_href(&themes[t].id)) { (themes[t].label) } }
                        td class="n" data-count=(themes[t].id) { (d.themes[t]) }
                        td class="n" { (pct(d.themes[t], d.responses)) }
                    }
                }
                tr {
                    td { a href=(theme_href(NO_THEME)) { "No theme" } }
                    td class="n" { (d.uncoded) }
                    td class="n" { (pct(d.uncoded, d.responses)) }
                }
            }
        }
        @if let Some((name, values)) = &d.by {
            h2 { "Themes by " (name) }
            table id="crosstab" {
                thead { tr { th { "Theme" } @for v in values { th class="n" { (v) } } } }
                tbody {
                    @for &t in &order {
                        tr {
                            td { (themes[t].label) }
                            @for (i, v) in values.iter().enumerate() {
                                @let key = format!("a.{name}");
                                td class="n" {
                                    a href=({
                                        let mut q: Vec<(&str, &str)> = vec![("theme", themes[t].id.as_str()), (key.as_str(), v.as_str())];
                                        q.extend(r.iter().copied());
                                        href("/responses", &q)
                                    }) { (d.crosstab[t][i]) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let toggle = href("/", &restricted_param(!restricted));
    layout(view, "Dashboard", restricted, &toggle, body)
}

/// The browser's current filters as URL parameters (without `page`).
fn filter_params(filter: &Filter, restricted: bool) -> Vec<(String, String)> {
    let mut p = Vec::new();
    if let Some(q) = &filter.query {
        p.push(("q".to_owned(), q.clone()));
    }
    if let Some(t) = &filter.theme {
        p.push(("theme".to_owned(), t.clone()));
    }
    if let Some(q) = &filter.question {
        p.push(("question".to_owned(), q.clone()));
    }
    for (k, v) in &filter.attributes {
        p.push((format!("a.{k}"), v.clone()));
    }
    if restricted {
        p.push(("restricted".to_owned(), "1".to_owned()));
    }
    p
}

fn browser_href(filter: &Filter, restricted: bool, page: Option<usize>) -> String {
    let mut p = filter_params(filter, restricted);
    if let Some(n) = page {
        p.push(("page".to_owned(), n.to_string()));
    }
    let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    href("/responses", &refs)
}

/// Longest stretch of a response shown in the browser's grid.
const SNIPPET_CHARS: usize = 280;

fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(SNIPPET_CHARS).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    display_safe(&s)
}

pub fn browser(view: &RunView, filter: &Filter, page: &Page, restricted: bool) -> String {
    let themes = &view.codebook().themes;
    let header = &view.units().header;
    let questions = &view.manifest.questions;
    let selected = |a: &str, name: &str| {
        filter
            .attributes
            .iter()
            .find(|(k, _)| k == name)
            .is_some_and(|(_, v)| v.eq_ignore_ascii_case(a))
    };
    let first = (page.page - 1) * PAGE_SIZE + 1;
    let body = html! {
        h1 { "Responses" }
        form class="filters" method="get" action="/responses" {
            label { "Search" input type="search" name="q" value=(filter.query.as_deref().unwrap_or_default())
                placeholder="kinship care, \"care leaver*\", NEAR/5(ofsted inspection)"; }
            label { "Theme" select name="theme" {
                option value="" { "any" }
                @for t in themes {
                    option value=(t.id) selected[filter.theme.as_deref() == Some(t.id.as_str())] { (t.label) }
                }
                option value=(NO_THEME) selected[filter.theme.as_deref() == Some(NO_THEME)] { "no theme" }
            } }
            @if questions.len() > 1 {
                label { "Question" select name="question" {
                    option value="" { "any" }
                    @for q in questions {
                        option value=(q) selected[filter.question.as_deref() == Some(q.as_str())] { (q) }
                    }
                } }
            }
            @for a in &header.attributes {
                @let name = format!("a.{}", a.name);
                label { (a.name)
                    @if a.values.len() <= 100 {
                        select name=(name) {
                            option value="" { "any" }
                            @for v in &a.values {
                                option value=(v) selected[selected(v, &a.name)] { (v) }
                            }
                        }
                    } @else {
                        input type="text" name=(name) value=(filter.attributes.iter().find(|(k, _)| *k == a.name).map(|(_, v)| v.as_str()).unwrap_or_default());
                    }
                }
            }
            @if restricted { input type="hidden" name="restricted" value="1"; }
            button type="submit" { "Filter" }
        }
        p id="match-count" data-total=(page.total) {
            (page.total) " matching unit(s)"
            @if page.total > 0 { "; showing " (first) "–" (first + page.rows.len() - 1) }
        }
        table id="responses" {
            thead { tr {
                th { "Response" }
                @if questions.len() > 1 { th { "Question" } }
                th { "Attributes" } th { "Themes" } th { "Text" }
            } }
            tbody {
                @for row in &page.rows {
                    tr data-id=(row.unit.id) {
                        td { a class="response-link" href=(response_href(&row.unit.id, restricted)) { (row.unit.id) } }
                        @if questions.len() > 1 { td { (row.unit.question) } }
                        td { @for (k, v) in &row.unit.attributes { span class="note" { (k) ": " } (v) br; } }
                        td { (chips(view, &row.themes)) @if row.flagged { span class="chip flag" { "restricted" } } }
                        td class="snippet" {
                            @if row.flagged && !restricted {
                                span class="note" { "Flagged for safeguarding review: text hidden. Use “Show restricted” to read it." }
                            } @else {
                                (snippet(&row.unit.text))
                            }
                        }
                    }
                }
            }
        }
        div class="pager" {
            @if page.page > 1 { a id="prev" href=(browser_href(filter, restricted, Some(page.page - 1))) { "← previous" } }
            span { "page " (page.page) " of " (page.pages) }
            @if page.page < page.pages { a id="next" href=(browser_href(filter, restricted, Some(page.page + 1))) { "next →" } }
        }
    };
    let mut toggle_filter = filter.clone();
    toggle_filter.page = page.page;
    let toggle = browser_href(&toggle_filter, !restricted, Some(page.page));
    layout(view, "Responses", restricted, &toggle, body)
}

/// A highlighted span of a response.
struct Span {
    start: usize,
    end: usize,
    label: String,
    flag: bool,
    theme: String,
}

fn evidence_label(code: &Code, e: &Evidence) -> String {
    match e.source {
        Source::Keyword(k) => format!(
            "{} · keyword “{}”",
            code.id,
            code.keywords
                .get(k as usize)
                .map_or("", |k| k.item.source.as_str())
        ),
        Source::Rule(r) => format!(
            "{} · rule {}",
            code.id,
            code.rules.get(r as usize).map_or("", |r| r.id.as_str())
        ),
    }
}

/// The text with every evidence span marked and labelled. Spans may overlap:
/// the text is cut at every span boundary, and each piece is marked with all
/// the spans covering it; a span's label follows its last piece.
fn highlighted(text: &str, spans: &[Span]) -> Markup {
    let mut cuts: Vec<usize> = vec![0, text.len()];
    for s in spans {
        cuts.push(s.start);
        cuts.push(s.end);
    }
    cuts.retain(|&c| c <= text.len() && text.is_char_boundary(c));
    cuts.sort_unstable();
    cuts.dedup();
    html! {
        @for w in cuts.windows(2) {
            @let (a, b) = (w[0], w[1]);
            @let piece = block_safe(&text[a..b]);
            @let covering: Vec<&Span> = spans.iter().filter(|s| s.start <= a && s.end >= b && s.start < s.end).collect();
            @if covering.is_empty() {
                (piece)
            } @else {
                @let title = covering.iter().map(|s| s.label.as_str()).collect::<Vec<_>>().join("; ");
                @let themes = covering.iter().map(|s| s.theme.as_str()).collect::<Vec<_>>().join(" ");
                mark class=(if covering.iter().any(|s| s.flag) { "ev flag" } else { "ev" }) data-themes=(themes) title=(title) { (piece) }
            }
            @for s in spans.iter().filter(|s| s.end == b && s.start < s.end) {
                span class="tag" data-theme=(s.theme) { (s.label) }
            }
        }
    }
}

/// Spans for every piece of theme evidence, and flag evidence when
/// restricted text is shown.
fn evidence_spans(codebook: &Codebook, coding: &Coding, restricted: bool) -> Vec<Span> {
    let flags: &[CodeHit] = if restricted { &coding.flags } else { &[] };
    let themes = coding
        .themes
        .iter()
        .map(|h| (h, &codebook.themes[h.code], false));
    let flags = flags.iter().map(|h| (h, &codebook.flags[h.code], true));
    themes
        .chain(flags)
        .flat_map(|(hit, code, flag)| {
            hit.evidence.iter().map(move |e| Span {
                start: e.byte_start as usize,
                end: e.byte_end as usize,
                label: evidence_label(code, e),
                flag,
                theme: code.id.clone(),
            })
        })
        .collect()
}

pub fn response(view: &RunView, id: &str, units: &[UnitView], restricted: bool) -> String {
    let codebook = view.codebook();
    let flagged = units.iter().any(|u| !u.coding.flags.is_empty());
    let hidden = flagged && !restricted;
    let several = view.manifest.questions.len() > 1;
    let body = html! {
        h1 { "Response " (id) }
        @if let Some(first) = units.first() {
            table id="attributes" {
                @for (k, v) in &first.unit.attributes { tr { th { (k) } td { (v) } } }
            }
        }
        @if hidden {
            p class="restricted" id="restricted-notice" {
                "Flagged for safeguarding review: restricted. Its text, codes and corrections are shown only with "
                a href=(response_href(id, true)) { "Show restricted" } "."
            }
        }
        @for u in units {
            section class="unit" data-question=(u.unit.question) {
                @if several { h2 { "Question: " (u.unit.question) } }
                @if !hidden {
                    @let spans = evidence_spans(codebook, &u.coding, restricted);
                    @if !u.coding.flags.is_empty() {
                        p class="restricted" { "Flagged: "
                            @for f in &u.coding.flags { span class="chip flag" { (codebook.flags[f.code].label) } } }
                    }
                    div class="text" id="text" { (highlighted(&u.unit.text, &spans)) }
                    h2 { "Themes" }
                    table class="codes" id="codes" {
                        tbody {
                            @for hit in &u.coding.themes {
                                @let code = &codebook.themes[hit.code];
                                tr data-theme=(code.id) {
                                    td { span class="chip" { (code.label) } }
                                    td {
                                        @if hit.evidence.is_empty() {
                                            span class="chip override" { "added by an analyst" }
                                        } @else {
                                            (hit.evidence.len()) " piece(s) of evidence"
                                        }
                                    }
                                    td {
                                        form method="post" action="/override" class="remove" {
                                            input type="hidden" name="id" value=(id);
                                            input type="hidden" name="question" value=(u.unit.question);
                                            input type="hidden" name="theme" value=(code.id);
                                            input type="hidden" name="action" value="remove";
                                            @if restricted { input type="hidden" name="restricted" value="1"; }
                                            input type="text" name="reason" placeholder="reason (optional)";
                                            button type="submit" class="remove-theme" data-theme=(code.id) { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @let absent: Vec<&Code> = codebook.themes.iter().enumerate().filter(|(t, _)| !u.coding.has_theme(*t)).map(|(_, c)| c).collect();
                    @if !absent.is_empty() {
                        form method="post" action="/override" class="add" {
                            input type="hidden" name="id" value=(id);
                            input type="hidden" name="question" value=(u.unit.question);
                            input type="hidden" name="action" value="add";
                            @if restricted { input type="hidden" name="restricted" value="1"; }
                            select name="theme" { @for c in &absent { option value=(c.id) { (c.label) } } }
                            " "
                            input type="text" name="reason" placeholder="reason (optional)";
                            " "
                            button type="submit" class="add-theme" { "Add theme" }
                        }
                    }
                    @if !u.overrides.is_empty() {
                        h2 { "Corrections" }
                        table id="corrections" {
                            thead { tr { th { "When" } th { "Who" } th { "Change" } th { "Reason" } } }
                            tbody {
                                @for o in &u.overrides {
                                    tr {
                                        td { (o.at) } td { (o.user) }
                                        td { (o.action.as_str()) " " (o.theme) }
                                        td { (o.reason.as_deref().unwrap_or("—")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let toggle = response_href(id, !restricted);
    layout(view, &format!("Response {id}"), restricted, &toggle, body)
}
