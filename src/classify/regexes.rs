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
    /// `exact` with ASCII word boundaries, which the DFAs handle (Unicode
    /// `\b` sends every confirmation to the slow engines). Equal to `exact`
    /// on a text with no non-ASCII word character: only the characters
    /// either side of a boundary decide it.
    exact_ascii_bounds: Vec<Regex>,
}

/// Whether a text can be searched with [`RegexBank`]'s ASCII-boundary regexes.
pub(super) fn ascii_bounds_suffice(text: &str) -> bool {
    text.is_ascii()
        || text
            .chars()
            .all(|c| c.is_ascii() || !regex_syntax::is_word_character(c))
}

impl RegexBank {
    pub(super) fn new(patterns: &[String]) -> Result<RegexBank, ClassifyError> {
        let err = |e: String| ClassifyError::RegexSet(e);
        let exact = patterns
            .iter()
            .map(|p| Regex::new(p).map_err(|e| err(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut relaxed_hirs = Vec::with_capacity(patterns.len());
        let mut exact_ascii_bounds = Vec::with_capacity(patterns.len());
        for p in patterns {
            let hir = regex_syntax::parse(p).map_err(|e| err(e.to_string()))?;
            let ascii = with_ascii_word_boundaries(hir.clone()).to_string();
            exact_ascii_bounds.push(Regex::new(&ascii).map_err(|e| err(e.to_string()))?);
            relaxed_hirs.push(without_word_boundaries(hir));
        }
        let relaxed = meta::Regex::builder()
            .configure(meta::Config::new().match_kind(MatchKind::All))
            .build_many_from_hir(&relaxed_hirs)
            .map_err(|e| err(e.to_string()))?;
        Ok(RegexBank {
            relaxed,
            exact,
            exact_ascii_bounds,
        })
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
    /// Every match of regex `i`; `ascii_bounds` from [`ascii_bounds_suffice`].
    pub(super) fn find_all(&self, i: usize, text: &str, ascii_bounds: bool) -> Vec<(usize, usize)> {
        let regex = if ascii_bounds {
            &self.exact_ascii_bounds[i]
        } else {
            &self.exact[i]
        };
        regex
            .find_iter(text)
            .filter(|m| !m.is_empty())
            .map(|m| (m.start(), m.end()))
            .collect()
    }
}

/// `hir` with every word-boundary assertion replaced by the empty match.
/// The same pattern with every word-boundary assertion made ASCII.
fn with_ascii_word_boundaries(hir: Hir) -> Hir {
    map_looks(hir, &|look| {
        Hir::look(match look {
            Look::WordUnicode => Look::WordAscii,
            Look::WordUnicodeNegate => Look::WordAsciiNegate,
            Look::WordStartUnicode => Look::WordStartAscii,
            Look::WordEndUnicode => Look::WordEndAscii,
            Look::WordStartHalfUnicode => Look::WordStartHalfAscii,
            Look::WordEndHalfUnicode => Look::WordEndHalfAscii,
            other => other,
        })
    })
}

fn without_word_boundaries(hir: Hir) -> Hir {
    map_looks(hir, &|look| {
        if is_word_look(look) {
            Hir::empty()
        } else {
            Hir::look(look)
        }
    })
}

/// `hir` with each look-around assertion replaced by `f(look)`.
fn map_looks(hir: Hir, f: &dyn Fn(Look) -> Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Look(look) => f(look),
        HirKind::Repetition(mut rep) => {
            rep.sub = Box::new(map_looks(*rep.sub, f));
            Hir::repetition(rep)
        }
        HirKind::Capture(mut cap) => {
            cap.sub = Box::new(map_looks(*cap.sub, f));
            Hir::capture(cap)
        }
        HirKind::Concat(subs) => Hir::concat(subs.into_iter().map(|h| map_looks(h, f)).collect()),
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.into_iter().map(|h| map_looks(h, f)).collect())
        }
        HirKind::Literal(lit) => Hir::literal(lit.0),
        HirKind::Class(class) => Hir::class(class),
        HirKind::Empty => Hir::empty(),
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
        // The ASCII-boundary regexes give the same matches wherever they are used.
        for text in [
            "I had 11 workers and TOO MANY workers; CP plan",
            "£5 — CPR isn’t CP’s job, “too many workers”",
            "Why? workers’ rights\u{a0}CP",
            "",
        ] {
            assert!(ascii_bounds_suffice(text), "{text}");
            for i in 0..patterns.len() {
                assert_eq!(
                    b.find_all(i, text, true),
                    b.find_all(i, text, false),
                    "{text}"
                );
            }
        }
        // A non-ASCII letter beside a boundary needs the Unicode regexes.
        assert!(!ascii_bounds_suffice("un café noir"));
        assert_eq!(b.find_all(3, "un café noir", false), [(3, 8)]);
        assert_eq!(b.find_all(3, "un café noir", true), []);
        assert_eq!(
            b.find_all(0, "I had 11 workers and TOO MANY workers", true),
            [(6, 16), (21, 37)]
        );
    }
}
