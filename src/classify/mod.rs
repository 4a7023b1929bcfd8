//! Coding: keyword and rule classifiers over the shared token stream, combined
//! into one [`Coding`] per response and question, each code with its evidence
//! (what fired, char offsets, the matched text).
//!
//! [`Classifier::new`] compiles a [`Codebook`] once: every item into one
//! [`Matcher`], every regex into one `RegexBank` (which tells the matcher
//! which words may start a regex match: the `heads` module). [`Classifier::classify`] is
//! pure and `Sync`, so callers run it under rayon and keep input order.

mod heads;
pub mod matcher;
mod regexes;

use regexes::RegexBank;

use crate::codebook::{Code, Codebook, RuleKind, Scope};
use crate::text::{Token, TokenizedText, byte_to_char};
pub use matcher::{Matcher, Occurrence};

/// Most evidence spans kept per code per response: enough to show why, without
/// letting one 10 MB response flood codes.jsonl. The score counts them all.
pub const MAX_EVIDENCE_PER_CODE: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("the codebook's regexes are too large to compile together: {0}")]
    RegexSet(String),
}

/// What fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Index into the code's keywords.
    Keyword(u32),
    /// Index into the code's rules.
    Rule(u32),
}

/// One piece of evidence for a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Evidence {
    pub char_start: u32,
    pub char_end: u32,
    pub byte_start: u32,
    pub byte_end: u32,
    pub sentence: u32,
    pub source: Source,
}

/// A code (theme or flag) assigned to one response×question.
#[derive(Clone, Debug, PartialEq)]
pub struct CodeHit {
    /// Index into `Codebook::themes` or `Codebook::flags`.
    pub code: usize,
    pub score: f64,
    pub evidence: Vec<Evidence>,
}

/// The coding of one response×question.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Coding {
    pub themes: Vec<CodeHit>,
    pub flags: Vec<CodeHit>,
}

impl Coding {
    pub fn has_theme(&self, theme: usize) -> bool {
        self.themes.iter().any(|h| h.code == theme)
    }
}

#[derive(Clone, Copy, Debug)]
enum Role {
    Keyword { code: u32, keyword: u32 },
    Exclude { code: u32 },
    RuleAll { code: u32, rule: u32, slot: u32 },
    RuleAny { code: u32, rule: u32 },
    RuleNone { code: u32, rule: u32 },
    Negator,
}

impl Role {
    /// The code an item serves, if any (negators serve all).
    fn code(&self) -> Option<u32> {
        match *self {
            Role::Keyword { code, .. }
            | Role::Exclude { code }
            | Role::RuleAll { code, .. }
            | Role::RuleAny { code, .. }
            | Role::RuleNone { code, .. } => Some(code),
            Role::Negator => None,
        }
    }
}

struct RegexRule {
    code: u32,
    rule: u32,
}

/// A compiled codebook.
pub struct Classifier {
    codebook: Codebook,
    /// Items `0..negator_items` are the negators.
    negator_items: u32,
    /// Per code: where its keywords' bits start in [`CodeScratch::keyword_bits`]
    /// (in u64 words), or `None` for a code with excludes, whose keywords
    /// are scored once all its excludes are known.
    keyword_bits_at: Vec<Option<u32>>,
    /// Per code, its keywords' weights.
    keyword_weights: Vec<Vec<f64>>,
    /// The u64 words of [`CodeScratch::keyword_bits`].
    keyword_bit_words: usize,
    matcher: Matcher,
    roles: Vec<Role>,
    regexes: RegexBank,
    regex_rules: Vec<RegexRule>,
    /// Codes are numbered themes first, then flags.
    code_count: usize,
}

