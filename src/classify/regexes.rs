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
//!
//! A literal prefilter makes a search jump from one occurrence of a pattern's
//! leading literals to the next, and usually pays. It does not when the
//! literals are common in prose (a case-insensitive alternation of sixteen
//! words, `need|no|any|get|…`, cut down to their first bytes, stops every
//! four bytes: five times slower than the lazy DFA alone), so each ASCII-boundary
//! regex is built with a prefilter only when its literals are rare in an
//! ordinary English paragraph ([`prefilter_pays`]). Matches are the same
//! either way; only the speed differs.

use regex::Regex;
use regex_automata::util::prefilter::Prefilter;
use regex_automata::{Input, MatchKind, PatternSet, Span, meta};
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
    exact_ascii_bounds: Vec<meta::Regex>,
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
            let ascii = with_ascii_word_boundaries(hir.clone());
            let config = meta::Config::new().auto_prefilter(prefilter_pays(&ascii));
            exact_ascii_bounds.push(
                meta::Regex::builder()
                    .configure(config)
                    .build_from_hir(&ascii)
                    .map_err(|e| err(e.to_string()))?,
            );
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
        if ascii_bounds {
            self.exact_ascii_bounds[i]
                .find_iter(text)
                .filter(|m| !m.is_empty())
                .map(|m| (m.start(), m.end()))
                .collect()
        } else {
            self.exact[i]
                .find_iter(text)
                .filter(|m| !m.is_empty())
                .map(|m| (m.start(), m.end()))
                .collect()
        }
    }
}

/// Plain prose to try prefilters on: everyday words, no codebook vocabulary.
const PROSE: &str = "When we moved to the new house last year, nobody told us \
    what would happen next or who we should call. My mother had been unwell for \
    a long time and I was looking after my two younger brothers as well as \
    going to school. Some of the people we met were kind and listened, but \
    others seemed to be in a hurry and never came back. It would have made a \
    real difference if one person had stayed with us from the start, someone \
    who knew our story and did not ask us to tell it again and again. Things \
    got better when my aunt was able to take us in, although money was tight \
    and the rules about what she could get were hard to understand. I think \
    any family going through this should be able to ask for advice early, \
    before everything falls apart, and should not have to wait until there is \
    a crisis. I hope the people reading this will think about how it feels to \
    be on the other side of the table, and about the small things that help: \
    being on time, explaining the plan, and answering the phone.";

/// A prefilter hit on at most one byte in [`PREFILTER_MAX_RATE`] of [`PROSE`]
/// pays for itself; more often, restarting the DFA at every hit costs more
/// than the DFA scanning alone (measured: 240 hits per KB, 5x slower;
/// under 1 per KB, 3x faster; the break-even is near 50 per KB).
const PREFILTER_MAX_RATE: usize = 20;

/// Whether a literal prefilter would speed up searching for `hir` in prose.
fn prefilter_pays(hir: &Hir) -> bool {
    let Some(prefilter) = Prefilter::from_hir_prefix(MatchKind::LeftmostFirst, hir) else {
        return false;
    };
    let haystack = PROSE.as_bytes();
    let (mut hits, mut at) = (0usize, 0usize);
    while let Some(span) = prefilter.find(haystack, Span::from(at..haystack.len())) {
        hits += 1;
        if hits * PREFILTER_MAX_RATE > haystack.len() {
            return false;
        }
        at = span.start + 1;
    }
    true
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
            // Common leading literals: searched without a prefilter.
            r"(?i)\b(need|no|any|get)\s+(help|support)\b",
        ];
        let b = bank(&patterns);
        for text in [
            "I had 11 workers and TOO MANY workers; CP plan",
            "we got no help, then any Support; nohelp",
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
            "no help, NO SUPPORT, knowhelp, no helpers, any support",
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
        assert_eq!(
            b.find_all(6, "no help, NO SUPPORT, knowhelp, no helpers", true),
            [(0, 7), (9, 19)]
        );
        // A non-ASCII letter beside a boundary needs the Unicode regexes.
        assert!(!ascii_bounds_suffice("un café noir"));
        assert_eq!(b.find_all(3, "un café noir", false), [(3, 8)]);
        assert_eq!(b.find_all(3, "un café noir", true), []);
        assert_eq!(
            b.find_all(0, "I had 11 workers and TOO MANY workers", true),
            [(6, 16), (21, 37)]
        );
    }

    #[test]
    fn prefilters_are_kept_only_for_literals_rare_in_prose() {
        let ascii = |p: &str| with_ascii_word_boundaries(regex_syntax::parse(p).unwrap());
        assert!(prefilter_pays(&ascii(r"\b(CPD|NQSW|ASYE|PSW)\b")));
        assert!(prefilter_pays(&ascii(r"(?i)\bdepends?\s+on\b")));
        // The default codebook's: so many literals that the prefilter keeps
        // only their first byte or two, and stops every four bytes.
        assert!(!prefilter_pays(&ascii(
            r"(?i)\b(needed|need|needs|want|wanted|begged for|asked for|ask for|get|getting|got no|no|any|offered|offer)\s+(help|support)\b"
        )));
        // No literal prefix at all: nothing to decide.
        assert!(!prefilter_pays(&ascii(r"\w+ly\b")));
    }
}
