//! One multi-pattern matcher for every item of a codebook (keywords, excludes,
//! rule items, negators).
//!
//! Items are sequences of word patterns. Every distinct pattern gets an id;
//! a word is mapped to the ids it satisfies with two hash look-ups (stem,
//! surface) and one per prefix length (wildcards), once per distinct word
//! and thread (a memo by the stem cache's word numbers). Items are indexed
//! by their first pattern, so a scan costs O(tokens + candidate items),
//! independent of how many keywords the codebook holds.

use rustc_hash::FxHashMap as HashMap;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Per word number, its range in `patterns`, or [`UNSEEN`].
    ranges: Vec<(u32, u32)>,
    patterns: Vec<u32>,
}

const UNSEEN: (u32, u32) = (u32::MAX, 0);

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
    /// Items' pattern ids, end to end: item `i` is
    /// `item_patterns[item_starts[i]..item_starts[i + 1]]`. Flat, as are the
    /// lists below, so the scan's inner loop follows indices, not pointers.
    item_patterns: Vec<u32>,
    item_starts: Vec<u32>,
    /// Per pattern id, the last-added item that starts with it (or [`NONE`]);
    /// `next_same_first[item]` links to the one added before it.
    first_item: Vec<u32>,
    next_same_first: Vec<u32>,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher {
            id: NEXT_MATCHER.fetch_add(1, Ordering::Relaxed),
            word_ids: HashTable::new(),
            prefix_ids: HashMap::default(),
            prefix_lengths: Vec::new(),
            prefix_heads: PrefixHeads::default(),
            item_patterns: Vec::new(),
            item_starts: Vec::new(),
            first_item: Vec::new(),
            next_same_first: Vec::new(),
        }
    }
}

impl Matcher {
    /// Add an item; returns its id (ids are dense, in insertion order).
    pub fn add(&mut self, item: &Item) -> u32 {
        if self.item_starts.is_empty() {
            self.item_starts.push(0);
        }
        let id = self.next_same_first.len() as u32;
        let mut first = None;
        for w in &item.words {
            let pattern = self.pattern_id(w);
            first.get_or_insert(pattern);
            self.item_patterns.push(pattern);
        }
        self.item_starts.push(self.item_patterns.len() as u32);
        let previous = match first {
            Some(first) => std::mem::replace(&mut self.first_item[first as usize], id),
            None => NONE,
        };
        self.next_same_first.push(previous);
        id
    }

    pub fn item_count(&self) -> usize {
        self.next_same_first.len()
    }

    fn pattern_id(&mut self, pattern: &WordPattern) -> u32 {
        let next = self.first_item.len() as u32;
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
            self.first_item.push(NONE);
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
        let n = tokens.len();
        let mut pats: Vec<u32> = Vec::with_capacity(n);
        let mut offsets: Vec<u32> = Vec::with_capacity(n + 1);
        // Word numbers hold on the thread that tokenised, until its cache
        // clears; otherwise every token is looked up afresh.
        let vocabulary = tokens.vocabulary();
        let numbered = vocabulary != 0 && vocabulary == current_vocabulary();
        MEMO.with(|memo| {
            let mut memo = memo.borrow_mut();
            let key = (self.id, self.first_item.len(), vocabulary);
            if numbered && memo.key != key {
                memo.key = key;
                memo.ranges.clear();
                memo.patterns.clear();
            }
            for i in 0..n {
                offsets.push(pats.len() as u32);
                let word = tokens.word_id(i);
                if !numbered || word == NO_WORD {
                    self.patterns_of(tokens, i, &mut pats);
                    continue;
                }
                let w = word as usize;
                if w >= memo.ranges.len() {
                    memo.ranges.resize(w + 1, UNSEEN);
                }
                if memo.ranges[w] == UNSEEN {
                    let start = memo.patterns.len();
                    self.patterns_of(tokens, i, &mut memo.patterns);
                    memo.ranges[w] = (start as u32, memo.patterns.len() as u32);
                }
                let (a, b) = memo.ranges[w];
                pats.extend_from_slice(&memo.patterns[a as usize..b as usize]);
            }
        });
        offsets.push(pats.len() as u32);
        let at = |i: usize| &pats[offsets[i] as usize..offsets[i + 1] as usize];
        let mut found = Vec::new();
        for i in 0..n {
            let starting_here = found.len();
            for &first in at(i) {
                let mut item_id = self.first_item[first as usize];
                while item_id != NONE {
                    let item = self.item_starts[item_id as usize] as usize
                        ..self.item_starts[item_id as usize + 1] as usize;
                    let len = item.len();
                    if i + len <= n
                        && self.item_patterns[item.start + 1..item.end]
                            .iter()
                            .enumerate()
                            .all(|(k, p)| at(i + 1 + k).contains(p))
                    {
                        found.push(Occurrence {
                            start: i as u32,
                            end: (i + len - 1) as u32,
                            item: item_id,
                        });
                    }
                    item_id = self.next_same_first[item_id as usize];
                }
            }
            // Starts ascend with `i`, so sorting each start's few occurrences
            // sorts them all; one sort of the whole list was 15% of coding
            // with a 5,000-keyword codebook.
            found[starting_here..].sort_unstable();
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codebook::parse_item;
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
            m.add(&parse_item(source, stem, tokeniser).unwrap());
        }
        m
    }

    proptest! {
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
    }
}