impl Classifier {
    pub fn new(codebook: Codebook) -> Result<Classifier, ClassifyError> {
        let mut matcher = Matcher::default();
        let mut roles = Vec::new();
        // Codes are themes, then flags; the items that raise a flag match
        // across full stops (see `Matcher::add`), but not those that hold
        // one back (excludes, `none`): a stop must not suppress a flag.
        let first_flag = codebook.themes.len() as u32;
        let mut add = |item, role: Role| {
            let holds_back = matches!(role, Role::Exclude { .. } | Role::RuleNone { .. });
            let across = !holds_back && role.code().is_some_and(|c| c >= first_flag);
            matcher.add(item, across);
            roles.push(role);
        };
        for item in &codebook.defaults.negators {
            add(item, Role::Negator);
        }
        let mut patterns = Vec::new();
        let mut regex_rules = Vec::new();
        for (c, code) in codebook.codes().enumerate() {
            let c = c as u32;
            for (k, kw) in code.keywords.iter().enumerate() {
                add(
                    &kw.item,
                    Role::Keyword {
                        code: c,
                        keyword: k as u32,
                    },
                );
            }
            for item in &code.exclude {
                add(item, Role::Exclude { code: c });
            }
            for (r, rule) in code.rules.iter().enumerate() {
                let r = r as u32;
                match &rule.kind {
                    RuleKind::Tokens { all, any, none, .. } => {
                        for (slot, item) in all.iter().enumerate() {
                            add(
                                item,
                                Role::RuleAll {
                                    code: c,
                                    rule: r,
                                    slot: slot as u32,
                                },
                            );
                        }
                        for item in any {
                            add(item, Role::RuleAny { code: c, rule: r });
                        }
                        for item in none {
                            add(item, Role::RuleNone { code: c, rule: r });
                        }
                    }
                    RuleKind::Regex { pattern, none } => {
                        for item in none {
                            add(item, Role::RuleNone { code: c, rule: r });
                        }
                        patterns.push(pattern.clone());
                        regex_rules.push(RegexRule { code: c, rule: r });
                    }
                }
            }
        }
        let negator_items = codebook.defaults.negators.len() as u32;
        let mut keyword_bit_words = 0;
        let keyword_bits_at = codebook
            .codes()
            .map(|code| {
                code.exclude.is_empty().then(|| {
                    let at = keyword_bit_words as u32;
                    keyword_bit_words += code.keywords.len().div_ceil(64);
                    at
                })
            })
            .collect();
        let keyword_weights = codebook
            .codes()
            .map(|code| code.keywords.iter().map(|k| k.weight).collect())
            .collect();
        let regexes = RegexBank::new(&patterns)?;
        matcher.set_word_heads(regexes.word_heads().clone());
        let code_count = codebook.themes.len() + codebook.flags.len();
        Ok(Classifier {
            negator_items,
            keyword_bits_at,
            keyword_weights,
            keyword_bit_words,
            codebook,
            matcher,
            roles,
            regexes,
            regex_rules,
            code_count,
        })
    }

    pub fn codebook(&self) -> &Codebook {
        &self.codebook
    }

    fn code(&self, c: usize) -> &Code {
        let themes = self.codebook.themes.len();
        if c < themes {
            &self.codebook.themes[c]
        } else {
            &self.codebook.flags[c - themes]
        }
    }

    /// For `codebook check`: for every code (themes then flags) and keyword,
    /// whether the keyword occurs in `tokens` (negation and excludes ignored).
    pub fn keyword_occurrences(&self, tokens: &TokenizedText) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = self
            .matcher
            .scan(tokens)
            .iter()
            .filter_map(|o| match self.roles[o.item as usize] {
                Role::Keyword { code, keyword } => Some((code as usize, keyword as usize)),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Code one text. `tokens` must be `Tokeniser::tokenise(text)`.
    pub fn classify(&self, text: &str, tokens: &TokenizedText) -> Coding {
        let toks = tokens.tokens();
        CODE_SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.reset(self.code_count, self.keyword_bit_words);
            let occurrences = self
                .matcher
                .scan_flagging(tokens, &mut scratch.regex_starts);
            let negated = self.negated_tokens(toks, &occurrences);
            self.classify_with(text, toks, &occurrences, &negated, &mut scratch)
        })
    }

