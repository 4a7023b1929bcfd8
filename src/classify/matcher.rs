//! One multi-pattern matcher for every item of a codebook (keywords, excludes,
//! rule items, negators).
//!
//! Items are sequences of word patterns. Every distinct pattern gets an id;
//! a word is mapped to the ids it satisfies with two hash look-ups (stem,
//! surface) and one per prefix length (wildcards), once per distinct word
//! and thread (a memo by the stem cache's word numbers). Items form a trie
//! over pattern ids, so a scan costs O(tokens + paths that continue),
//! independent of how many keywords the codebook holds or share a word.

use rustc_hash::FxHashMap as HashMap;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::heads::WordHeads;
use crate::codebook::{Item, WordPattern};
use crate::text::{NO_WORD, TokenizedText, current_vocabulary, same_word, word_hash};
use hashbrown::HashTable;

/// An item found in a text: `item` spans tokens `start..=end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Occurrence {
    pub start: u32,
    pub end: u32,
    pub item: u32,
}

/// Where an item may match across a full stop (see [`Matcher::add`]).
enum Crossing {
    Never,
    Anywhere,
    /// Only before the item's words at these indices, where the item has
    /// a stop of its own ("St. Helens").
    At(Box<[u32]>),
}

impl Crossing {
    /// Whether an occurrence on tokens `start..=end` may have the stops
    /// it has.
    fn allows(&self, tokens: &TokenizedText, start: usize, end: usize) -> bool {
        match self {
            Crossing::Never => false,
            Crossing::Anywhere => true,
            Crossing::At(at) => (start + 1..=end)
                .all(|t| !tokens.tokens()[t].after_stop || at.contains(&((t - start) as u32))),
        }
    }
}

/// No pattern of this kind for a word.
const NONE: u32 = u32::MAX;

struct WordIds {
    word: Box<str>,
    hash: u64,
    stem: u32,
    exact: u32,
}

/// A 4096-bit filter over three-byte heads: no false negatives, and a
/// false positive only costs the exact look-ups it guards.
struct PrefixHeads([u64; 64]);

impl Default for PrefixHeads {
    fn default() -> Self {
        PrefixHeads([0; 64])
    }
}

impl PrefixHeads {
    fn bit(head: &[u8; 3]) -> usize {
        let h = u32::from(head[0]) | u32::from(head[1]) << 8 | u32::from(head[2]) << 16;
        (h.wrapping_mul(0x9E37_79B1) >> 20) as usize
    }

    fn insert(&mut self, head: &[u8; 3]) {
        let b = Self::bit(head);
        self.0[b / 64] |= 1 << (b % 64);
    }

    fn may_contain(&self, head: &[u8; 3]) -> bool {
        let b = Self::bit(head);
        self.0[b / 64] & (1 << (b % 64)) != 0
    }
}

/// Numbers matchers, so a thread's memo knows whose patterns it holds.
static NEXT_MATCHER: AtomicU64 = AtomicU64::new(1);

/// Per thread: the pattern ids of each word already seen, by word number
/// (see [`TokenizedText::word_id`]). A word's patterns depend on the word
/// alone, so they are looked up once per distinct word, not per token: two
/// hash probes and the prefix look-ups become one index.
#[derive(Default)]
struct Memo {
    /// The matcher, its pattern count and the vocabulary the memo is for.
    key: (u64, usize, u64),
    /// Per word number, its patterns (in `patterns`), or [`Span::UNSEEN`].
    spans: Vec<Span>,
    patterns: Vec<u32>,
    /// The scan's buffers, kept for the thread's next text.
    own: Vec<u32>,
    open: Vec<(u32, u32, bool)>,
}

/// A token's pattern ids: `start..end` of the memo's patterns, or of the
/// scan's own buffer for a token without a word number.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    own: bool,
    /// Some pattern starts an item (has a trie root): only such tokens are
    /// tried as the start of an occurrence.
    starts_item: bool,
    /// The word may start a token-anchored regex match
    /// ([`WordHeads::may_start`]).
    regex_start: bool,
}

impl Span {
    /// A word not yet looked up: the only span whose start is `u32::MAX`.
    const UNSEEN: Span = Span {
        start: u32::MAX,
        end: 0,
        own: false,
        starts_item: false,
        regex_start: false,
    };

