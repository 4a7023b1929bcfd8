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
//! On a text with a non-ASCII word character (an accented name, "café")
//! Unicode `\b` keeps the exact regex off the lazy DFA, and the PikeVM
//! crawled through the whole text (30–65 ns a byte for two of the default
//! codebook's patterns, against ~1). There, [`RegexBank::find_all`] lets
//! the pattern's relaxed form propose start positions — every match of the
//! exact regex is a match of the relaxed one at the same start, and the
//! relaxed one runs on the DFA over any text — and tries the exact regex
//! anchored at each, which ends within a few characters. The matches are
//! those of `find_iter` (tested against it).
//!
//! A literal prefilter makes a search jump from one occurrence of a pattern's
//! leading literals to the next, and usually pays. It does not when the
//! literals are common in prose (a case-insensitive alternation of sixteen
//! words, `need|no|any|get|…`, cut down to their first bytes, stops every
//! four bytes: five times slower than the lazy DFA alone), so each ASCII-boundary
//! regex is built with a prefilter only when its literals are rare in an
//! ordinary English paragraph ([`prefilter_pays`]). Matches are the same
//! either way; only the speed differs.

use regex_automata::util::prefilter::Prefilter;
use regex_automata::{Anchored, Input, MatchKind, PatternSet, Span, meta};
use regex_syntax::hir::{Hir, HirKind, Look};

use super::ClassifyError;