    /// [`Classifier::classify`] with the per-code work lists in `scratch`,
    /// emptied (their capacity kept from the thread's previous texts).
    fn classify_with(
        &self,
        text: &str,
        toks: &[Token],
        occurrences: &[Occurrence],
        negated: &[bool],
        scratch: &mut CodeScratch,
    ) -> Coding {
        let is_negated = |o: &Occurrence| starts_negated(negated, o);
        for occ in occurrences {
            match self.roles[occ.item as usize] {
                Role::Keyword { code, keyword } => match self.keyword_bits_at[code as usize] {
                    // Scored here, without a list to walk again: see
                    // `KeywordTally`.
                    Some(at) if !is_negated(occ) => {
                        let tally = &mut scratch.tallies[code as usize];
                        if !tally.touched {
                            tally.touched = true;
                            scratch.touched.push(code);
                        }
                        let (word, bit) =
                            (at as usize + keyword as usize / 64, 1 << (keyword % 64));
                        if scratch.keyword_bits[word] & bit == 0 {
                            scratch.keyword_bits[word] |= bit;
                            tally.score += self.keyword_weights[code as usize][keyword as usize];
                        }
                        // Occurrence order is evidence order, so only the
                        // first few can be kept (see `score_code`).
                        if tally.evidence.len() < MAX_EVIDENCE_PER_CODE {
                            tally
                                .evidence
                                .push(evidence_of(toks, occ, Source::Keyword(keyword)));
                        }
                    }
                    Some(_) => {}
                    None => scratch.codes[code as usize].keywords.push((*occ, keyword)),
                },
                Role::Exclude { code } => scratch.codes[code as usize].excludes.push(*occ),
                Role::RuleAll { code, rule, slot } => scratch.codes[code as usize]
                    .rule_items
                    .push((rule, RuleSlot::All(slot), *occ)),
                Role::RuleAny { code, rule } => {
                    scratch.codes[code as usize]
                        .rule_items
                        .push((rule, RuleSlot::Any, *occ))
                }
                Role::RuleNone { code, rule } => {
                    scratch.codes[code as usize]
                        .rule_items
                        .push((rule, RuleSlot::None, *occ))
                }
                Role::Negator => {}
            }
        }
        let candidates = self.regexes.candidates(
            text,
            toks,
            &scratch.regex_starts,
            &mut scratch.match_starts,
            &mut scratch.anchored_cache,
        );
        let ascii_bounds = !candidates.is_empty() && regexes::ascii_bounds_suffice(text);
        for r in candidates {
            let rr = &self.regex_rules[r];
            scratch.codes[rr.code as usize].regex_rules.push(r);
        }

        let mut coding = Coding::default();
        let themes = self.codebook.themes.len();
        // The bits this text set, for the next (each code's own range).
        for &c in &scratch.touched {
            if let Some(at) = self.keyword_bits_at[c as usize] {
                let words = self.keyword_weights[c as usize].len().div_ceil(64);
                scratch.keyword_bits[at as usize..at as usize + words].fill(0);
            }
        }
        for (c, work) in scratch.codes.iter().enumerate() {
            let tally = &mut scratch.tallies[c];
            if work.is_empty() && !tally.touched {
                continue;
            }
            let regex = (ascii_bounds, &scratch.match_starts[..]);
            if let Some(hit) = self.score_code(c, (work, tally), text, toks, negated, regex) {
                if c < themes {
                    coding.themes.push(hit);
                } else {
                    coding.flags.push(CodeHit {
                        code: c - themes,
                        ..hit
                    });
                }
            }
            tally.touched = false;
            tally.score = 0.0;
        }
        scratch.touched.clear();
        coding
    }

    /// Tokens that fall within the negation window after a negator, in the
    /// same clause.
    fn negated_tokens(&self, toks: &[Token], occurrences: &[Occurrence]) -> Vec<bool> {
        let window = self.codebook.defaults.negation_window as u32;
        let mut negated = Vec::new();
        // Negators are the first items (see `new`).
        for occ in occurrences {
            if occ.item >= self.negator_items {
                continue;
            }
            if negated.is_empty() {
                negated = vec![false; toks.len()];
            }
            let clause = toks[occ.end as usize].clause;
            let last = (occ.end + window).min(toks.len() as u32 - 1);
            for t in occ.end + 1..=last {
                if toks[t as usize].clause != clause {
                    break;
                }
                negated[t as usize] = true;
            }
        }
        negated
    }