    fn is_seen(&self) -> bool {
        self.start != u32::MAX
    }
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

pub struct Matcher {
    /// Unique per matcher (see [`Memo`]).
    id: u64,
    /// word → (id of the stem pattern, id of the exact pattern), keyed by
    /// [`word_hash`], which tokens carry: a look-up hashes nothing, and a
    /// token whose stem is its surface (most short words) costs one probe.
    word_ids: HashTable<WordIds>,
    prefix_ids: HashMap<String, u32>,
    /// Byte lengths of the prefix patterns, ascending.
    prefix_lengths: Vec<usize>,
    /// A bit per hash of the first three bytes of every prefix pattern: most
    /// tokens fail this one test and skip the per-length look-ups.
    prefix_heads: PrefixHeads,
    /// Items as a trie over pattern ids (see [`Trie`]).
    trie: Trie,
    item_count: u32,
    /// Per item, where it may match across a full stop
    /// ([`crate::text::Token::after_stop`]).
    crossing: Vec<Crossing>,
    /// Which words may start a regex match, noted in the memo beside
    /// their patterns (see [`Matcher::scan_flagging`]).
    word_heads: Option<WordHeads>,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher {
            id: NEXT_MATCHER.fetch_add(1, Ordering::Relaxed),
            word_ids: HashTable::new(),
            prefix_ids: HashMap::default(),
            prefix_lengths: Vec::new(),
            prefix_heads: PrefixHeads::default(),
            trie: Trie::default(),
            item_count: 0,
            crossing: Vec::new(),
            word_heads: None,
        }
    }
}

impl Matcher {
    /// Add an item; returns its id (ids are dense, in insertion order).
    /// Its words match consecutive tokens with no full stop between them
    /// (a line break is no matter: answers are often hard-wrapped), unless
    /// `across_stops` (a safeguarding flag's items: better a disclosure read
    /// twice by a person than missed) or the item has a stop of its own
    /// ("St. Helens"), which it may then cross.
    pub fn add(&mut self, item: &Item, across_stops: bool) -> u32 {
        let id = self.item_count;
        self.item_count += 1;
        self.crossing.push(if across_stops {
            Crossing::Anywhere
        } else if item.spans_stop() {
            Crossing::At(item.stops_before.clone().into_boxed_slice())
        } else {
            Crossing::Never
        });
        let patterns: Vec<u32> = item.words.iter().map(|w| self.pattern_id(w)).collect();
        self.trie.insert(&patterns, id);
        id
    }

    /// Have scans also note the tokens whose word may start a regex match.
    pub(super) fn set_word_heads(&mut self, heads: WordHeads) {
        self.word_heads = Some(heads);
        // Memos filled without the heads no longer hold.
        self.id = NEXT_MATCHER.fetch_add(1, Ordering::Relaxed);
    }

    fn may_start_regex(&self, tokens: &TokenizedText, i: usize) -> bool {
        self.word_heads
            .as_ref()
            .is_some_and(|heads| heads.may_start(tokens.lower(i)))
    }

    pub fn item_count(&self) -> usize {
        self.item_count as usize
    }

    fn pattern_id(&mut self, pattern: &WordPattern) -> u32 {
        let next = self.trie.pattern_count();
        let id = match pattern {
            WordPattern::Stem(s) | WordPattern::Exact(s) => {
                let hash = word_hash(s);
                let ids = match self.word_ids.find_mut(hash, |w| *w.word == **s) {
                    Some(ids) => ids,
                    None => self
                        .word_ids
                        .insert_unique(
                            hash,
                            WordIds {
                                word: s.as_str().into(),
                                hash,
                                stem: NONE,
                                exact: NONE,
                            },
                            |w| w.hash,
                        )
                        .into_mut(),
                };
                let slot = if matches!(pattern, WordPattern::Stem(_)) {
                    &mut ids.stem
                } else {
                    &mut ids.exact
                };
                if *slot == NONE {
                    *slot = next;
                }
                *slot
            }
            WordPattern::Prefix(s) => {
                if let Err(at) = self.prefix_lengths.binary_search(&s.len()) {
                    self.prefix_lengths.insert(at, s.len());
                }
                if let Some(head) = s.as_bytes().first_chunk::<3>() {
                    self.prefix_heads.insert(head);
                }
                *self.prefix_ids.entry(s.clone()).or_insert(next)
            }
        };
        if id == next {
            self.trie.add_pattern();
        }
        id
    }

