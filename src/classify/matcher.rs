//! One multi-pattern matcher for every item of a codebook (keywords, excludes,
//! rule items, negators).
//!
//! Items are sequences of word patterns. Every distinct pattern gets an id;
//! a token is mapped to the ids it satisfies with two hash look-ups (stem,
//! surface) and one per prefix length (wildcards). Items are indexed by their
//! first pattern, so a scan costs O(tokens + candidate items), independent of
//! how many keywords the codebook holds.

use rustc_hash::FxHashMap as HashMap;

use crate::codebook::{Item, WordPattern};
use crate::text::TokenizedText;

/// An item found in a text: `item` spans tokens `start..=end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Occurrence {
    pub start: u32,
    pub end: u32,
    pub item: u32,
}

/// No pattern of this kind for a word.
const NONE: u32 = u32::MAX;

#[derive(Default)]
pub struct Matcher {
    /// word → (id of the stem pattern, id of the exact pattern): one map, so
    /// a token whose stem is its surface (most short words) costs one look-up.
    word_ids: HashMap<String, (u32, u32)>,
    prefix_ids: HashMap<String, u32>,
    /// Byte lengths of the prefix patterns, ascending.
    prefix_lengths: Vec<usize>,
    /// First three bytes of every prefix pattern: most tokens fail this one
    /// probe and skip the per-length look-ups.
    prefix_heads: rustc_hash::FxHashSet<[u8; 3]>,
    items: Vec<Vec<u32>>,
    by_first: Vec<Vec<u32>>,
}

impl Matcher {
    /// Add an item; returns its id (ids are dense, in insertion order).
    pub fn add(&mut self, item: &Item) -> u32 {
        let pats: Vec<u32> = item.words.iter().map(|w| self.pattern_id(w)).collect();
        let id = self.items.len() as u32;
        if let Some(first) = pats.first() {
            self.by_first[*first as usize].push(id);
        }
        self.items.push(pats);
        id
    }

    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    fn pattern_id(&mut self, pattern: &WordPattern) -> u32 {
        let next = self.by_first.len() as u32;
        let id = match pattern {
            WordPattern::Stem(s) | WordPattern::Exact(s) => {
                let ids = self.word_ids.entry(s.clone()).or_insert((NONE, NONE));
                let slot = if matches!(pattern, WordPattern::Stem(_)) {
                    &mut ids.0
                } else {
                    &mut ids.1
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
                    self.prefix_heads.insert(*head);
                }
                *self.prefix_ids.entry(s.clone()).or_insert(next)
            }
        };
        if id == next {
            self.by_first.push(Vec::new());
        }
        id
    }

    /// Every occurrence of every item, sorted by (start, end, item).
    pub fn scan(&self, tokens: &TokenizedText) -> Vec<Occurrence> {
        let n = tokens.len();
        let mut pats: Vec<u32> = Vec::with_capacity(n);
        let mut offsets: Vec<u32> = Vec::with_capacity(n + 1);
        for i in 0..n {
            offsets.push(pats.len() as u32);
            let stem = tokens.stem(i);
            let lower = tokens.lower(i);
            let by_stem = self.word_ids.get(stem);
            if let Some(&(id, _)) = by_stem
                && id != NONE
            {
                pats.push(id);
            }
            let by_lower = if lower == stem {
                by_stem
            } else {
                self.word_ids.get(lower)
            };
            if let Some(&(_, id)) = by_lower
                && id != NONE
            {
                pats.push(id);
            }
            // Prefixes hold at least three letters, so at least three bytes.
            if let Some(head) = lower.as_bytes().first_chunk::<3>()
                && self.prefix_heads.contains(head)
            {
                for &len in &self.prefix_lengths {
                    if len > lower.len() {
                        break;
                    }
                    if let Some(prefix) = lower.get(..len)
                        && let Some(id) = self.prefix_ids.get(prefix)
                    {
                        pats.push(*id);
                    }
                }
            }
        }
        offsets.push(pats.len() as u32);
        let at = |i: usize| &pats[offsets[i] as usize..offsets[i + 1] as usize];
        let mut found = Vec::new();
        for i in 0..n {
            for first in at(i) {
                for item_id in &self.by_first[*first as usize] {
                    let item = &self.items[*item_id as usize];
                    let len = item.len();
                    if i + len > n {
                        continue;
                    }
                    if item[1..]
                        .iter()
                        .enumerate()
                        .all(|(k, p)| at(i + 1 + k).contains(p))
                    {
                        found.push(Occurrence {
                            start: i as u32,
                            end: (i + len - 1) as u32,
                            item: *item_id,
                        });
                    }
                }
            }
        }
        found.sort_unstable();
        found
    }
}
