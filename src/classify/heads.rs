//! Which tokens a regex match may start in, read from the patterns.
//!
//! Most codebook regexes begin with `\b` and a word: `(?i)\bwho\s+…`,
//! `\b(CIN|SEND|TAF)\b`. Every match of such a pattern starts at a word
//! start with one of a few words (its *heads*), so instead of running a
//! DFA over every byte of every text, the classifier tries the patterns
//! anchored at the starts of the few tokens whose word is a head. Whether
//! a word is one is decided once per distinct word (the matcher's memo).
//!
//! Heads come from regex-syntax's literal extractor, run on the pattern with
//! each case-insensitive letter (`[Nn]`, `[Kk\u{212A}]`) folded to its
//! lowercase ASCII letter, so `(?i)need` is one literal and not sixteen, and
//! each large class of alphanumeric characters (`\d`) replaced by a
//! placeholder byte standing for "a character of that class". A pattern is
//! *token-anchored* when every match starts at a word start (`\b` or `\<`
//! leads it) and every literal prefix starts with an ASCII letter or digit, or
//! with a placeholder; the others are searched over the whole text.
//!
//! Why a token-anchored match is never missed: its first character is a
//! letter or digit, so it lies inside a token (every alphanumeric character
//! does), at the token's start or after a non-word character inside it.
//! When the token's text is ASCII, its lowercased form holds the head at
//! that offset, whole-word when the literal goes on with a non-word
//! character, which [`WordHeads::may_start`] checks. A token with a
//! non-ASCII character anywhere (where case folding, `\d` and offsets
//! stop being ASCII's) is tried at every word start it has, whatever its
//! word. The search tried there is the pattern's relaxed form, which
//! matches wherever the exact one does, so candidates stay a superset and
//! the exact regex still decides.

use aho_corasick::AhoCorasick;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, ClassUnicode, Hir, HirKind, Look};

use crate::text::Token;

/// Placeholder bytes for large alphanumeric classes (see the module doc):
/// bytes that never occur in UTF-8, so no literal of a pattern holds them.
const PLACEHOLDERS: std::ops::RangeInclusive<u8> = 0xF8..=0xFF;

/// A large class is at least this many characters: smaller ones the
/// extractor expands into literals itself.
const LARGE_CLASS: u32 = 64;

/// The heads of every token-anchored pattern, and a test of a word.
#[derive(Clone)]
pub(super) struct WordHeads {
    /// Every head; `None` when no pattern is token-anchored.
    automaton: Option<AhoCorasick>,
    /// The heads could not be compiled: every word may start a match.
    every_word: bool,
    /// Per head: only as a whole word (every literal it came from goes on
    /// with a non-word character right after it).
    whole_word: Vec<bool>,
    /// Per placeholder, the ASCII bytes (lowercased) a match may begin with.
    placeholder_starts: Vec<[bool; 128]>,
    /// Bytes a token-anchored match may begin with, in either case when
    /// the pattern ignores case.
    first_bytes: Box<[bool; 256]>,
}

/// How a match of a token-anchored pattern may begin.
#[derive(Debug, PartialEq)]
pub(in crate::classify) struct Head {
    /// Lowercase ASCII letters, digits and `_`; empty for a placeholder
    /// head (the match begins with a character of that class).
    pub word: Vec<u8>,
    pub whole_word: bool,
    /// For a placeholder head, which one.
    pub placeholder: Option<u8>,
    /// The literal's first byte before lowercasing (a folded `(?i)`
    /// letter is lowercase, so a lowercase letter allows either case); for
    /// a placeholder head, the placeholder.
    pub first: u8,
}

/// What [`heads_of`] learnt besides the heads: the placeholders' classes.
#[derive(Default)]
pub(in crate::classify) struct Placeholders {
    classes: Vec<ClassUnicode>,
}

impl Placeholders {
    /// The placeholder byte for `class`, if one is left.
    fn byte_for(&mut self, class: &ClassUnicode) -> Option<u8> {
        let at = match self.classes.iter().position(|c| c == class) {
            Some(at) => at,
            None if self.classes.len() < PLACEHOLDERS.len() => {
                self.classes.push(class.clone());
                self.classes.len() - 1
            }
            None => return None,
        };
        PLACEHOLDERS.start().checked_add(u8::try_from(at).ok()?)
    }

    /// The class a placeholder byte stands for.
    fn class_of(&self, byte: u8) -> Option<&ClassUnicode> {
        self.classes
            .get(usize::from(byte.checked_sub(*PLACEHOLDERS.start())?))
    }
}

