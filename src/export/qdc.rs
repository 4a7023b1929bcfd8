//! REFI-QDA codebooks (`.qdc`): export a thematic codebook's themes as codes,
//! and import a codebook made in NVivo, ATLAS.ti, MAXQDA or QualCoder as a
//! thematic TOML *skeleton* — codes become themes with their names and
//! descriptions; keywords are the analyst's to write (each theme starts with
//! its own name as its one keyword, so the skeleton is valid and codes at
//! once).

use std::fmt::Write as _;

use uuid::Uuid;

use crate::codebook::Codebook;

#[derive(Debug, thiserror::Error)]
pub enum QdcError {
    #[error("{path}: not a REFI-QDA codebook: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: the codebook has no codes; nothing to import")]
    Empty { path: String },
}

/// The codebook's themes as a REFI-QDA codebook document.
pub fn to_qdc(codebook: &Codebook) -> String {
    let ns = Uuid::NAMESPACE_URL;
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = writeln!(
        xml,
        "<CodeBook xmlns=\"urn:QDA-XML:codebook:1.0\" origin=\"thematic {}\">\n<Codes>",
        env!("CARGO_PKG_VERSION")
    );
    for (i, theme) in codebook.themes.iter().enumerate() {
        let guid = Uuid::new_v5(&ns, format!("thematic:code:{}", theme.id).as_bytes());
        let _ = writeln!(
            xml,
            "<Code guid=\"{guid}\" name=\"{}\" isCodable=\"true\" color=\"{}\"><Description>{}</Description></Code>",
            super::attr(&theme.label),
            super::PALETTE[i % super::PALETTE.len()],
            super::text(&theme.description)
        );
    }
    xml.push_str("</Codes>\n</CodeBook>\n");
    xml
}

/// A TOML codebook skeleton from a REFI-QDA codebook. Nested codes are
/// flattened, their labels joined with " / ".
pub fn from_qdc(xml: &str, origin: &str) -> Result<String, QdcError> {
    let invalid = |message: String| QdcError::Invalid {
        path: origin.to_owned(),
        message,
    };
    let doc = roxmltree::Document::parse(xml).map_err(|e| invalid(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "CodeBook" {
        return Err(invalid(format!(
            "the root element is <{}>, expected <CodeBook>",
            root.tag_name().name()
        )));
    }
    let mut themes: Vec<(String, String, String)> = Vec::new();
    let Some(codes) = root.children().find(|n| n.tag_name().name() == "Codes") else {
        return Err(QdcError::Empty {
            path: origin.to_owned(),
        });
    };
    collect(codes, "", &mut themes);
    if themes.is_empty() {
        return Err(QdcError::Empty {
            path: origin.to_owned(),
        });
    }
    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "# Imported from {origin} by thematic codebook import.\n\
         # Each theme starts with its own name as its only keyword: add the words,\n\
         # phrases, prefix* and =exact items that mark it, then run\n\
         # `thematic codebook check THIS.toml --corpus RESPONSES` to see what matches.\n"
    );
    let _ = writeln!(
        toml,
        "name = {}",
        quoted(&format!("Imported from {origin}"))
    );
    let _ = writeln!(toml, "version = \"1\"\n");
    let mut ids: Vec<String> = Vec::new();
    for (label, description, keyword) in &themes {
        let base = slug(label);
        let mut id = base.clone();
        let mut n = 2;
        while ids.contains(&id) {
            id = format!("{base}_{n}");
            n += 1;
        }
        ids.push(id.clone());
        let _ = writeln!(toml, "[[theme]]");
        let _ = writeln!(toml, "id = {}", quoted(&id));
        let _ = writeln!(toml, "label = {}", quoted(label));
        if !description.is_empty() {
            let _ = writeln!(toml, "description = {}", quoted(description));
        }
        let _ = writeln!(toml, "keywords = [{}]\n", quoted(keyword));
    }
    Ok(toml)
}

/// Codable codes under `node`, depth first: (label, description, keyword).
fn collect(node: roxmltree::Node<'_, '_>, prefix: &str, out: &mut Vec<(String, String, String)>) {
    for code in node.children().filter(|n| n.tag_name().name() == "Code") {
        let name = code.attribute("name").unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        let label = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix} / {name}")
        };
        let description = code
            .children()
            .find(|n| n.tag_name().name() == "Description")
            .and_then(|n| n.text())
            .unwrap_or("")
            .trim()
            .to_owned();
        let codable = code.attribute("isCodable") != Some("false");
        let keyword: String = name
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '\'' {
                    c
                } else {
                    ' '
                }
            })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if codable && !keyword.is_empty() {
            out.push((label.clone(), description, keyword));
        }
        collect(code, &label, out);
    }
}

/// A theme id from a label: lowercase ASCII letters, digits and `_`.
fn slug(label: &str) -> String {
    let mut s = String::new();
    for c in label.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    let s = s.trim_matches('_').to_owned();
    if s.is_empty() { "code".to_owned() } else { s }
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
