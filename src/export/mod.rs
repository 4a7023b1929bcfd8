//! Hand-off to qualitative-analysis packages: a REFI-QDA project (`.qdpx`)
//! that NVivo, ATLAS.ti, MAXQDA and QualCoder open, with one text source per
//! coded unit, the respondents as cases with their attributes as variables,
//! the codebook's themes as codes, and every evidence span as a coded
//! plain-text selection (REFI-QDA positions are Unicode code points, which is
//! what codes.jsonl's `start`/`end` are).
//!
//! Built from a finished run only: `run.json`, `codebook.toml`, `codes.jsonl`
//! and the texts stored in the index. Flagged responses are left out (their
//! text belongs to `restricted/`), and the export says how many.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use uuid::Uuid;

pub mod ndjson;
pub mod qdc;

use crate::codebook::{Codebook, CodebookError};
use crate::index::{self, IndexError, StoredUnit};
use crate::output::{OutputDir, OutputError};
use crate::pipeline::{Manifest, PipelineError, files, read_manifest};

/// Code colours, in theme order.
const PALETTE: [&str; 7] = [
    "#4A6FA5", "#C06C3E", "#5B8C5A", "#8E5C9E", "#B8A13A", "#3A8FB8", "#B83A5B",
];

/// Characters of an answer naming a selection that codes all of it.
const WHOLE_ANSWER_NAME: usize = 80;

/// The archive written into the run directory.
pub const QDPX_FILE: &str = "thematic.qdpx";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Run(#[from] PipelineError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Codebook(#[from] CodebookError),
    #[error(transparent)]
    Overrides(#[from] crate::overrides::OverrideError),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
}

/// What an export wrote.
#[derive(Debug)]
pub struct ExportSummary {
    pub path: PathBuf,
    pub sources: usize,
    pub selections: usize,
    pub codes: usize,
    /// Units left out because their response is flagged.
    pub flagged_left_out: usize,
}

/// One unit's line of codes.jsonl, read for an export.
pub(crate) struct UnitLine {
    pub themes: Vec<String>,
    pub flagged: bool,
    /// (theme id, char start, char end, matched text), one per span and
    /// theme: two keywords often cover the same words ("children's home",
    /// "children's homes").
    pub spans: Vec<(String, u32, u32, String)>,
}

/// What every export reads from a finished run.
pub(crate) struct FinishedRun {
    pub manifest: Manifest,
    /// codes.jsonl by ordinal.
    pub codes: BTreeMap<u64, UnitLine>,
    /// The stored units, in ordinal order (a response's units together).
    pub units: Vec<StoredUnit>,
}

impl FinishedRun {
    /// Load the run, with analysts' corrections applied: codes.jsonl holds
    /// those made before the last `code`/`report`; later ones (from `serve`)
    /// apply here too. A theme an analyst added has no evidence span, so it
    /// codes the whole answer.
    pub(crate) fn load(out_dir: &Path) -> Result<FinishedRun, ExportError> {
        let mut codes = read_codes(&out_dir.join(files::CODES_JSONL))?;
        let units = index::open_for_reading_through(&out_dir.join(files::INDEX))?.all_units()?;
        let overrides = crate::overrides::Overrides::load(out_dir)?;
        for u in &units {
            let Some(line) = codes.get_mut(&u.ord) else {
                continue;
            };
            overrides.apply_to_ids(&u.id, &u.question, &mut line.themes);
            line.spans.retain(|s| line.themes.contains(&s.0));
            for theme in &line.themes {
                if !line.spans.iter().any(|s| s.0 == *theme) {
                    let name: String = u.text.chars().take(WHOLE_ANSWER_NAME).collect();
                    line.spans
                        .push((theme.clone(), 0, u.text.chars().count() as u32, name));
                }
            }
            line.spans
                .sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
        }
        Ok(FinishedRun {
            manifest: read_manifest(out_dir)?,
            codes,
            units,
        })
    }

    pub(crate) fn is_flagged(&self, unit: &StoredUnit) -> bool {
        self.codes.get(&unit.ord).is_some_and(|c| c.flagged)
    }
}

/// codes.jsonl by ordinal. Errors name the line and say to re-code.
pub(crate) fn read_codes(path: &Path) -> Result<BTreeMap<u64, UnitLine>, ExportError> {
    let bad = |line: usize, message: String| ExportError::Input {
        path: format!("{}:{line}", path.display()),
        message,
    };
    let body = std::fs::read_to_string(path).map_err(|e| bad(0, e.to_string()))?;
    let mut out = BTreeMap::new();
    for (i, line) in body.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| bad(i + 1, format!("not JSON ({e}); re-run `thematic code`")))?;
        let ord = v["ordinal"]
            .as_u64()
            .ok_or_else(|| bad(i + 1, "no ordinal; re-run `thematic code`".to_owned()))?;
        let themes = v["themes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        let flagged = v["flags"].as_array().is_some_and(|f| !f.is_empty());
        let mut spans = Vec::new();
        for (theme, list) in v["evidence"].as_object().into_iter().flatten() {
            for e in list.as_array().into_iter().flatten() {
                let (Some(start), Some(end), Some(matched)) =
                    (e["start"].as_u64(), e["end"].as_u64(), e["text"].as_str())
                else {
                    return Err(bad(i + 1, "evidence without start/end/text".to_owned()));
                };
                spans.push((theme.clone(), start as u32, end as u32, matched.to_owned()));
            }
        }
        spans.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
        spans.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
        out.insert(
            ord,
            UnitLine {
                themes,
                flagged,
                spans,
            },
        );
    }
    Ok(out)
}