    /// The pattern ids token `i` satisfies, appended to `out`.
    fn patterns_of(&self, tokens: &TokenizedText, i: usize, out: &mut Vec<u32>) {
        let stem = tokens.stem(i);
        let lower = tokens.lower(i);
        let stem_hash = tokens.stem_hash(i);
        let by_stem = self.word_ids.find(stem_hash, |w| same_word(&w.word, stem));
        if let Some(w) = by_stem
            && w.stem != NONE
        {
            out.push(w.stem);
        }
        let lower_hash = tokens.lower_hash(i);
        let by_lower = if lower_hash == stem_hash && same_word(lower, stem) {
            by_stem
        } else {
            self.word_ids
                .find(lower_hash, |w| same_word(&w.word, lower))
        };
        if let Some(w) = by_lower
            && w.exact != NONE
        {
            out.push(w.exact);
        }
        // Prefixes hold at least three letters, so at least three bytes.
        if let Some(head) = lower.as_bytes().first_chunk::<3>()
            && self.prefix_heads.may_contain(head)
        {
            for &len in &self.prefix_lengths {
                if len > lower.len() {
                    break;
                }
                if let Some(prefix) = lower.get(..len)
                    && let Some(id) = self.prefix_ids.get(prefix)
                {
                    out.push(*id);
                }
            }
        }
    }

    /// Every occurrence of every item, sorted by (start, end, item).
    pub fn scan(&self, tokens: &TokenizedText) -> Vec<Occurrence> {
        self.scan_flagging(tokens, &mut Vec::new())
    }

    /// [`Matcher::scan`], also appending to `regex_starts` the index of
    /// each token whose word may start a regex match (ascending; none
    /// unless [`Matcher::set_word_heads`] was called): the same memo
    /// look-up answers both.
    pub(super) fn scan_flagging(
        &self,
        tokens: &TokenizedText,
        regex_starts: &mut Vec<u32>,
    ) -> Vec<Occurrence> {
        // Word numbers hold on the thread that tokenised, until its cache
        // clears; otherwise every token is looked up afresh.
        let vocabulary = tokens.vocabulary();
        let numbered = vocabulary != 0 && vocabulary == current_vocabulary();
        MEMO.with(|memo| {
            let mut memo = memo.borrow_mut();
            let key = (self.id, self.trie.pattern_count() as usize, vocabulary);
            if numbered && memo.key != key {
                memo.key = key;
                memo.spans.clear();
                memo.patterns.clear();
            }
            let memo = &mut *memo;
            self.scan_with(tokens, numbered, memo, regex_starts)
        })
    }

    /// [`Matcher::scan`] with the thread's memo borrowed. One pass: a
    /// token whose word starts no item costs its memo look-up and nothing
    /// more; the words after a start are looked up only while a trie path
    /// continues through them.
    fn scan_with(
        &self,
        tokens: &TokenizedText,
        numbered: bool,
        memo: &mut Memo,
        regex_starts: &mut Vec<u32>,
    ) -> Vec<Occurrence> {
        let n = tokens.len();
        let mut own = std::mem::take(&mut memo.own);
        own.clear();
        // About one occurrence a token with a large codebook: one
        // allocation instead of a doubling series of them (bounded, for a
        // response of megabytes).
        let mut found = Vec::with_capacity(n.min(4096));
        // Trie nodes still to extend: (node, token the path ends at).
        let mut open = std::mem::take(&mut memo.open);
        open.clear();
        for start in 0..n {
            let span = self.span(tokens, start, numbered, memo, &mut own);
            if span.regex_start {
                regex_starts.push(start as u32);
            }
            if !span.starts_item {
                continue;
            }
            let starting_here = found.len();
            for k in span.start..span.end {
                let first = if span.own {
                    own[k as usize]
                } else {
                    memo.patterns[k as usize]
                };
                if let Some(node) = self.trie.root_child(first) {
                    open.push((node, start as u32, false));
                }
            }
            // `crossed`: a full stop lies inside the path. Paths go on
            // across one (an item further down may allow it); only the
            // items that do not are left out.
            while let Some((node, end, crossed)) = open.pop() {
                for item in self.trie.items_ending_at(node) {
                    if crossed && !self.crossing[item as usize].allows(tokens, start, end as usize)
                    {
                        continue;
                    }
                    found.push(Occurrence {
                        start: start as u32,
                        end,
                        item,
                    });
                }
                let next = end as usize + 1;
                if next < n && self.trie.has_children(node) {
                    let crossed = crossed || tokens.tokens()[next].after_stop;
                    let span = self.span(tokens, next, numbered, memo, &mut own);
                    for k in span.start..span.end {
                        let p = if span.own {
                            own[k as usize]
                        } else {
                            memo.patterns[k as usize]
                        };
                        if let Some(child) = self.trie.child(node, p) {
                            open.push((child, next as u32, crossed));
                        }
                    }
                }
            }
            // Starts ascend, so sorting each start's few occurrences sorts
            // them all; one sort of the whole list was 15% of coding with a
            // 5,000-keyword codebook.
            let here = &mut found[starting_here..];
            if !here.is_sorted() {
                here.sort_unstable();
            }
        }
        memo.own = own;
        memo.open = open;
        found
    }

