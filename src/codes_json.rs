//! Lines of codes.jsonl and of the restricted file, written straight into
//! bytes.
//!
//! A codes.jsonl line is larger than the response it codes (every keyword
//! and rule hit carries its span and text), and one is written for every
//! response×question, so building it through serde's derived serializers
//! cost as much as matching the codebook's rules. [`CodesLineWriter`] keeps
//! every codebook name (code ids, keyword sources, rule ids) already quoted
//! and escaped, and escapes only the texts that need it, through serde_json
//! itself: its bytes are the ones `serde_json::to_vec` gives for the same
//! line, which the tests check. Flagged units' lines in
//! `restricted/flagged.jsonl` carry their flags' evidence the same way.

use crate::classify::{CodeHit, Coding, Source};
use crate::codebook::{Code, Codebook};
use crate::overrides::Override;

/// The names of one kind of code (themes or flags) as JSON, made once per run.
struct CodeNames {
    /// Each code's id as a string literal.
    ids: Vec<String>,
    /// Per code, per keyword: `"keyword":"…"`.
    keyword_fields: Vec<Vec<String>>,
    /// Per code, per rule: `"rule":"…"`.
    rule_fields: Vec<Vec<String>>,
}

impl CodeNames {
    fn new(codes: &[Code]) -> Self {
        CodeNames {
            ids: codes.iter().map(|c| json_string(&c.id)).collect(),
            keyword_fields: codes
                .iter()
                .map(|c| {
                    c.keywords
                        .iter()
                        .map(|k| format!("\"keyword\":{}", json_string(&k.item.source)))
                        .collect()
                })
                .collect(),
            rule_fields: codes
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

    /// `[id, …]` of `hits`.
    fn push_ids(&self, out: &mut Vec<u8>, hits: &[CodeHit]) {
        out.push(b'[');
        for (i, hit) in hits.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.ids[hit.code].as_bytes());
        }
        out.push(b']');
    }

    /// `{id: [{keyword or rule, start, end, text}, …], …}` of `hits` in `text`.
    fn push_evidence(&self, out: &mut Vec<u8>, hits: &[CodeHit], text: &str) {
        out.push(b'{');
        for (i, hit) in hits.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.ids[hit.code].as_bytes());
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
                push_string(out, span);
                out.push(b'}');
            }
            out.push(b']');
        }
        out.push(b'}');
    }
}

/// The codebook's names as JSON string literals, made once per run.
pub struct CodesLineWriter {
    themes: CodeNames,
    flags: CodeNames,
}

impl CodesLineWriter {
    pub fn new(codebook: &Codebook) -> Self {
        CodesLineWriter {
            themes: CodeNames::new(&codebook.themes),
            flags: CodeNames::new(&codebook.flags),
        }
    }

    /// The codes.jsonl line (no newline) for one unit: its themes'
    /// evidence, never its flags' (flag evidence stays in the restricted
    /// file), and the analysts' corrections in effect for it.
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
        push_unit(&mut out, id, question, ord);
        out.extend_from_slice(b",\"themes\":");
        self.themes.push_ids(&mut out, &coding.themes);
        out.extend_from_slice(b",\"flags\":");
        self.flags.push_ids(&mut out, &coding.flags);
        out.extend_from_slice(b",\"evidence\":");
        self.themes.push_evidence(&mut out, &coding.themes, text);
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

    /// The `restricted/flagged.jsonl` line (no newline) for a flagged unit:
    /// its flags, their evidence and the whole text.
    pub fn flagged_line(
        &self,
        id: &str,
        question: &str,
        ord: u64,
        text: &str,
        coding: &Coding,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + id.len() + question.len() + text.len());
        push_unit(&mut out, id, question, ord);
        out.extend_from_slice(b",\"flags\":");
        self.flags.push_ids(&mut out, &coding.flags);
        out.extend_from_slice(b",\"evidence\":");
        self.flags.push_evidence(&mut out, &coding.flags, text);
        out.extend_from_slice(b",\"text\":");
        push_string(&mut out, text);
        out.push(b'}');
        out
    }
}