/// Write `OUT/thematic.qdpx` for the run in `out_dir`.
pub fn write_qdpx(out_dir: &Path) -> Result<ExportSummary, ExportError> {
    let run = FinishedRun::load(out_dir)?;
    let (codes, units) = (&run.codes, &run.units);
    let codebook = Codebook::from_path(&out_dir.join(files::CODEBOOK))?;

    let ns = Uuid::NAMESPACE_URL;
    let guid =
        |kind: &str, key: &str| Uuid::new_v5(&ns, format!("thematic:{kind}:{key}").as_bytes());
    let user = guid("user", "thematic");
    let several = run.manifest.questions.len() > 1;

    let mut xml = String::with_capacity(1 << 20);
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = writeln!(
        xml,
        "<Project xmlns=\"urn:QDA-XML:project:1.0\" name=\"{}\" origin=\"thematic {}\" creatingUserGUID=\"{user}\">",
        attr(&codebook.name),
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        xml,
        "<Users><User guid=\"{user}\" name=\"thematic\"/></Users>"
    );

    // Codebook: themes as codable codes.
    xml.push_str("<CodeBook><Codes>\n");
    for (i, theme) in codebook.themes.iter().enumerate() {
        let _ = writeln!(
            xml,
            "<Code guid=\"{}\" name=\"{}\" isCodable=\"true\" color=\"{}\"><Description>{}</Description></Code>",
            guid("code", &theme.id),
            attr(&theme.label),
            PALETTE[i % PALETTE.len()],
            text(&theme.description)
        );
    }
    xml.push_str("</Codes></CodeBook>\n");

    // Variables: one per attribute name, in first-seen order.
    let mut attribute_names: Vec<&str> = Vec::new();
    for u in units {
        for (name, _) in &u.attributes {
            if !attribute_names.contains(&name.as_str()) {
                attribute_names.push(name);
            }
        }
    }
    if !attribute_names.is_empty() {
        xml.push_str("<Variables>\n");
        for name in &attribute_names {
            let _ = writeln!(
                xml,
                "<Variable guid=\"{}\" name=\"{}\" typeOfVariable=\"Text\"/>",
                guid("variable", name),
                attr(name)
            );
        }
        xml.push_str("</Variables>\n");
    }

    // Which units go out: none of a flagged response's, whichever of its
    // answers holds the disclosure (the same policy as the ndjson export).
    let flagged_ids: std::collections::HashSet<&str> = units
        .iter()
        .filter(|u| run.is_flagged(u))
        .map(|u| u.id.as_str())
        .collect();
    let mut flagged_left_out = 0;
    let exported: Vec<&index::StoredUnit> = units
        .iter()
        .filter(|u| {
            let flagged = flagged_ids.contains(u.id.as_str());
            flagged_left_out += usize::from(flagged);
            !flagged
        })
        .collect();
    let source_name = |u: &index::StoredUnit| {
        if several {
            format!("{}:{}", u.id, u.question)
        } else {
            u.id.clone()
        }
    };

    // Cases: one per respondent, with their attributes and their sources.
    let mut cases: BTreeMap<&str, Vec<&index::StoredUnit>> = BTreeMap::new();
    for u in &exported {
        cases.entry(u.id.as_str()).or_default().push(u);
    }
    // Project.xsd wants at least one Case in <Cases> and one source in
    // <Sources>, so both are left out when nothing is exported.
    if !cases.is_empty() {
        xml.push_str("<Cases>\n");
    }
    for (id, members) in &cases {
        let _ = write!(
            xml,
            "<Case guid=\"{}\" name=\"{}\">",
            guid("case", id),
            attr(id)
        );
        for (name, value) in &members[0].attributes {
            let _ = write!(
                xml,
                "<VariableValue><VariableRef targetGUID=\"{}\"/><TextValue>{}</TextValue></VariableValue>",
                guid("variable", name),
                text(value)
            );
        }
        for u in members {
            let _ = write!(
                xml,
                "<SourceRef targetGUID=\"{}\"/>",
                guid("source", &u.ord.to_string())
            );
        }
        xml.push_str("</Case>\n");
    }
    if !cases.is_empty() {
        xml.push_str("</Cases>\n");
    }

    // Sources with their coded selections.
    let mut selections = 0;
    let mut files: Vec<(String, &str)> = Vec::with_capacity(exported.len());
    if !exported.is_empty() {
        xml.push_str("<Sources>\n");
    }
    for u in &exported {
        let source = guid("source", &u.ord.to_string());
        let file = format!("{source}.txt");
        let _ = writeln!(
            xml,
            "<TextSource guid=\"{source}\" name=\"{}\" plainTextPath=\"internal://{file}\">",
            attr(&source_name(u))
        );
        if let Some(c) = codes.get(&u.ord) {
            for (n, (theme, start, end, matched)) in c.spans.iter().enumerate() {
                let key = format!("{}:{theme}:{n}", u.ord);
                let _ = writeln!(
                    xml,
                    "<PlainTextSelection guid=\"{}\" name=\"{}\" startPosition=\"{start}\" endPosition=\"{end}\" creatingUser=\"{user}\"><Coding guid=\"{}\" creatingUser=\"{user}\"><CodeRef targetGUID=\"{}\"/></Coding></PlainTextSelection>",
                    guid("selection", &key),
                    attr(matched),
                    guid("coding", &key),
                    guid("code", theme)
                );
                selections += 1;
            }
        }
        xml.push_str("</TextSource>\n");
        files.push((file, u.text.as_str()));
    }
    if !exported.is_empty() {
        xml.push_str("</Sources>\n");
    }
    xml.push_str("</Project>\n");

    let archive = zip_archive(&xml, &files).map_err(|e| ExportError::Input {
        path: out_dir.join(QDPX_FILE).display().to_string(),
        message: format!("cannot build the archive: {e}"),
    })?;
    let out = OutputDir::prepare(out_dir)?;
    out.write_file(QDPX_FILE, &archive)?;
    out.commit()?;
    Ok(ExportSummary {
        path: out_dir.join(QDPX_FILE),
        sources: exported.len(),
        selections,
        codes: codebook.themes.len(),
        flagged_left_out,
    })
}

fn zip_archive(project: &str, sources: &[(String, &str)]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // A fixed timestamp keeps the archive byte-identical across runs.
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    zip.start_file("project.qde", options)?;
    zip.write_all(project.as_bytes())?;
    for (name, body) in sources {
        zip.start_file(format!("sources/{name}"), options)?;
        zip.write_all(body.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Escape for an XML attribute value; characters XML 1.0 forbids are dropped.
fn attr(s: &str) -> String {
    escape(s, true)
}

/// Escape for XML element text.
fn text(s: &str) -> String {
    escape(s, false)
}

fn escape(s: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if in_attribute => out.push_str("&quot;"),
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}