    /// Token `i`'s pattern ids: from the memo when the token is numbered
    /// here (filling it on a word's first sight), else looked up afresh
    /// into `own`.
    #[inline(always)]
    fn span(
        &self,
        tokens: &TokenizedText,
        i: usize,
        numbered: bool,
        memo: &mut Memo,
        own: &mut Vec<u32>,
    ) -> Span {
        let word = tokens.word_id(i);
        if !numbered || word == NO_WORD {
            let start = own.len();
            self.patterns_of(tokens, i, own);
            return Span {
                start: start as u32,
                end: own.len() as u32,
                own: true,
                starts_item: self.any_starts_item(&own[start..]),
                regex_start: self.may_start_regex(tokens, i),
            };
        }
        let w = word as usize;
        if let Some(&span) = memo.spans.get(w)
            && span.is_seen()
        {
            return span;
        }
        let start = memo.patterns.len();
        self.patterns_of(tokens, i, &mut memo.patterns);
        let span = Span {
            start: start as u32,
            end: memo.patterns.len() as u32,
            own: false,
            starts_item: self.any_starts_item(&memo.patterns[start..]),
            regex_start: self.may_start_regex(tokens, i),
        };
        if w >= memo.spans.len() {
            memo.spans.resize(w + 1, Span::UNSEEN);
        }
        memo.spans[w] = span;
        span
    }

    fn any_starts_item(&self, patterns: &[u32]) -> bool {
        patterns.iter().any(|&p| self.trie.root_child(p).is_some())
    }
}

/// The items as a trie over pattern ids: an item is found at token `i`
/// when a path from the root spells its patterns through tokens `i, i+1, …`.
/// A token costs one look-up per pattern it has, and a phrase's further
/// words are looked up only while some item still continues the path, so
/// the scan does not try each item that shares a common first word
/// ("family …", "care …") against the words after it.
#[derive(Default)]
struct Trie {
    /// Per pattern id, the node its one-word path leads to, or [`NONE`].
    roots: Vec<u32>,
    nodes: Vec<TrieNode>,
    /// (node, pattern) → child, for paths of two words and more.
    edges: HashMap<(u32, u32), u32>,
    /// Items ending at the same node, linked from `TrieNode::first_item`
    /// (several when two codes share a keyword).
    next_item: Vec<u32>,
}

#[derive(Clone, Copy)]
struct TrieNode {
    first_item: u32,
    /// A bit per child pattern id modulo 64: most (node, next word) pairs
    /// fail this test and skip the hash look-up.
    child_bits: u64,
}

impl Trie {
    fn pattern_count(&self) -> u32 {
        self.roots.len() as u32
    }

    fn add_pattern(&mut self) {
        self.roots.push(NONE);
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(TrieNode {
            first_item: NONE,
            child_bits: 0,
        });
        self.nodes.len() as u32 - 1
    }

