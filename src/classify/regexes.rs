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
//!    look-around the set runs on a DFA;
//! 2. each candidate is confirmed by its own Unicode regex — the same
//!    search that collects evidence.
//!
//! Step 1 has two forms. Most codebook patterns are *token-anchored*
//! ([`super::heads`]): every match starts at a word start with one of a few
//! words, so the relaxed set of those patterns runs as a lazy DFA from
//! anchored starts only at the word starts of the tokens whose word can begin
//! a match (about seven a response on the synthetic corpus), and step 2
//! tries the exact regex anchored at just the starts where the relaxed one
//! matched. The rest (`£\s?\d`) are searched through the whole text: the
//! leftmost match of their relaxed set first, then which patterns match
//! from there. Scanning every byte with the lazy DFA had been 40% of
//! classifying a text.
//!
//! On a text with a non-ASCII word character (an accented name, "café")
//! Unicode `\b` keeps the exact regex off the lazy DFA, and the PikeVM
//! crawled through the whole text (30–65 ns a byte for two of the default
//! codebook's patterns, against ~1). There, for a pattern searched through
//! the whole text, [`RegexBank::find_all`] lets
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
use super::heads::{Placeholders, WordHeads, heads_of, word_starts};
use crate::text::Token;

pub(super) struct RegexBank {
    /// The patterns a match of which may start anywhere: searched over
    /// the whole text.
    whole_text: Option<WholeText>,
    /// The token-anchored patterns (see [`super::heads`]): tried at the
    /// word starts of the tokens that may start a match.
    token_anchored: Option<Group>,
    /// Per pattern, whether it is in `token_anchored`.
    is_token_anchored: Vec<bool>,
    anchored_dfa: Option<AnchoredDfa>,
    heads: WordHeads,
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

/// Some of the patterns, as one multi-pattern regex.
struct Group {
    /// The bank's index of each pattern here.
    ids: Vec<usize>,
    /// Every pattern without `\b`/`\B`; matches a superset of `exact`.
    relaxed: meta::Regex,
}

/// The token-anchored patterns' relaxed forms as one lazy DFA searched
/// from anchored starts with a cache of its own per thread
/// ([`AnchoredCache`]): a try costs a few transitions, where the meta
/// regex's overlapping search spent hundreds of instructions setting up.
/// (A fully built DFA was as fast and cost 0.18 G instructions to build,
/// on every start of the program, for Unicode `\w` and `\s`.)
struct AnchoredDfa {
    /// Unique per bank, so a thread's cache knows whose states it holds.
    id: u64,
    dfa: regex_automata::hybrid::dfa::DFA,
}

static NEXT_ANCHORED_DFA: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn anchored_dfa(hirs: &[Hir]) -> Option<AnchoredDfa> {
    use regex_automata::hybrid::dfa;
    use regex_automata::nfa::thompson;
    let nfa = thompson::Compiler::new().build_many_from_hir(hirs).ok()?;
    let dfa = dfa::Builder::new()
        .configure(dfa::Config::new().match_kind(MatchKind::All))
        .build_from_nfa(nfa)
        .ok()?;
    Some(AnchoredDfa {
        id: NEXT_ANCHORED_DFA.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        dfa,
    })
}

/// A thread's lazy-DFA cache for [`RegexBank::candidates`], kept between
/// texts; holds the states of one bank's DFA at a time.
#[derive(Default)]
pub(super) struct AnchoredCache(Option<(u64, regex_automata::hybrid::dfa::Cache)>);

/// The patterns searched over the whole text.
struct WholeText {
    group: Group,
    /// The same set, leftmost-first: its first match starts where the
    /// earliest match of any pattern starts.
    relaxed_leftmost: meta::Regex,
}

impl WholeText {
    /// The bank's indices of the patterns that may match `text`, appended.
    fn candidates(&self, text: &str, out: &mut Vec<usize>) {
        // Most texts match no pattern. Finding the leftmost match runs the
        // DFA's fast loop; asking which patterns match runs its overlapping
        // loop, several times the instructions a byte, so it is asked only
        // when some pattern matches, and only from where the leftmost match
        // starts: no match of any pattern starts before it.
        let Some(leftmost) = self.relaxed_leftmost.find(text) else {
            return;
        };
        let mut candidates = PatternSet::new(self.group.relaxed.pattern_len());
        self.group.relaxed.which_overlapping_matches(
            &Input::new(text).range(leftmost.start()..),
            &mut candidates,
        );
        out.extend(candidates.iter().map(|p| self.group.ids[p.as_usize()]));
    }
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
        let mut exact = Vec::with_capacity(patterns.len());
        let mut exact_ascii_bounds = Vec::with_capacity(patterns.len());
        let mut relaxed_each = Vec::with_capacity(patterns.len());
        let (mut whole, mut anchored) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        let (mut all_heads, mut placeholders) = (Vec::new(), Placeholders::default());
        for (i, p) in patterns.iter().enumerate() {
            let hir = regex_syntax::parse(p).map_err(|e| err(e.to_string()))?;
            // No prefilter probe for the Unicode regex: it is only tried
            // anchored, where a prefilter plays no part.
            exact.push(
                meta::Regex::builder()
                    .build_from_hir(&hir)
                    .map_err(|e| err(e.to_string()))?,
            );
            exact_ascii_bounds.push(build(&with_ascii_word_boundaries(hir.clone()))?);
            let heads = heads_of(&hir, &mut placeholders);
            let relaxed = without_word_boundaries(hir);
            relaxed_each.push(build(&relaxed)?);
            let (ids, hirs) = match heads {
                Some(heads) => {
                    all_heads.extend(heads);
                    (&mut anchored.0, &mut anchored.1)
                }
                None => (&mut whole.0, &mut whole.1),
            };
            ids.push(i);
            hirs.push(relaxed);
        }
        let group = |(ids, hirs): (Vec<usize>, Vec<Hir>)| -> Result<Option<Group>, ClassifyError> {
            if ids.is_empty() {
                return Ok(None);
            }
            let relaxed = meta::Regex::builder()
                .configure(meta::Config::new().match_kind(MatchKind::All))
                .build_many_from_hir(&hirs)
                .map_err(|e| err(e.to_string()))?;
            Ok(Some(Group { ids, relaxed }))
        };
        let whole_text = match group((whole.0, whole.1.clone()))? {
            None => None,
            Some(group) => Some(WholeText {
                group,
                relaxed_leftmost: meta::Regex::builder()
                    .configure(
                        meta::Config::new()
                            .auto_prefilter(prefilter_pays(&Hir::alternation(whole.1.clone()))),
                    )
                    .build_many_from_hir(&whole.1)
                    .map_err(|e| err(e.to_string()))?,
            }),
        };
        let anchored_dfa = anchored_dfa(&anchored.1);
        let mut is_token_anchored = vec![false; patterns.len()];
        for &i in &anchored.0 {
            is_token_anchored[i] = true;
        }
        Ok(RegexBank {
            is_token_anchored,
            whole_text,
            anchored_dfa,
            token_anchored: group(anchored)?,
            heads: WordHeads::new(&all_heads, &placeholders),
            relaxed_each,
            exact,
            exact_ascii_bounds,
        })
    }

