//! The codebook's regex rules, searched all at once.
//!
//! A set of patterns with Unicode `\b` cannot run on the lazy DFA over
//! non-ASCII text and falls back to the PikeVM, which made regex rules half
//! of all coding time on realistic text (curly apostrophes are everywhere).
//! So the set is searched in two steps that together give exactly the
//! Unicode answer:
//!
//! 1. a *relaxed* multi-pattern regex — each pattern with its word-boundary
//!    assertions removed — finds candidate patterns. Removing an assertion
//!    only lets a pattern match more, so no true match is missed, and without
//!    look-around the whole set runs on the lazy DFA in one pass;
//! 2. each candidate is confirmed by searching it with its own
//!    (prefiltered) Unicode regex — the same search that collects evidence.

use regex::Regex;
use regex_automata::{Input, MatchKind, PatternSet, meta};
use regex_syntax::hir::{Hir, HirKind, Look};

use super::ClassifyError;

pub(super) struct RegexBank {
    /// Every pattern without `\b`/`\B`; matches a superset of `exact`.
    relaxed: meta::Regex,
    exact: Vec<Regex>,
}

impl RegexBank {
    pub(super) fn new(patterns: &[String]) -> Result<RegexBank, ClassifyError> {
        let err = |e: String| ClassifyError::RegexSet(e);
        let exact = patterns
            .iter()
            .map(|p| Regex::new(p).map_err(|e| err(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut relaxed_hirs = Vec::with_capacity(patterns.len());
        for p in patterns {
            let hir = regex_syntax::parse(p).map_err(|e| err(e.to_string()))?;
            relaxed_hirs.push(without_word_boundaries(hir));
        }
        let relaxed = meta::Regex::builder()
            .configure(meta::Config::new().match_kind(MatchKind::All))
            .build_many_from_hir(&relaxed_hirs)
            .map_err(|e| err(e.to_string()))?;
        Ok(RegexBank { relaxed, exact })
    }

    /// Indices of the patterns that *may* match `text`: a superset of those
    /// that do;
    /// [`RegexBank::find_all`] is the confirmation (empty when the relaxed
    /// pattern matched but the exact one does not), so no text is searched
    /// twice by the same exact regex.
    pub(super) fn candidates(&self, text: &str) -> Vec<usize> {
        if self.exact.is_empty() {
            return Vec::new();
        }
        let mut candidates = PatternSet::new(self.relaxed.pattern_len());
        self.relaxed
            .which_overlapping_matches(&Input::new(text), &mut candidates);
        candidates.iter().map(|p| p.as_usize()).collect()
    }

    /// Indices of the patterns that match `text` anywhere.
    #[cfg(test)]
    fn matching(&self, text: &str) -> Vec<usize> {
        if self.exact.is_empty() {
            return Vec::new();
        }
        let mut candidates = PatternSet::new(self.relaxed.pattern_len());
        self.relaxed
            .which_overlapping_matches(&Input::new(text), &mut candidates);
        candidates
            .iter()
            .map(|p| p.as_usize())
            .filter(|&i| self.exact[i].is_match(text))
            .collect()
    }

    /// Byte ranges of the non-empty matches of pattern `i` in `text`.
    pub(super) fn find_all(&self, i: usize, text: &str) -> Vec<(usize, usize)> {
        self.exact[i]
            .find_iter(text)
            .filter(|m| !m.is_empty())
            .map(|m| (m.start(), m.end()))
            .collect()
    }
}

/// `hir` with every word-boundary assertion replaced by the empty match.
fn without_word_boundaries(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Look(look) if is_word_look(look) => Hir::empty(),
        HirKind::Repetition(mut rep) => {
            rep.sub = Box::new(without_word_boundaries(*rep.sub));
            Hir::repetition(rep)
        }
        HirKind::Capture(mut cap) => {
            cap.sub = Box::new(without_word_boundaries(*cap.sub));
            Hir::capture(cap)
        }
        HirKind::Concat(subs) => {
            Hir::concat(subs.into_iter().map(without_word_boundaries).collect())
        }
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.into_iter().map(without_word_boundaries).collect())
        }
        kind @ (HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_)) => {
            rebuild_leaf(kind)
        }
    }
}

fn rebuild_leaf(kind: HirKind) -> Hir {
    match kind {
        HirKind::Literal(lit) => Hir::literal(lit.0),
        HirKind::Class(class) => Hir::class(class),
        HirKind::Look(look) => Hir::look(look),
        _ => Hir::empty(),
    }
}

fn is_word_look(look: Look) -> bool {
    !matches!(
        look,
        Look::Start | Look::End | Look::StartLF | Look::EndLF | Look::StartCRLF | Look::EndCRLF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bank(patterns: &[&str]) -> RegexBank {
        let owned: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        RegexBank::new(&owned).unwrap()
    }

    #[test]
    fn matches_agree_with_each_regex_alone() {
        let patterns = [
            r"(?i)\b(\d+|too many)\s+workers\b",
            r"£\s?\d",
            r"\bCP\b",
            r"\bcafé\b",
            r"\Bork",
            r"^Why",
        ];
        let b = bank(&patterns);
        for text in [
            "I had 11 workers and TOO MANY workers; CP plan",
            "un café noir, £5 — CPR isn’t CP’s job",
            "cafés and networkers",
            "Why? workers’ rights",
            "",
        ] {
            let expected: Vec<usize> = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| Regex::new(p).unwrap().is_match(text))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(b.matching(text), expected, "{text}");
        }
        assert_eq!(
            b.find_all(0, "I had 11 workers and TOO MANY workers"),
            [(6, 16), (21, 37)]
        );
    }
}