    fn score_code(
        &self,
        c: usize,
        (work, tally): (&CodeWork, &mut KeywordTally),
        text: &str,
        toks: &[Token],
        negated: &[bool],
        (ascii_bounds, match_starts): (bool, &[(usize, usize)]),
    ) -> Option<CodeHit> {
        let code = self.code(c);
        let is_negated = |o: &Occurrence| starts_negated(negated, o);
        // An excluded phrase is context in which the theme's words do not
        // count: a keyword sharing any word with it is out ("children in
        // care" within "children in care proceedings"), not only one inside it.
        let is_excluded = |o: &Occurrence| {
            work.excludes
                .iter()
                .any(|x| x.start <= o.end && o.start <= x.end)
        };
        let counts = |o: &Occurrence| !is_negated(o) && !is_excluded(o);
        let evidence_of = |o: &Occurrence, source| evidence_of(toks, o, source);

        // Keywords scored while the occurrences were dispatched (a code
        // without excludes), else below.
        let mut score = tally.score;
        let mut evidence = Vec::with_capacity(
            tally.evidence.len()
                + work.keywords.len().min(MAX_EVIDENCE_PER_CODE)
                + work.rule_items.len(),
        );
        evidence.append(&mut tally.evidence);
        // A code with excludes: its keywords listed, scored now. A keyword
        // scores once however often it occurs: a bit per keyword (on the
        // stack for up to 256 of them) rather than a list searched at every
        // occurrence, which a many-keyword codebook made quadratic.
        let mut stack_bits = [0u64; 4];
        let mut heap_bits = Vec::new();
        let scored: &mut [u64] = if code.keywords.len() <= 256 || work.keywords.is_empty() {
            &mut stack_bits
        } else {
            heap_bits.resize(code.keywords.len().div_ceil(64), 0u64);
            &mut heap_bits
        };
        // Keyword evidence comes in occurrence order, which is evidence
        // order (items were added keyword by keyword), one entry per
        // occurrence: only the first MAX_EVIDENCE_PER_CODE can be among
        // those kept, so the rest are not built (a 5,000-keyword codebook
        // finds some two hundred occurrences a response).
        let mut keyword_evidence = evidence.len();
        for (occ, k) in &work.keywords {
            if !counts(occ) {
                continue;
            }
            let (word, bit) = (*k as usize / 64, 1u64 << (*k % 64));
            if scored[word] & bit == 0 {
                scored[word] |= bit;
                score += code.keywords[*k as usize].weight;
            }
            if keyword_evidence < MAX_EVIDENCE_PER_CODE {
                keyword_evidence += 1;
                let e = evidence_of(occ, Source::Keyword(*k));
                debug_assert!(evidence.last().is_none_or(|last| *last < e));
                evidence.push(e);
            }
        }

        // Token rules: group this code's rule-item occurrences by rule.
        let mut rule_ids: Vec<u32> = work.rule_items.iter().map(|(r, _, _)| *r).collect();
        rule_ids.sort_unstable();
        rule_ids.dedup();
        for r in rule_ids {
            let rule = &code.rules[r as usize];
            let RuleKind::Tokens { all, any, near, .. } = &rule.kind else {
                continue;
            };
            let items: Vec<(RuleSlot, Occurrence)> = work
                .rule_items
                .iter()
                .filter(|(rr, slot, o)| *rr == r && (matches!(slot, RuleSlot::None) || counts(o)))
                .map(|(_, slot, o)| (*slot, *o))
                .collect();
            let found = match rule.scope {
                Scope::Response => eval_token_rule(&items, all.len(), !any.is_empty(), *near)
                    .into_iter()
                    .collect(),
                Scope::Sentence => {
                    let mut sentences: Vec<u32> = items
                        .iter()
                        .map(|(_, o)| toks[o.start as usize].sentence)
                        .collect();
                    sentences.sort_unstable();
                    sentences.dedup();
                    sentences
                        .into_iter()
                        .filter_map(|s| {
                            let in_sentence: Vec<_> = items
                                .iter()
                                .filter(|(_, o)| toks[o.start as usize].sentence == s)
                                .copied()
                                .collect();
                            eval_token_rule(&in_sentence, all.len(), !any.is_empty(), *near)
                        })
                        .collect::<Vec<_>>()
                }
            };
            if !found.is_empty() {
                score += rule.weight;
                for group in found {
                    evidence.extend(group.iter().map(|o| evidence_of(o, Source::Rule(r))));
                }
            }
        }

        for &ri in &work.regex_rules {
            let rr = &self.regex_rules[ri];
            let rule = &code.rules[rr.rule as usize];
            let vetoed = work
                .rule_items
                .iter()
                .any(|(r, slot, _)| *r == rr.rule && matches!(slot, RuleSlot::None));
            if vetoed {
                continue;
            }
            // Matches come in position order: a rule's first
            // MAX_EVIDENCE_PER_CODE are all of it that can be kept.
            let (mut fired, mut kept) = (false, 0);
            for (start, end) in self.regexes.find_all(ri, text, ascii_bounds, match_starts) {
                let tok = toks.partition_point(|t| (t.byte_end as usize) <= start);
                if negated.get(tok).copied().unwrap_or(false) {
                    continue;
                }
                fired = true;
                let char_start = byte_to_char(text, start) as u32;
                evidence.push(Evidence {
                    char_start,
                    char_end: char_start + text[start..end].chars().count() as u32,
                    byte_start: start as u32,
                    byte_end: end as u32,
                    sentence: toks.get(tok).map_or(0, |t| t.sentence),
                    source: Source::Rule(rr.rule),
                });
                kept += 1;
                if kept == MAX_EVIDENCE_PER_CODE {
                    break;
                }
            }
            if fired {
                score += rule.weight;
            }
        }

        if score + 1e-9 < code.min_score || evidence.is_empty() {
            return None;
        }
        // Keyword evidence alone is already in order and distinct.
        if evidence.len() > keyword_evidence {
            evidence.sort_unstable();
            evidence.dedup();
        }
        evidence.truncate(MAX_EVIDENCE_PER_CODE);
        Some(CodeHit {
            code: c,
            score,
            evidence,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RuleSlot {
    All(u32),
    Any,
    None,
}

#[derive(Default)]
struct CodeWork {
    keywords: Vec<(Occurrence, u32)>,
    excludes: Vec<Occurrence>,
    rule_items: Vec<(u32, RuleSlot, Occurrence)>,
    regex_rules: Vec<usize>,
}

impl CodeWork {
    fn is_empty(&self) -> bool {
        self.keywords.is_empty() && self.rule_items.is_empty() && self.regex_rules.is_empty()
    }
}

/// The keywords of one code without excludes, scored as the occurrences
/// are dispatched: a 5,000-keyword codebook finds about two occurrences a
/// token, and listing each under its code to walk the lists again cost more
/// than the scoring.
#[derive(Default)]
struct KeywordTally {
    /// Since the text began.
    touched: bool,
    score: f64,
    /// The first [`MAX_EVIDENCE_PER_CODE`] counted occurrences'.
    evidence: Vec<Evidence>,
}

/// Whether `o` starts on a token in a negator's window.
fn starts_negated(negated: &[bool], o: &Occurrence) -> bool {
    negated.get(o.start as usize).copied().unwrap_or(false)
}

/// One occurrence's evidence.
fn evidence_of(toks: &[Token], o: &Occurrence, source: Source) -> Evidence {
    let (first, last) = (&toks[o.start as usize], &toks[o.end as usize]);
    Evidence {
        char_start: first.char_start,
        char_end: last.char_end,
        byte_start: first.byte_start,
        byte_end: last.byte_end,
        sentence: first.sentence,
        source,
    }
}

#[derive(Default)]
struct CodeScratch {
    codes: Vec<CodeWork>,
    /// Per code (see [`KeywordTally`]).
    tallies: Vec<KeywordTally>,
    /// The codes whose tally this text touched, to clear.
    touched: Vec<u32>,
    /// A bit per keyword of the codes without excludes: scored already.
    keyword_bits: Vec<u64>,
    /// The tokens whose word may start a token-anchored regex match.
    regex_starts: Vec<u32>,
    /// (pattern, byte) where a token-anchored regex may match.
    match_starts: Vec<(usize, usize)>,
    anchored_cache: regexes::AnchoredCache,
}

impl CodeScratch {
    /// `n` empty work lists and keyword tallies, and `keyword_bit_words`
    /// clear words of keyword bits (all of it cleared afresh if the last
    /// text did not finish). Kept per thread and reused: allocating four
    /// vectors per code per text, and growing them push by push, was a
    /// tenth of coding with a many-keyword codebook.
    fn reset(&mut self, n: usize, keyword_bit_words: usize) {
        self.regex_starts.clear();
        if !self.touched.is_empty() {
            // A text that did not finish (its bits and tallies are stale).
            self.touched.clear();
            self.keyword_bits.fill(0);
            self.tallies
                .iter_mut()
                .for_each(|t| *t = KeywordTally::default());
        }
        if self.keyword_bits.len() < keyword_bit_words {
            self.keyword_bits.resize(keyword_bit_words, 0);
        }
        self.tallies.resize_with(n, KeywordTally::default);
        self.codes.resize_with(n, CodeWork::default);
        for work in &mut self.codes[..n] {
            work.keywords.clear();
            work.excludes.clear();
            work.rule_items.clear();
            work.regex_rules.clear();
        }
    }
}

thread_local! {
    static CODE_SCRATCH: std::cell::RefCell<CodeScratch> =
        std::cell::RefCell::new(CodeScratch::default());
}

/// Does a token rule hold over these occurrences (one scope unit)? Returns the
/// occurrences that make it hold: one per `all` slot and one `any`.
fn eval_token_rule(
    items: &[(RuleSlot, Occurrence)],
    all_slots: usize,
    needs_any: bool,
    near: Option<usize>,
) -> Option<Vec<Occurrence>> {
    if items.iter().any(|(s, _)| matches!(s, RuleSlot::None)) {
        return None;
    }
    // Group index per occurrence: all-slots are 0..all_slots, `any` is all_slots.
    let groups = all_slots + usize::from(needs_any);
    if groups == 0 {
        return None;
    }
    let mut events: Vec<(Occurrence, usize)> = items
        .iter()
        .map(|(slot, o)| match slot {
            RuleSlot::All(s) => (*o, *s as usize),
            _ => (*o, all_slots),
        })
        .collect();
    events.sort_unstable();
    let Some(near) = near else {
        let mut chosen: Vec<Option<Occurrence>> = vec![None; groups];
        for (o, g) in &events {
            chosen[*g].get_or_insert(*o);
        }
        return chosen.into_iter().collect();
    };
    // Smallest window covering every group, by a two-pointer sweep.
    let mut counts = vec![0usize; groups];
    let mut covered = 0;
    let mut left = 0;
    for right in 0..events.len() {
        let g = events[right].1;
        counts[g] += 1;
        if counts[g] == 1 {
            covered += 1;
        }
        while covered == groups {
            let window = &events[left..=right];
            let first = window[0].0.start;
            let last = window.iter().map(|(o, _)| o.end).max().unwrap_or(first);
            if (last - first) as usize <= near {
                let mut chosen: Vec<Option<Occurrence>> = vec![None; groups];
                for (o, g) in window {
                    chosen[*g].get_or_insert(*o);
                }
                return chosen.into_iter().collect();
            }
            let lg = events[left].1;
            counts[lg] -= 1;
            if counts[lg] == 0 {
                covered -= 1;
            }
            left += 1;
        }
    }
    None
}
