//! One line of codes.jsonl, written straight into bytes.
//!
//! A codes.jsonl line is larger than the response it codes (every keyword
//! and rule hit carries its span and text), and one is written for every
//! response×question, so building it through serde's derived serializers
//! cost as much as matching the codebook's rules. [`CodesLineWriter`] keeps
//! every codebook name (code ids, keyword sources, rule ids) already quoted
//! and escaped, and escapes only the texts that need it, through serde_json
//! itself: its bytes are the ones `serde_json::to_vec` gives for the same
//! line, which the tests check.

use crate::classify::{CodeHit, Coding, Source};
use crate::codebook::{Code, Codebook};
use crate::overrides::Override;

/// The codebook's names as JSON string literals, made once per run.
pub struct CodesLineWriter {
    theme_ids: Vec<String>,
    flag_ids: Vec<String>,
    /// Per theme, per keyword: `"keyword":"…"`.
    keyword_fields: Vec<Vec<String>>,
    /// Per theme, per rule: `"rule":"…"`.
    rule_fields: Vec<Vec<String>>,
}

impl CodesLineWriter {
    pub fn new(codebook: &Codebook) -> Self {
        let quoted = |codes: &[Code]| codes.iter().map(|c| json_string(&c.id)).collect();
        CodesLineWriter {
            theme_ids: quoted(&codebook.themes),
            flag_ids: quoted(&codebook.flags),
            keyword_fields: codebook
                .themes
                .iter()
                .map(|c| {
                    c.keywords
                        .iter()
                        .map(|k| format!("\"keyword\":{}", json_string(&k.item.source)))
                        .collect()
                })
                .collect(),
            rule_fields: codebook
                .themes
                .iter()
                .map(|c| {
                    c.rules
                        .iter()
                        .map(|r| format!("\"rule\":{}", json_string(&r.id)))
                        .collect()
                })
                .collect(),
        }
    }

    /// The line (no newline) for one unit: its themes' evidence, never its
    /// flags' (flag evidence stays in the restricted file), and the
    /// analysts' corrections in effect for it.
    pub fn line(
        &self,
        id: &str,
        question: &str,
        ord: u64,
        text: &str,
        coding: &Coding,
        overrides: &[&Override],
    ) -> Vec<u8> {
        let evidence: usize = coding.themes.iter().map(|h| h.evidence.len()).sum();
        let mut out = Vec::with_capacity(96 + id.len() + question.len() + evidence * 80);
        out.extend_from_slice(b"{\"id\":");
        push_string(&mut out, id);
        out.extend_from_slice(b",\"question\":");
        push_string(&mut out, question);
        out.extend_from_slice(b",\"ordinal\":");
        out.extend_from_slice(itoa::Buffer::new().format(ord).as_bytes());
        out.extend_from_slice(b",\"themes\":");
        push_ids(&mut out, &coding.themes, &self.theme_ids);
        out.extend_from_slice(b",\"flags\":");
        push_ids(&mut out, &coding.flags, &self.flag_ids);
        out.extend_from_slice(b",\"evidence\":{");
        for (i, hit) in coding.themes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.theme_ids[hit.code].as_bytes());
            out.extend_from_slice(b":[");
            for (j, e) in hit.evidence.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.push(b'{');
                let source = match e.source {
                    Source::Keyword(k) => &self.keyword_fields[hit.code][k as usize],
                    Source::Rule(r) => &self.rule_fields[hit.code][r as usize],
                };
                out.extend_from_slice(source.as_bytes());
                out.extend_from_slice(b",\"start\":");
                out.extend_from_slice(itoa::Buffer::new().format(e.char_start).as_bytes());
                out.extend_from_slice(b",\"end\":");
                out.extend_from_slice(itoa::Buffer::new().format(e.char_end).as_bytes());
                out.extend_from_slice(b",\"text\":");
                let span = text
                    .get(e.byte_start as usize..e.byte_end as usize)
                    .unwrap_or_default();
                push_string(&mut out, span);
                out.push(b'}');
            }
            out.push(b']');
        }
        out.push(b'}');
        if !overrides.is_empty() {
            out.extend_from_slice(b",\"overrides\":");
            // Rare: corrections go through serde as they are.
            if serde_json::to_writer(&mut out, overrides).is_err() {
                out.extend_from_slice(b"[]");
            }
        }
        out.push(b'}');
        out
    }
}

fn push_ids(out: &mut Vec<u8>, hits: &[CodeHit], quoted: &[String]) {
    out.push(b'[');
    for (i, hit) in hits.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(quoted[hit.code].as_bytes());
    }
    out.push(b']');
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    push_string(&mut out, s);
    String::from_utf8(out).unwrap_or_default()
}