    /// Record item `id` (ids are inserted densely from 0) as the path
    /// `patterns`; an empty item is never found.
    fn insert(&mut self, patterns: &[u32], id: u32) {
        debug_assert_eq!(self.next_item.len(), id as usize);
        self.next_item.push(NONE);
        let Some((&first, rest)) = patterns.split_first() else {
            return;
        };
        let mut node = match self.roots[first as usize] {
            NONE => {
                let node = self.new_node();
                self.roots[first as usize] = node;
                node
            }
            node => node,
        };
        for &p in rest {
            node = match self.edges.get(&(node, p)) {
                Some(&child) => child,
                None => {
                    let child = self.new_node();
                    self.edges.insert((node, p), child);
                    self.nodes[node as usize].child_bits |= 1 << (p % 64);
                    child
                }
            };
        }
        // Appended, so a node's items come out in ascending order and a
        // start's occurrences seldom need sorting.
        match self.nodes[node as usize].first_item {
            NONE => self.nodes[node as usize].first_item = id,
            mut last => {
                while self.next_item[last as usize] != NONE {
                    last = self.next_item[last as usize];
                }
                self.next_item[last as usize] = id;
            }
        }
    }

    fn root_child(&self, pattern: u32) -> Option<u32> {
        match self.roots[pattern as usize] {
            NONE => None,
            node => Some(node),
        }
    }

    fn has_children(&self, node: u32) -> bool {
        self.nodes[node as usize].child_bits != 0
    }

    fn child(&self, node: u32, pattern: u32) -> Option<u32> {
        if self.nodes[node as usize].child_bits & 1 << (pattern % 64) == 0 {
            return None;
        }
        self.edges.get(&(node, pattern)).copied()
    }

    fn items_ending_at(&self, node: u32) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(
            Some(self.nodes[node as usize].first_item).filter(|&i| i != NONE),
            |&i| Some(self.next_item[i as usize]).filter(|&i| i != NONE),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codebook::{Item, parse_item};
    use crate::text::Tokeniser;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "kinship",
        "care",
        "carers",
        "Caring",
        "foster",
        "fostering",
        "social",
        "workers",
        "worker",
        "support",
        "the",
        "of",
        "duty",
        "adoption",
        "adopted",
        "Ofsted",
        "a",
        "extraordinarilylongwordthatthestemcachedoesnotholdatall",
        "séjour",
        "Ça",
    ];

    fn matcher() -> Matcher {
        let tokeniser = Tokeniser::shared();
        let mut m = Matcher::default();
        for (source, stem) in [
            ("kinship care", true),
            ("care", true),
            ("foster*", true),
            ("social worker", true),
            ("duty of care", true),
            ("adopt*", true),
            ("ofsted", false),
            ("workers", false),
            ("séjour", true),
            (
                "extraordinarilylongwordthatthestemcachedoesnotholdatall",
                true,
            ),
        ] {
            m.add(&parse_item(source, stem, tokeniser).unwrap(), false);
        }
        m
    }

    /// Every item's occurrences found the slow way: each item tried at
    /// each token, word pattern by word pattern.
    /// Every occurrence of every item, by trying each at each token; an
    /// item crosses a full stop only where `across[item]` or it has one.
    fn brute_force(items: &[Item], across: &[bool], tokens: &TokenizedText) -> Vec<Occurrence> {
        let holds = |pattern: &WordPattern, i: usize| match pattern {
            WordPattern::Stem(s) => tokens.stem(i) == s,
            WordPattern::Exact(s) => tokens.lower(i) == s,
            WordPattern::Prefix(p) => tokens.lower(i).starts_with(p.as_str()),
        };
        let mut found = Vec::new();
        for (id, item) in items.iter().enumerate() {
            let len = item.words.len();
            for start in 0..tokens.len() {
                if len > 0
                    && start + len <= tokens.len()
                    && item
                        .words
                        .iter()
                        .enumerate()
                        .all(|(k, w)| holds(w, start + k))
                    && (1..len).all(|k| {
                        !tokens.tokens()[start + k].after_stop
                            || across[id]
                            || item.stops_before.contains(&(k as u32))
                    })
                {
                    found.push(Occurrence {
                        start: start as u32,
                        end: (start + len - 1) as u32,
                        item: id as u32,
                    });
                }
            }
        }
        found.sort_unstable();
        found
    }

    /// Items that share first words, are prefixes of one another, repeat
    /// one another and overlap, so the trie's paths branch and end inside
    /// other paths.
    const PHRASES: &[(&str, bool)] = &[
        ("care", true),
        ("care. home", true),
        ("kinship! care. support", true),
        ("care leaver", true),
        ("care leavers", false),
        ("care home", true),
        ("care", true),
        ("kinship care", true),
        ("kinship care support", true),
        ("care support", true),
        ("support", true),
        ("support worker*", true),
        ("the", false),
        ("the care", true),
        ("care of the", true),
        ("care care care", true),
        ("foster*", true),
        ("care foster*", true),
    ];