pub(super) struct RegexBank {
    /// Every pattern without `\b`/`\B`; matches a superset of `exact`.
    relaxed: meta::Regex,
    /// The same set, leftmost-first: its first match starts where the
    /// earliest match of any pattern starts.
    relaxed_leftmost: meta::Regex,
    /// Each pattern without `\b`/`\B` on its own: proposes the starts at
    /// which `exact` is tried on texts that need Unicode boundaries.
    relaxed_each: Vec<meta::Regex>,
    exact: Vec<meta::Regex>,
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
        // A prefilter only where it pays (see the module doc).
        let build = |hir: &Hir| {
            meta::Regex::builder()
                .configure(meta::Config::new().auto_prefilter(prefilter_pays(hir)))
                .build_from_hir(hir)
                .map_err(|e| err(e.to_string()))
        };
        let mut relaxed_hirs = Vec::with_capacity(patterns.len());
        let mut relaxed_each = Vec::with_capacity(patterns.len());
        let mut exact = Vec::with_capacity(patterns.len());
        let mut exact_ascii_bounds = Vec::with_capacity(patterns.len());
        for p in patterns {
            let hir = regex_syntax::parse(p).map_err(|e| err(e.to_string()))?;
            // No prefilter probe for the Unicode regex: it is only tried
            // anchored, where a prefilter plays no part.
            exact.push(
                meta::Regex::builder()
                    .build_from_hir(&hir)
                    .map_err(|e| err(e.to_string()))?,
            );
            exact_ascii_bounds.push(build(&with_ascii_word_boundaries(hir.clone()))?);
            let relaxed = without_word_boundaries(hir);
            relaxed_each.push(build(&relaxed)?);
            relaxed_hirs.push(relaxed);
        }
        let relaxed = meta::Regex::builder()
            .configure(meta::Config::new().match_kind(MatchKind::All))
            .build_many_from_hir(&relaxed_hirs)
            .map_err(|e| err(e.to_string()))?;
        let relaxed_leftmost = meta::Regex::builder()
            .configure(meta::Config::new().auto_prefilter(false))
            .build_many_from_hir(&relaxed_hirs)
            .map_err(|e| err(e.to_string()))?;
        Ok(RegexBank {
            relaxed,
            relaxed_leftmost,
            relaxed_each,
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
        // Most texts match no pattern. Finding the leftmost match runs the
        // DFA's fast loop; asking which patterns match runs its overlapping
        // loop, several times the instructions a byte, so it is asked only
        // when some pattern matches, and only from where the leftmost match
        // starts: no match of any pattern starts before it.
        let Some(leftmost) = self.relaxed_leftmost.find(text) else {
            return Vec::new();
        };
        let mut candidates = PatternSet::new(self.relaxed.pattern_len());
        self.relaxed.which_overlapping_matches(
            &Input::new(text).range(leftmost.start()..),
            &mut candidates,
        );
        candidates.iter().map(|p| p.as_usize()).collect()
    }

    /// Indices of the patterns that match `text` anywhere.
    #[cfg(test)]
    fn matching(&self, text: &str) -> Vec<usize> {
        self.candidates(text)
            .into_iter()
            .filter(|&i| self.exact[i].is_match(text))
            .collect()
    }

    /// [`RegexBank::candidates`] the plain way: the overlapping search over
    /// the whole text.
    #[cfg(test)]
    fn candidates_by_whole_search(&self, text: &str) -> Vec<usize> {
        let mut candidates = PatternSet::new(self.relaxed.pattern_len());
        self.relaxed
            .which_overlapping_matches(&Input::new(text), &mut candidates);
        candidates.iter().map(|p| p.as_usize()).collect()
    }

    /// Byte ranges of the non-empty matches of pattern `i` in `text`.
    /// Every match of regex `i`; `ascii_bounds` from [`ascii_bounds_suffice`].
    pub(super) fn find_all(&self, i: usize, text: &str, ascii_bounds: bool) -> Vec<(usize, usize)> {
        if ascii_bounds {
            return self.exact_ascii_bounds[i]
                .find_iter(text)
                .filter(|m| !m.is_empty())
                .map(|m| (m.start(), m.end()))
                .collect();
        }
        // `find_iter` of the Unicode regex, by anchored tries at the starts
        // the relaxed regex proposes, in order. From `at`, the exact
        // regex's leftmost match starts at one of those starts, and
        // anchored there it gives the same (leftmost-first) match. An empty
        // match, which `find_iter` would step past, is stepped past here.
        let (relaxed, exact) = (&self.relaxed_each[i], &self.exact[i]);
        let mut found = Vec::new();
        let mut at = 0;
        while at <= text.len() {
            let Some(proposed) = relaxed.search(&Input::new(text).range(at..)) else {
                break;
            };
            let start = proposed.start();
            let anchored = Input::new(text).range(start..).anchored(Anchored::Yes);
            match exact.search(&anchored) {
                Some(m) if !m.is_empty() => {
                    found.push((m.start(), m.end()));
                    at = m.end();
                }
                _ => {
                    // The next char: a match starts on a char boundary.
                    at = start + text[start..].chars().next().map_or(1, char::len_utf8);
                }
            }
        }
        found
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
    use regex::Regex;

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

    proptest::proptest! {
        /// Searching from the leftmost match finds the patterns that the
        /// whole-text search finds: patterns that overlap, nest, start at
        /// the same place or depend on the text's start or end.
        #[test]
        fn candidates_equal_the_whole_text_search(text in "[abcx0-9 ]{0,30}") {
            let b = bank(&[
                r"ab", r"b+c", r"(?i)\babc\b", r"\d+ x", r"x$", r"^a", r"c\s*\d",
                r"a|abc", r"\Bb",
            ]);
            proptest::prop_assert_eq!(b.candidates(&text), b.candidates_by_whole_search(&text));
        }
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

    /// Patterns that stress the anchored tries: word boundaries inside and
    /// at both ends, `\B`, empty matches, alternations whose first choice
    /// is shorter, Unicode classes, literals with accents.
    const TRICKY: &[&str] = &[
        r"\b(CIN|SEND|TAF)\b",
        r"(?i)\b(needed|need|no|any|get|got no)\s+(help|support)\b",
        r"(?i)\bmoved\s+(\d+|\w+)\s+(times|placements|homes)\b",
        r"(?i)\b(\d+|two|too many|new)\s+(social )?workers\b",
        r"£\s?\d",
        r"\bcafé\b",
        r"\w+é\b",
        r"\Bé\w*",
        r"\b",
        r"x*",
        r"(?i)\b(a|ab)\b",
        r"\b\w{2}\b",
        r"(?i)naïve\w*\b",
    ];

    /// The non-empty matches of `find_iter`: what `find_all` must give.
    fn non_empty_matches(regex: &Regex, text: &str) -> Vec<(usize, usize)> {
        regex
            .find_iter(text)
            .filter(|m| !m.is_empty())
            .map(|m| (m.start(), m.end()))
            .collect()
    }

    #[test]
    fn anchored_tries_equal_find_iter_on_examples() {
        let b = bank(TRICKY);
        for text in [
            "Zoë got no help; we need support. café, cafés and Café",
            "moved 3 times, moved éight homes, new social workers, ñ2 workers",
            "naïveté naïve ab a abé éab CIN’s SEND-é £5 £ 6",
            "éé é x xx é",
            "",
            "é",
        ] {
            for (i, p) in TRICKY.iter().enumerate() {
                assert_eq!(
                    b.find_all(i, text, false),
                    non_empty_matches(&Regex::new(p).unwrap(), text),
                    "{p} in {text:?}"
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// On texts mixing ASCII and non-ASCII letters, digits, spaces and
        /// punctuation, the anchored tries find exactly `find_iter`'s matches.
        #[test]
        fn anchored_tries_equal_find_iter(
            text in proptest::string::string_regex(
                "(got no|help|support|moved|times|workers|social|new|two|café|naïve|é|ñ|x|ab|a|CIN|SEND|£|5| |  |\\.|’|-){0,24}"
            ).unwrap()
        ) {
            static TRICKY_BANK: std::sync::LazyLock<RegexBank> =
                std::sync::LazyLock::new(|| bank(TRICKY));
            static REFERENCE: std::sync::LazyLock<Vec<Regex>> = std::sync::LazyLock::new(|| {
                TRICKY.iter().map(|p| Regex::new(p).unwrap()).collect()
            });
            for (i, reference) in REFERENCE.iter().enumerate() {
                proptest::prop_assert_eq!(
                    TRICKY_BANK.find_all(i, &text, false),
                    non_empty_matches(reference, &text),
                    "{}",
                    reference
                );
            }
        }
    }
}
