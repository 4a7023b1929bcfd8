//! `thematic export --format ndjson`: one JSON document per response (id,
//! attributes, answers by question, themes overall and by question), plus a
//! Quickwit index configuration, so a corpus too large for one machine can be
//! searched on a Quickwit (tantivy-based, distributed) cluster. Flagged
//! responses are left out, as in the REFI-QDA export.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::{ExportError, FinishedRun};
use crate::output::OutputDir;

pub const NDJSON_FILE: &str = "responses.ndjson";
pub const QUICKWIT_FILE: &str = "quickwit-index.yaml";

/// What the export wrote.
#[derive(Debug)]
pub struct NdjsonSummary {
    pub documents: usize,
    pub flagged_left_out: usize,
}

pub fn write_ndjson(out_dir: &Path) -> Result<NdjsonSummary, ExportError> {
    let run = FinishedRun::load(out_dir)?;
    let (codes, units) = (&run.codes, &run.units);

    // Units arrive in ordinal order, a response's units together.
    let mut body = String::with_capacity(units.iter().map(|u| u.text.len() + 200).sum());
    let mut documents = 0;
    let mut flagged_left_out = 0;
    let mut i = 0;
    while i < units.len() {
        let id = &units[i].id;
        let mut j = i;
        while j < units.len() && units[j].id == *id {
            j += 1;
        }
        let members = &units[i..j];
        i = j;
        if members.iter().any(|u| run.is_flagged(u)) {
            flagged_left_out += 1;
            continue;
        }
        let mut answers = Map::new();
        let mut by_question = Map::new();
        let mut themes: Vec<&str> = Vec::new();
        for u in members {
            answers.insert(u.question.clone(), Value::String(u.text.clone()));
            let unit_themes: Vec<&str> = codes
                .get(&u.ord)
                .map(|c| c.themes.iter().map(String::as_str).collect())
                .unwrap_or_default();
            for t in &unit_themes {
                if !themes.contains(t) {
                    themes.push(t);
                }
            }
            by_question.insert(u.question.clone(), json!(unit_themes));
        }
        let attributes: BTreeMap<&str, &str> = members[0]
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let doc = json!({
            "id": id,
            "attributes": attributes,
            "answers": answers,
            "themes": themes,
            "themes_by_question": by_question,
        });
        let _ = writeln!(body, "{doc}");
        documents += 1;
    }
    let out = OutputDir::prepare(out_dir)?;
    out.write_file(&format!("export/{NDJSON_FILE}"), body.as_bytes())?;
    out.write_file(
        &format!("export/{QUICKWIT_FILE}"),
        quickwit_config(&run.manifest.codebook_name).as_bytes(),
    )?;
    out.commit()?;
    Ok(NdjsonSummary {
        documents,
        flagged_left_out,
    })
}

/// A Quickwit index for the documents above: answers stemmed for search,
/// ids, attributes and themes as exact, fast fields for filters and counts.
fn quickwit_config(codebook_name: &str) -> String {
    format!(
        "# Quickwit index for thematic's responses.ndjson (codebook: {codebook_name}).\n\
         # quickwit index create --index-config quickwit-index.yaml\n\
         # quickwit tool local-ingest --index thematic-responses --input-path responses.ndjson\n\
         version: 0.8\n\
         index_id: thematic-responses\n\
         doc_mapping:\n\
         \x20 mode: strict\n\
         \x20 field_mappings:\n\
         \x20   - name: id\n\
         \x20     type: text\n\
         \x20     tokenizer: raw\n\
         \x20     fast: true\n\
         \x20   - name: attributes\n\
         \x20     type: json\n\
         \x20     tokenizer: raw\n\
         \x20     fast: true\n\
         \x20   - name: answers\n\
         \x20     type: json\n\
         \x20     tokenizer: en_stem\n\
         \x20     record: position\n\
         \x20   - name: themes\n\
         \x20     type: array<text>\n\
         \x20     tokenizer: raw\n\
         \x20     fast: true\n\
         \x20   - name: themes_by_question\n\
         \x20     type: json\n\
         \x20     tokenizer: raw\n\
         search_settings:\n\
         \x20 default_search_fields: [answers]\n"
    )
}