/// `{"id":…,"question":…,"ordinal":…`: how both lines begin.
fn push_unit(out: &mut Vec<u8>, id: &str, question: &str, ord: u64) {
    out.extend_from_slice(b"{\"id\":");
    push_string(out, id);
    out.extend_from_slice(b",\"question\":");
    push_string(out, question);
    out.extend_from_slice(b",\"ordinal\":");
    out.extend_from_slice(itoa::Buffer::new().format(ord).as_bytes());
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

    /// `{code id: [span…]}` as serde_json values.
    fn evidence_map(
        codes: &[Code],
        hits: &[CodeHit],
        text: &str,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut evidence = serde_json::Map::new();
        for hit in hits {
            let code = &codes[hit.code];
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
        evidence
    }

    fn ids<'c>(hits: &[CodeHit], codes: &'c [Code]) -> Vec<&'c str> {
        hits.iter().map(|h| codes[h.code].id.as_str()).collect()
    }

    fn reference(
        codebook: &Codebook,
        (id, question, ord, text): (&str, &str, u64, &str),
        coding: &Coding,
        overrides: &[&Override],
    ) -> Vec<u8> {
        serde_json::to_vec(&Reference {
            id,
            question,
            ordinal: ord,
            themes: ids(&coding.themes, &codebook.themes),
            flags: ids(&coding.flags, &codebook.flags),
            evidence: evidence_map(&codebook.themes, &coding.themes, text),
            overrides,
        })
        .unwrap()
    }

    /// The restricted file's line as serde derived it.
    #[derive(Serialize)]
    struct FlaggedReference<'a> {
        id: &'a str,
        question: &'a str,
        ordinal: u64,
        flags: Vec<&'a str>,
        evidence: serde_json::Map<String, serde_json::Value>,
        text: &'a str,
    }

    /// Hits on `codes` from picked codes and spans (a code once).
    fn coded(codes: &[Code], picks: Vec<(usize, Vec<SpanPick>)>) -> Vec<CodeHit> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for (code, spans) in picks {
            let code = code % codes.len();
            if !seen.insert(code) {
                continue;
            }
            let c = &codes[code];
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
            out.push(CodeHit {
                code,
                score: 1.0,
                evidence,
            });
        }
        out
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
            flags in hits(),
            corrected in any::<bool>(),
        ) {
            let codebook = Codebook::default_care_review().unwrap();
            let coding = Coding {
                themes: coded(&codebook.themes, themes),
                flags: coded(&codebook.flags, flags),
            };
            let correction: Override = serde_json::from_value(serde_json::json!({
                "at": "2026-11-30T00:00:00Z", "user": "a\"b", "id": id, "theme": "care",
                "action": "add", "reason": "why\n"
            })).unwrap();
            let overrides: Vec<&Override> = if corrected { vec![&correction] } else { vec![] };
            let writer = CodesLineWriter::new(&codebook);
            let line = writer.line(&id, &question, ord, &text, &coding, &overrides);
            let expected = reference(&codebook, (&id, &question, ord, &text), &coding, &overrides);
            prop_assert_eq!(String::from_utf8(line).unwrap(), String::from_utf8(expected).unwrap());

            let flagged = writer.flagged_line(&id, &question, ord, &text, &coding);
            let expected = serde_json::to_vec(&FlaggedReference {
                id: &id,
                question: &question,
                ordinal: ord,
                flags: ids(&coding.flags, &codebook.flags),
                evidence: evidence_map(&codebook.flags, &coding.flags, &text),
                text: &text,
            }).unwrap();
            prop_assert_eq!(String::from_utf8(flagged).unwrap(), String::from_utf8(expected).unwrap());
        }
    }
}