    proptest! {
        /// The trie finds exactly the occurrences that trying every item at
        /// every token finds, in the same order.
        #[test]
        fn scans_equal_brute_force(
            words in prop::collection::vec(prop::sample::select(&[
                "care", "Care", "leaver", "leavers", "home", "kinship", "support",
                "supported", "worker", "workers", "the", "of", "foster", "fostering",
                "carers", "care.", "kinship!", "support\n", "home?",
            ][..]), 0..60),
            chosen in prop::collection::vec((prop::sample::select(PHRASES), any::<bool>()), 1..12),
        ) {
            let tokeniser = Tokeniser::shared();
            let items: Vec<Item> = chosen
                .iter()
                .map(|((source, stem), _)| parse_item(source, *stem, tokeniser).unwrap())
                .collect();
            let across: Vec<bool> = chosen.iter().map(|(_, across)| *across).collect();
            let mut m = Matcher::default();
            for (item, across) in items.iter().zip(&across) {
                m.add(item, *across);
            }
            let tokens = tokeniser.tokenise(&words.join(" "));
            prop_assert_eq!(m.scan(&tokens), brute_force(&items, &across, &tokens));
        }

        /// A token's patterns memoised by word number are the patterns its
        /// words give when looked up afresh (tokens from another thread,
        /// whose numbers do not hold here).
        #[test]
        fn memoised_scans_equal_fresh_ones(
            texts in prop::collection::vec(
                prop::collection::vec(prop::sample::select(WORDS), 0..40), 1..6),
        ) {
            let m = matcher();
            for words in texts {
                let text = words.join(" ");
                let here = Tokeniser::shared().tokenise(&text);
                prop_assert!(here.is_empty() || here.vocabulary() == current_vocabulary());
                let elsewhere = std::thread::scope(|s| {
                    s.spawn(|| Tokeniser::shared().tokenise(&text)).join().unwrap()
                });
                prop_assert_ne!(elsewhere.vocabulary(), here.vocabulary());
                let fresh = m.scan(&elsewhere);
                // Twice: the second scan reads the memo the first filled.
                prop_assert_eq!(&m.scan(&here), &fresh);
                prop_assert_eq!(&m.scan(&here), &fresh);
                // Another matcher on the same thread does not read this one's memo.
                let other = matcher();
                prop_assert_eq!(&other.scan(&here), &fresh);
            }
        }

        /// The tokens a scan flags as possible regex starts are those whose
        /// word the heads accept, whether the flag comes from the memo (a
        /// second scan) or is worked out afresh (another thread's tokens).
        #[test]
        fn flagged_tokens_are_the_words_the_heads_accept(
            texts in prop::collection::vec(
                prop::collection::vec(prop::sample::select(&[
                    "care", "Care", "carers", "foster", "fostering", "3", "12", "workers",
                    "don't", "x3", "séjour", "the", "of",
                ][..]), 0..30), 1..4),
        ) {
            use crate::classify::heads::{Placeholders, WordHeads, heads_of};
            let mut placeholders = Placeholders::default();
            let heads: Vec<_> = [r"(?i)\bcare\b", r"\bfoster\w*", r"(?i)\b\d+ workers"]
                .iter()
                .flat_map(|p| heads_of(&regex_syntax::parse(p).unwrap(), &mut placeholders).unwrap())
                .collect();
            let word_heads = WordHeads::new(&heads, &placeholders);
            let mut m = matcher();
            m.set_word_heads(word_heads.clone());
            for words in texts {
                let text = words.join(" ");
                let here = Tokeniser::shared().tokenise(&text);
                let expected: Vec<u32> = (0..here.len())
                    .filter(|&i| word_heads.may_start(here.lower(i)))
                    .map(|i| i as u32)
                    .collect();
                let elsewhere = std::thread::scope(|s| {
                    s.spawn(|| Tokeniser::shared().tokenise(&text)).join().unwrap()
                });
                for tokens in [&here, &here, &elsewhere] {
                    let mut flagged = Vec::new();
                    m.scan_flagging(tokens, &mut flagged);
                    prop_assert_eq!(&flagged, &expected);
                }
            }
        }
    }
}