/// Append `s` as a JSON string literal: copied whole when nothing in it
/// needs escaping (almost every span and id), else escaped by serde_json.
fn push_string(out: &mut Vec<u8>, s: &str) {
    // No short-circuit, so the check runs as a straight (vectorised) loop.
    let needs_escape = s.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        if serde_json::to_writer(&mut *out, s).is_err() {
            out.extend_from_slice(b"\"\"");
        }
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Evidence;
    use proptest::prelude::*;
    use serde::Serialize;

    /// The line as serde derives it: the format the writer must reproduce.
    #[derive(Serialize)]
    struct Reference<'a> {
        id: &'a str,
        question: &'a str,
        ordinal: u64,
        themes: Vec<&'a str>,
        flags: Vec<&'a str>,
        evidence: serde_json::Map<String, serde_json::Value>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        overrides: &'a [&'a Override],
    }

    fn reference(
        codebook: &Codebook,
        (id, question, ord, text): (&str, &str, u64, &str),
        coding: &Coding,
        overrides: &[&Override],
    ) -> Vec<u8> {
        let ids = |hits: &[CodeHit], codes: &'static [Code]| -> Vec<&'static str> {
            hits.iter().map(|h| codes[h.code].id.as_str()).collect()
        };
        let codebook: &'static Codebook = Box::leak(Box::new(codebook.clone()));
        let mut evidence = serde_json::Map::new();
        for hit in &coding.themes {
            let code = &codebook.themes[hit.code];
            let spans = hit
                .evidence
                .iter()
                .map(|e| {
                    let mut span = serde_json::Map::new();
                    match e.source {
                        Source::Keyword(k) => span.insert(
                            "keyword".into(),
                            code.keywords[k as usize].item.source.clone().into(),
                        ),
                        Source::Rule(r) => {
                            span.insert("rule".into(), code.rules[r as usize].id.clone().into())
                        }
                    };
                    span.insert("start".into(), e.char_start.into());
                    span.insert("end".into(), e.char_end.into());
                    let t = text.get(e.byte_start as usize..e.byte_end as usize);
                    span.insert("text".into(), t.unwrap_or_default().into());
                    serde_json::Value::Object(span)
                })
                .collect();
            evidence.insert(code.id.clone(), serde_json::Value::Array(spans));
        }
        serde_json::to_vec(&Reference {
            id,
            question,
            ordinal: ord,
            themes: ids(&coding.themes, &codebook.themes),
            flags: ids(&coding.flags, &codebook.flags),
            evidence,
            overrides,
        })
        .unwrap()
    }

    /// One evidence span: which keyword or rule, keyword or rule, start, length.
    type SpanPick = (usize, bool, usize, usize);

    /// Hits on the default codebook: (code, its spans).
    fn hits() -> impl Strategy<Value = Vec<(usize, Vec<SpanPick>)>> {
        proptest::collection::vec(
            (
                0usize..7,
                proptest::collection::vec(
                    (0usize..1000, any::<bool>(), 0usize..200, 0usize..40),
                    0..5,
                ),
            ),
            0..4,
        )
    }

    proptest! {
        #[test]
        fn lines_are_the_bytes_serde_gives(
            id in "[a-zA-Z0-9\"\\\\\u{1}\n\té€😀 -]{0,12}",
            question in "[a-z_\"\\\\\u{1f}]{0,8}",
            text in "[a-zA-Z \"\\\\\u{0}-\u{1f}é€😀]{0,120}",
            ord in any::<u64>(),
            themes in hits(),
            flags in proptest::collection::vec(0usize..3, 0..3),
            corrected in any::<bool>(),
        ) {
            let codebook = Codebook::default_care_review().unwrap();
            let mut coding = Coding::default();
            let mut seen = std::collections::BTreeSet::new();
            for (code, spans) in themes {
                if !seen.insert(code) {
                    continue;
                }
                let c = &codebook.themes[code];
                let evidence = spans
                    .into_iter()
                    .map(|(pick, keyword, start, len)| {
                        let source = if keyword || c.rules.is_empty() {
                            Source::Keyword((pick % c.keywords.len()) as u32)
                        } else {
                            Source::Rule((pick % c.rules.len()) as u32)
                        };
                        // Spans may fall outside the text or inside a
                        // character: both give an empty text, as before.
                        Evidence {
                            char_start: start as u32,
                            char_end: (start + len) as u32,
                            byte_start: start as u32,
                            byte_end: (start + len) as u32,
                            sentence: 0,
                            source,
                        }
                    })
                    .collect();
                coding.themes.push(CodeHit { code, score: 1.0, evidence });
            }
            let flag_count = codebook.flags.len();
            for f in flags.into_iter().filter(|_| flag_count > 0) {
                coding.flags.push(CodeHit { code: f % flag_count, score: 1.0, evidence: vec![] });
            }
            let correction: Override = serde_json::from_value(serde_json::json!({
                "at": "2026-11-30T00:00:00Z", "user": "a\"b", "id": id, "theme": "care",
                "action": "add", "reason": "why\n"
            })).unwrap();
            let overrides: Vec<&Override> = if corrected { vec![&correction] } else { vec![] };
            let writer = CodesLineWriter::new(&codebook);
            let line = writer.line(&id, &question, ord, &text, &coding, &overrides);
            let expected = reference(&codebook, (&id, &question, ord, &text), &coding, &overrides);
            prop_assert_eq!(String::from_utf8(line).unwrap(), String::from_utf8(expected).unwrap());
        }
    }
}