/// The heads of `pattern` (its HIR as parsed), or `None` when a match may
/// start anywhere but at a word start with a letter or digit.
pub(in crate::classify) fn heads_of(
    pattern: &Hir,
    placeholders: &mut Placeholders,
) -> Option<Vec<Head>> {
    // `\b`, `\b{start}` or `\<` before a letter or digit: a word start.
    // Not `\B`, and not the ASCII forms, whose word starts differ from
    // the ones `word_starts` finds inside a token with non-ASCII letters.
    let prefix = pattern.properties().look_set_prefix();
    let word_start = [
        Look::WordUnicode,
        Look::WordStartUnicode,
        Look::WordStartHalfUnicode,
    ];
    if !word_start.into_iter().any(|look| prefix.contains(look)) {
        return None;
    }
    let folded = fold(pattern.clone(), placeholders)?;
    let mut extractor = Extractor::new();
    extractor
        .kind(ExtractKind::Prefix)
        .limit_class(LARGE_CLASS as usize)
        .limit_total(4096);
    let seq = extractor.extract(&folded);
    let mut heads = Vec::new();
    for literal in seq.literals()? {
        let bytes = literal.as_bytes();
        let first = *bytes.first()?;
        if PLACEHOLDERS.contains(&first) {
            heads.push(Head {
                word: Vec::new(),
                whole_word: false,
                placeholder: Some(first),
                first,
            });
            continue;
        }
        if !first.is_ascii_alphanumeric() {
            return None;
        }
        let run = bytes
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        heads.push(Head {
            word: bytes[..run].to_ascii_lowercase(),
            whole_word: ends_word(&bytes[run..]),
            placeholder: None,
            first,
        });
    }
    Some(heads)
}

/// Whether `rest` (what a literal holds after its head) starts with a
/// character that is not a word character. A placeholder (never valid
/// UTF-8; it stands for a letter or digit), or a character cut by the
/// extractor's limits, does not.
fn ends_word(rest: &[u8]) -> bool {
    let valid = match std::str::from_utf8(rest) {
        Ok(valid) => valid,
        Err(e) => std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or(""),
    };
    valid
        .chars()
        .next()
        .is_some_and(|c| !regex_syntax::is_word_character(c))
}

/// `hir` with each class of one ASCII letter in its cases replaced by the
/// lowercase letter and each large class of alphanumerics by a
/// placeholder (see the module doc). `None` when placeholders run out.
fn fold(hir: Hir, placeholders: &mut Placeholders) -> Option<Hir> {
    super::regexes::map_leaves(hir, &mut |leaf| {
        let HirKind::Class(Class::Unicode(class)) = leaf.kind() else {
            return Ok(leaf);
        };
        if let Some(letter) = one_letter(class) {
            Ok(Hir::literal([letter]))
        } else if class_size(class) >= LARGE_CLASS && all_alphanumeric(class) {
            placeholders
                .byte_for(class)
                .map(|b| Hir::literal([b]))
                .ok_or(())
        } else {
            Ok(leaf)
        }
    })
    .ok()
}

fn class_size(class: &ClassUnicode) -> u32 {
    class
        .ranges()
        .iter()
        .map(|r| r.end() as u32 - r.start() as u32 + 1)
        .sum()
}

/// Every member is alphanumeric (so inside a token) and a word character
/// (so a match that starts with it after `\b` starts at a word start).
fn all_alphanumeric(class: &ClassUnicode) -> bool {
    class.ranges().iter().all(|r| {
        (r.start()..=r.end()).all(|c| c.is_alphanumeric() && regex_syntax::is_word_character(c))
    })
}

/// The lowercase ASCII letter a class is the cases of (`[Nn]`, `[Ssſ]`):
/// its ASCII members are one letter in either case, the rest letters.
fn one_letter(class: &ClassUnicode) -> Option<u8> {
    if class_size(class) > 4 {
        return None;
    }
    let chars: Vec<char> = class
        .ranges()
        .iter()
        .flat_map(|r| r.start()..=r.end())
        .collect();
    let letter = chars.iter().find(|c| c.is_ascii())?.to_ascii_lowercase();
    let one = letter.is_ascii_alphabetic()
        && chars
            .iter()
            .all(|c| c.to_ascii_lowercase() == letter || (!c.is_ascii() && c.is_alphabetic()));
    one.then_some(letter as u8)
}