    /// What tells the matcher which words may start a token-anchored match.
    pub(super) fn word_heads(&self) -> &WordHeads {
        &self.heads
    }

    /// Indices of the patterns that *may* match `text`, ascending: a
    /// superset of those that do; [`RegexBank::find_all`] is the
    /// confirmation (empty when the relaxed pattern matched but the exact
    /// one does not), so no text is searched twice by the same exact regex.
    /// `tokens` are the text's, and `flagged` the indices (ascending) of
    /// those whose word [`WordHeads::may_start`] a match. `starts` is
    /// cleared and given, for [`RegexBank::find_all`], every (pattern,
    /// byte) at which a token-anchored pattern's relaxed form matches,
    /// ascending: every start of its exact matches is among them.
    pub(super) fn candidates(
        &self,
        text: &str,
        tokens: &[Token],
        flagged: &[u32],
        starts: &mut Vec<(usize, usize)>,
        cache: &mut AnchoredCache,
    ) -> Vec<usize> {
        starts.clear();
        let mut out = Vec::new();
        if let Some(whole_text) = &self.whole_text {
            whole_text.candidates(text, &mut out);
        }
        if let Some(group) = &self.token_anchored {
            let bytes = text.as_bytes();
            // The meta regex's answer at one start: for a bank without the
            // lazy DFA (it failed to build) or a try whose cache gave up.
            let meta_try = |input: &Input<'_>, starts: &mut Vec<(usize, usize)>| {
                let mut here = PatternSet::new(group.relaxed.pattern_len());
                group.relaxed.which_overlapping_matches(input, &mut here);
                starts.extend(
                    here.iter()
                        .map(|p| (group.ids[p.as_usize()], input.start())),
                );
            };
            let mut dfa_cache = self.anchored_dfa.as_ref().map(|dfa| {
                if cache.0.as_ref().is_some_and(|(id, _)| *id != dfa.id) {
                    cache.0 = None;
                }
                let (_, states) = cache
                    .0
                    .get_or_insert_with(|| (dfa.id, dfa.dfa.create_cache()));
                (&dfa.dfa, states)
            });
            let mut try_at = |start: usize, starts: &mut Vec<(usize, usize)>| {
                let input = Input::new(text).range(start..).anchored(Anchored::Yes);
                match dfa_cache.as_mut() {
                    Some((dfa, states)) => {
                        let mut state = regex_automata::hybrid::dfa::OverlappingState::start();
                        loop {
                            if dfa
                                .try_search_overlapping_fwd(states, &input, &mut state)
                                .is_err()
                            {
                                // The cache gave up (thrashing): the meta
                                // regex answers for this start.
                                meta_try(&input, starts);
                                break;
                            }
                            match state.get_match() {
                                Some(m) => {
                                    starts.push((group.ids[m.pattern().as_usize()], start));
                                }
                                None => break,
                            }
                        }
                    }
                    None => meta_try(&input, starts),
                }
            };
            // A token whose text is ASCII is tried where a match may begin
            // with the byte there; one with a non-ASCII character at every
            // word start, whatever its word (see `heads`).
            let mut try_token = |token: &Token, ascii: bool, starts: &mut Vec<(usize, usize)>| {
                for start in word_starts(text, token) {
                    if !ascii
                        || bytes
                            .get(start)
                            .is_some_and(|&b| self.heads.may_begin_with(b))
                    {
                        try_at(start, starts);
                    }
                }
            };
            if text.is_ascii() {
                for token in flagged.iter().filter_map(|&t| tokens.get(t as usize)) {
                    try_token(token, true, starts);
                }
            } else {
                let mut flagged = flagged.iter().peekable();
                for (i, token) in tokens.iter().enumerate() {
                    let is_flagged = flagged.next_if(|&&t| t as usize == i).is_some();
                    let ascii =
                        token.byte_end - token.byte_start == token.char_end - token.char_start;
                    if is_flagged || !ascii {
                        try_token(token, ascii, starts);
                    }
                }
            }
            starts.sort_unstable();
            starts.dedup();
            out.extend(starts.iter().map(|&(p, _)| p));
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Byte ranges of the non-empty matches of pattern `i` in `text`, as
    /// `find_iter` gives them; `ascii_bounds` from [`ascii_bounds_suffice`].
    /// For a token-anchored pattern, the exact regex is tried anchored at
    /// the `starts` [`RegexBank::candidates`] gave, in order, instead of
    /// searched through the whole text: from any offset, the leftmost
    /// match starts at one of them, and anchored there gives the same
    /// (leftmost-first) match; these patterns never match empty.
    pub(super) fn find_all(
        &self,
        i: usize,
        text: &str,
        ascii_bounds: bool,
        starts: &[(usize, usize)],
    ) -> Vec<(usize, usize)> {
        if self.is_token_anchored[i] {
            let exact = if ascii_bounds {
                &self.exact_ascii_bounds[i]
            } else {
                &self.exact[i]
            };
            let from = starts.partition_point(|&(p, _)| p < i);
            let mut found = Vec::new();
            let mut at = 0;
            for &(_, start) in starts[from..].iter().take_while(|&&(p, _)| p == i) {
                if start < at {
                    continue;
                }
                let anchored = Input::new(text).range(start..).anchored(Anchored::Yes);
                if let Some(m) = exact.search(&anchored).filter(|m| !m.is_empty()) {
                    found.push((m.start(), m.end()));
                    at = m.end();
                }
            }
            return found;
        }
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
    let mapped = map_leaves(hir, &mut |leaf| {
        Ok::<_, std::convert::Infallible>(match leaf.kind() {
            HirKind::Look(look) => f(*look),
            _ => leaf,
        })
    });
    match mapped {
        Ok(hir) => hir,
        Err(never) => match never {},
    }
}

/// `hir` rebuilt with each leaf (literal, class, look-around assertion,
/// empty) replaced by what `f` makes of it; the first error `f` gives ends it.
pub(super) fn map_leaves<E>(hir: Hir, f: &mut dyn FnMut(Hir) -> Result<Hir, E>) -> Result<Hir, E> {
    Ok(match hir.into_kind() {
        HirKind::Repetition(mut rep) => {
            rep.sub = Box::new(map_leaves(*rep.sub, f)?);
            Hir::repetition(rep)
        }
        HirKind::Capture(mut cap) => {
            cap.sub = Box::new(map_leaves(*cap.sub, f)?);
            Hir::capture(cap)
        }
        HirKind::Concat(subs) => Hir::concat(
            subs.into_iter()
                .map(|h| map_leaves(h, f))
                .collect::<Result<_, E>>()?,
        ),
        HirKind::Alternation(subs) => Hir::alternation(
            subs.into_iter()
                .map(|h| map_leaves(h, f))
                .collect::<Result<_, E>>()?,
        ),
        HirKind::Literal(lit) => f(Hir::literal(lit.0))?,
        HirKind::Class(class) => f(Hir::class(class))?,
        HirKind::Look(look) => f(Hir::look(look))?,
        HirKind::Empty => f(Hir::empty())?,
    })
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

    /// Every pattern's matches found the classifier's way: tokens flagged
    /// by the heads (what the matcher's memo holds), candidates, then
    /// `find_all` from the starts the candidates gave.
    fn via_tokens(b: &RegexBank, text: &str, ascii_bounds: bool) -> Vec<Vec<(usize, usize)>> {
        let tokens = crate::text::Tokeniser::shared().tokenise(text);
        let flagged: Vec<u32> = (0..tokens.len())
            .filter(|&i| b.heads.may_start(tokens.lower(i)))
            .map(|i| i as u32)
            .collect();
        let mut starts = Vec::new();
        // One cache per thread across banks, as the classifier keeps it.
        thread_local! {
            static CACHE: std::cell::RefCell<AnchoredCache> = Default::default();
        }
        let candidates = CACHE.with(|cache| {
            b.candidates(
                text,
                tokens.tokens(),
                &flagged,
                &mut starts,
                &mut cache.borrow_mut(),
            )
        });
        (0..b.exact.len())
            .map(|i| {
                if candidates.contains(&i) {
                    b.find_all(i, text, ascii_bounds, &starts)
                } else {
                    Vec::new()
                }
            })
            .collect()
    }

    /// Indices of the patterns with a match in `text`.
    fn matching(b: &RegexBank, text: &str) -> Vec<usize> {
        via_tokens(b, text, ascii_bounds_suffice(text))
            .iter()
            .enumerate()
            .filter(|(_, found)| !found.is_empty())
            .map(|(i, _)| i)
            .collect()
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
            assert_eq!(matching(&b, text), expected, "{text}");
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
            assert_eq!(
                via_tokens(&b, text, true),
                via_tokens(&b, text, false),
                "{text}"
            );
        }
        assert_eq!(
            via_tokens(&b, "no help, NO SUPPORT, knowhelp, no helpers", true)[6],
            [(0, 7), (9, 19)]
        );
        // A non-ASCII letter beside a boundary needs the Unicode regexes.
        assert!(!ascii_bounds_suffice("un café noir"));
        assert_eq!(via_tokens(&b, "un café noir", false)[3], [(3, 8)]);
        assert_eq!(via_tokens(&b, "un café noir", true)[3], []);
        assert_eq!(
            via_tokens(&b, "I had 11 workers and TOO MANY workers", true)[0],
            [(6, 16), (21, 37)]
        );
    }

    proptest::proptest! {
        /// The classifier's way finds exactly `find_iter`'s matches for
        /// patterns that overlap, nest, start at the same place or depend
        /// on the text's start or end, searched over the whole text or
        /// tried at tokens.
        #[test]
        fn small_alphabet_matches_equal_find_iter(text in "[abcx0-9 ]{0,30}") {
            const PATTERNS: &[&str] = &[
                r"ab", r"b+c", r"(?i)\babc\b", r"\d+ x", r"x$", r"^a", r"c\s*\d",
                r"a|abc", r"\Bb", r"\b\d+\s+x", r"(?i)\bab\s", r"\bx\b",
            ];
            let b = bank(PATTERNS);
            for (i, p) in PATTERNS.iter().enumerate() {
                proptest::prop_assert_eq!(
                    &via_tokens(&b, &text, ascii_bounds_suffice(&text))[i],
                    &non_empty_matches(&Regex::new(p).unwrap(), &text),
                    "{}", p
                );
            }
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
            let found = via_tokens(&b, text, false);
            for (i, p) in TRICKY.iter().enumerate() {
                assert_eq!(
                    found[i],
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
            let found = via_tokens(&TRICKY_BANK, &text, false);
            for (i, reference) in REFERENCE.iter().enumerate() {
                proptest::prop_assert_eq!(
                    &found[i],
                    &non_empty_matches(reference, &text),
                    "{}",
                    reference
                );
            }
        }
    }

    /// Patterns built to break the token anchoring: case folding beyond
    /// ASCII (the Kelvin sign, the long s), `\d` on non-ASCII digits, words
    /// joined by apostrophes, a match starting inside a token ("don't"),
    /// letters UAX #29 splits from ASCII ones (漢), and the default
    /// codebook's own patterns (read from it below).
    const ANCHORING: &[&str] = &[
        r"(?i)\bkid\b",
        r"(?i)\bsupport\b",
        r"\b\d+\s+workers",
        r"(?i)\bt\b",
        r"\bneed\b",
        r"\b漢",
        r"(?i)\b(a|ab)\b",
        r"\bpa\w*",
        r"(?i)\bI\b",
        r"\bx'need",
        r"\b(?:no|any)\s+help\b",
    ];

    fn anchoring_patterns() -> Vec<String> {
        let codebook = include_str!("../../corpora/care-review/codebook.toml");
        let default = codebook
            .lines()
            .filter_map(|l| l.trim().strip_prefix("regex = '")?.strip_suffix('\''));
        ANCHORING
            .iter()
            .copied()
            .chain(default)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn heads_are_read_from_each_patterns_literal_prefixes() {
        let heads = |p: &str| {
            let hir = regex_syntax::parse(p).unwrap();
            super::super::heads::heads_of(&hir, &mut Placeholders::default()).map(|h| {
                let mut words: Vec<String> = h
                    .iter()
                    .map(|h| match h.placeholder {
                        Some(_) => "#".to_owned(),
                        None => format!(
                            "{}{}",
                            String::from_utf8_lossy(&h.word),
                            if h.whole_word { "" } else { "*" }
                        ),
                    })
                    .collect();
                words.sort();
                words.dedup();
                words
            })
        };
        assert_eq!(heads(r"\b(CIN|SEND)\b").unwrap(), ["cin*", "send*"]);
        assert_eq!(heads(r"(?i)\bI\s+had").unwrap(), ["i"]);
        assert_eq!(
            heads(r"(?i)\bdepends?\s+on").unwrap(),
            ["depend", "depends"]
        );
        assert_eq!(heads(r"(?i)\b(\d+|two)\s+workers").unwrap(), ["#", "two"]);
        // No word start before a letter or digit: searched over the text.
        assert_eq!(heads(r"£\s?\d"), None);
        assert_eq!(heads(r"\Bork"), None);
        assert_eq!(heads(r"(?-u:\b)ab"), None);
        assert_eq!(heads(r"\b漢"), None);
        assert_eq!(heads(r"\bfoo|bar"), None);
        // A control character is a literal, not a placeholder.
        assert_eq!(heads(r"\b\x01"), None);
        // A class in the middle of a literal does not make every word
        // that starts with one of its members a head.
        let mut placeholders = Placeholders::default();
        let hir = regex_syntax::parse(r"(?i)\bfoo\s+\w+").unwrap();
        let found = super::super::heads::heads_of(&hir, &mut placeholders).unwrap();
        let word_heads = WordHeads::new(&found, &placeholders);
        assert!(word_heads.may_start("foo"));
        assert!(!word_heads.may_start("bar"));
        let hir = regex_syntax::parse(r"\bfoo\s+\d+").unwrap();
        let found = super::super::heads::heads_of(&hir, &mut placeholders).unwrap();
        let word_heads = WordHeads::new(&found, &placeholders);
        assert!(!word_heads.may_start("3"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Whatever the text, the token-anchored search finds exactly the
        /// matches `find_iter` finds.
        #[test]
        fn token_anchored_matches_equal_find_iter(
            text in proptest::string::string_regex(
                "(I|i|had|have|no|any|help|support|\u{17F}upport|SEND|send|PA|parents|pa|who|is|checking|moved|3|\u{663}|two|workers|social|don't|don\u{2019}t|x'need|need|\u{212A}id|kid|£|5|\u{6F22}|café|_|é|t| |  |\u{a0}|\\.|,|-|'|\u{2019}|\n){0,30}"
            ).unwrap()
        ) {
            static BANK: std::sync::LazyLock<(Vec<String>, RegexBank, Vec<Regex>)> =
                std::sync::LazyLock::new(|| {
                    let patterns = anchoring_patterns();
                    let bank = RegexBank::new(&patterns).unwrap();
                    let reference = patterns.iter().map(|p| Regex::new(p).unwrap()).collect();
                    (patterns, bank, reference)
                });
            // A second bank on the same thread: the lazy DFA's cache
            // changes hands at every text.
            static OTHER: std::sync::LazyLock<(RegexBank, Regex)> = std::sync::LazyLock::new(|| {
                (bank(&[r"(?i)\bhelp\b"]), Regex::new(r"(?i)\bhelp\b").unwrap())
            });
            let (patterns, bank, reference) = &*BANK;
            let found = via_tokens(bank, &text, ascii_bounds_suffice(&text));
            proptest::prop_assert_eq!(
                &via_tokens(&OTHER.0, &text, ascii_bounds_suffice(&text))[0],
                &non_empty_matches(&OTHER.1, &text)
            );
            for (i, regex) in reference.iter().enumerate() {
                proptest::prop_assert_eq!(
                    &found[i],
                    &non_empty_matches(regex, &text),
                    "{}",
                    patterns[i]
                );
            }
        }
    }
}