impl WordHeads {
    /// The heads of the token-anchored patterns; `placeholders` from the
    /// same [`heads_of`] calls.
    pub(super) fn new(heads: &[Head], placeholders: &Placeholders) -> WordHeads {
        let mut first_bytes = Box::new([false; 256]);
        let mut words: Vec<(Vec<u8>, bool)> = Vec::new();
        for head in heads {
            if head.placeholder.is_some() {
                continue;
            }
            first_bytes[usize::from(head.first)] = true;
            if head.first.is_ascii_lowercase() {
                first_bytes[usize::from(head.first.to_ascii_uppercase())] = true;
            }
            match words.iter_mut().find(|(w, _)| *w == head.word) {
                Some((_, whole)) => *whole &= head.whole_word,
                None => words.push((head.word.clone(), head.whole_word)),
            }
        }
        // Only the classes a match may begin with: a placeholder in the
        // middle of a literal says nothing about where matches start.
        let mut placeholder_starts = Vec::new();
        let mut seen = Vec::new();
        for byte in heads.iter().filter_map(|h| h.placeholder) {
            let Some(class) = placeholders
                .class_of(byte)
                .filter(|_| !seen.contains(&byte))
            else {
                continue;
            };
            seen.push(byte);
            let mut starts = [false; 128];
            for b in 0u8..128 {
                if class
                    .ranges()
                    .iter()
                    .any(|r| r.start() <= b as char && b as char <= r.end())
                {
                    starts[usize::from(b.to_ascii_lowercase())] = true;
                    first_bytes[usize::from(b)] = true;
                }
            }
            placeholder_starts.push(starts);
        }
        // Should the automaton not build, every word may start a match:
        // slower, never wrong.
        let automaton = match words.is_empty() {
            true => Ok(None),
            false => AhoCorasick::new(words.iter().map(|(w, _)| w)).map(Some),
        };
        if automaton.is_err() {
            first_bytes.fill(true);
        }
        WordHeads {
            every_word: automaton.is_err(),
            automaton: automaton.ok().flatten(),
            whole_word: words.iter().map(|(_, whole)| *whole).collect(),
            placeholder_starts,
            first_bytes,
        }
    }

    /// Whether a token-anchored match may start in a token whose
    /// lowercased word is `lower`. Only an ASCII token's answer is used: the
    /// caller tries every word start of a token with a non-ASCII character
    /// (whose `lower` may still be ASCII: `’` folds to `'`).
    pub(super) fn may_start(&self, lower: &str) -> bool {
        let bytes = lower.as_bytes();
        if self.every_word {
            return true;
        }
        if !lower.is_ascii() {
            return false;
        }
        let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let starts_word = |at: usize| at == 0 || !is_word(bytes[at - 1]);
        if !self.placeholder_starts.is_empty()
            && (0..bytes.len()).any(|at| {
                starts_word(at)
                    && self
                        .placeholder_starts
                        .iter()
                        .any(|starts| starts[usize::from(bytes[at] & 0x7f)])
            })
        {
            return true;
        }
        let Some(automaton) = &self.automaton else {
            return false;
        };
        automaton.find_overlapping_iter(lower).any(|m| {
            starts_word(m.start())
                && (!self.whole_word[m.pattern().as_usize()]
                    || m.end() == bytes.len()
                    || !is_word(bytes[m.end()]))
        })
    }

    /// Whether a token-anchored match may begin with byte `b`.
    pub(super) fn may_begin_with(&self, b: u8) -> bool {
        self.first_bytes[usize::from(b)]
    }
}

/// The word starts inside `token` of `text`: its first byte, and each
/// word character after a non-word character within it.
pub(super) fn word_starts<'t>(text: &'t str, token: &Token) -> impl Iterator<Item = usize> + 't {
    let (start, end) = (token.byte_start as usize, token.byte_end as usize);
    // Nothing for a token that is not of this text.
    let surface = text.get(start..end);
    let mut chars = surface.unwrap_or("").char_indices();
    let mut previous_is_word = chars
        .next()
        .is_none_or(|(_, c)| regex_syntax::is_word_character(c));
    surface
        .map(|_| start)
        .into_iter()
        .chain(chars.filter_map(move |(k, c)| {
            let is_word = regex_syntax::is_word_character(c);
            let starts = is_word && !previous_is_word;
            previous_is_word = is_word;
            starts.then_some(start + k)
        }))
}
