//! The one tokeniser. Every stage that looks at words — the tantivy index, the
//! codebook matcher, the search query parser, snippets and term statistics —
//! goes through [`Tokeniser::tokenise`], so a word means the same thing
//! everywhere.
//!
//! A token is a Unicode word (UAX #29 word boundaries, at least one
//! alphanumeric character), lowercased, with curly apostrophes folded to `'`,
//! stemmed with the Snowball English stemmer, numbered by sentence and clause,
//! and located in the original text by byte *and* char (Unicode scalar)
//! offsets. Stopwords are kept in the stream and only marked, so phrases such
//! as "duty of care" match exactly.

mod tantivy_bridge;

pub use tantivy_bridge::{TANTIVY_TOKENIZER_NAME, ThematicTokenizer, to_tantivy_tokens};

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

/// The bundled English stopword list (`stopwords/en.txt`).
const STOPWORDS_EN: &str = include_str!("../../stopwords/en.txt");

/// Stem-cache entries kept per thread before the cache is cleared; bounds memory
/// on corpora with an open vocabulary.
const STEM_CACHE_LIMIT: usize = 200_000;

/// One word of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// Byte range in the original text.
    pub byte_start: u32,
    pub byte_end: u32,
    /// Unicode scalar (char) range in the original text.
    pub char_start: u32,
    pub char_end: u32,
    /// 0-based sentence number within the text.
    pub sentence: u32,
    /// 0-based clause number within the text; a new sentence is also a new clause.
    pub clause: u32,
    pub is_stopword: bool,
    lower: (u32, u32),
    stem: (u32, u32),
}

/// The tokens of one text, with their lowercased and stemmed forms held in two
/// arenas so tokenising allocates a handful of buffers, not one per word.
#[derive(Clone, Debug, Default)]
pub struct TokenizedText {
    tokens: Vec<Token>,
    lower_arena: String,
    stem_arena: String,
}

impl TokenizedText {
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The lowercased surface form of token `i` (curly apostrophes folded).
    pub fn lower(&self, i: usize) -> &str {
        let (a, b) = self.tokens[i].lower;
        &self.lower_arena[a as usize..b as usize]
    }

    /// The Snowball English stem of token `i`.
    pub fn stem(&self, i: usize) -> &str {
        let (a, b) = self.tokens[i].stem;
        &self.stem_arena[a as usize..b as usize]
    }

    /// Number of sentences (0 for an empty text).
    pub fn sentence_count(&self) -> u32 {
        self.tokens.last().map_or(0, |t| t.sentence + 1)
    }
}

/// The tokeniser: a Snowball stemmer and a stopword list. Cheap to share; use
/// [`Tokeniser::shared`] for the process-wide instance.
pub struct Tokeniser {
    stemmer: Stemmer,
    stopwords: HashSet<String>,
}

thread_local! {
    static STEM_CACHE: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

impl Default for Tokeniser {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokeniser {
    pub fn new() -> Self {
        let stopwords = STOPWORDS_EN
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        Tokeniser {
            stemmer: Stemmer::create(Algorithm::English),
            stopwords,
        }
    }

    /// The process-wide tokeniser.
    pub fn shared() -> &'static Tokeniser {
        static SHARED: OnceLock<Tokeniser> = OnceLock::new();
        SHARED.get_or_init(Tokeniser::new)
    }

    pub fn is_stopword(&self, lower: &str) -> bool {
        self.stopwords.contains(lower)
    }

    /// Stem one already-lowercased word.
    pub fn stem_word(&self, lower: &str) -> String {
        let mut out = String::new();
        self.push_stem(lower, &mut out);
        out
    }

    fn push_stem(&self, lower: &str, out: &mut String) {
        STEM_CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(stem) = cache.get(lower) {
                out.push_str(stem);
                return;
            }
            let stem = self.stemmer.stem(lower).into_owned();
            out.push_str(&stem);
            if cache.len() >= STEM_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(lower.to_owned(), stem);
        });
    }

    /// Tokenise `text`. Never panics; offsets always slice `text` at char
    /// boundaries. Texts over 4 GiB are not supported (offsets are `u32`).
    pub fn tokenise(&self, text: &str) -> TokenizedText {
        let mut out = TokenizedText {
            tokens: Vec::with_capacity(text.len() / 5 + 1),
            lower_arena: String::with_capacity(text.len()),
            stem_arena: String::with_capacity(text.len()),
        };
        let mut sentence = 0u32;
        let mut clause = 0u32;
        let mut pending_sentence_break = false;
        let mut pending_clause_break = false;
        let mut char_pos = 0u32;
        for (byte_start, segment) in text.split_word_bound_indices() {
            let seg_chars = segment.chars().count() as u32;
            let is_word = segment.chars().any(char::is_alphanumeric);
            if !is_word {
                for c in segment.chars() {
                    match c {
                        '.' | '!' | '?' | '…' | '\n' | '\u{2029}' | '。' => {
                            pending_sentence_break = true
                        }
                        ',' | ';' | ':' | '(' | ')' | '[' | ']' | '–' | '—' => {
                            pending_clause_break = true
                        }
                        _ => {}
                    }
                }
                char_pos += seg_chars;
                continue;
            }
            let lower_start = out.lower_arena.len() as u32;
            push_lower_folded(segment, &mut out.lower_arena);
            let lower_end = out.lower_arena.len() as u32;
            let lower = &out.lower_arena[lower_start as usize..lower_end as usize];
            if CLAUSE_OPENERS.contains(&lower) {
                pending_clause_break = true;
            }
            if !out.tokens.is_empty() {
                if pending_sentence_break {
                    sentence += 1;
                    clause += 1;
                } else if pending_clause_break {
                    clause += 1;
                }
            }
            pending_sentence_break = false;
            pending_clause_break = false;
            let is_stopword = self.stopwords.contains(lower);
            let stem_start = out.stem_arena.len() as u32;
            self.push_stem(lower, &mut out.stem_arena);
            let stem_end = out.stem_arena.len() as u32;
            out.tokens.push(Token {
                byte_start: byte_start as u32,
                byte_end: (byte_start + segment.len()) as u32,
                char_start: char_pos,
                char_end: char_pos + seg_chars,
                sentence,
                clause,
                is_stopword,
                lower: (lower_start, lower_end),
                stem: (stem_start, stem_end),
            });
            char_pos += seg_chars;
        }
        out
    }
}

/// Words that open a new clause: a contrast ends the reach of a negation
/// ("not about money but about love").
const CLAUSE_OPENERS: &[&str] = &["but", "however", "although", "though", "whereas", "instead"];

/// Lowercase `word` into `out`, folding typographic apostrophes to `'` so
/// "children’s" and "children's" are the same token.
fn push_lower_folded(word: &str, out: &mut String) {
    if word.is_ascii() {
        out.extend(word.bytes().map(|b| b.to_ascii_lowercase() as char));
        return;
    }
    for c in word.chars() {
        match c {
            '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{FF07}' => out.push('\''),
            c => out.extend(c.to_lowercase()),
        }
    }
}

/// Convert a char offset range to a byte range in `text`, for evidence that is
/// given in chars. Returns `None` when the range is out of bounds.
pub fn char_range_to_bytes(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    if start > end {
        return None;
    }
    let mut indices = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()));
    let b_start = indices.by_ref().nth(start)?;
    if start == end {
        return Some((b_start, b_start));
    }
    let b_end = indices.nth(end - start - 1)?;
    Some((b_start, b_end))
}

/// Slice `text` by a char (Unicode scalar) range.
pub fn slice_chars(text: &str, start: usize, end: usize) -> Option<&str> {
    char_range_to_bytes(text, start, end).map(|(a, b)| &text[a..b])
}

/// Count chars in `text[..byte]`; `byte` must be a char boundary.
pub fn byte_to_char(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_stems_offsets_and_sentences() {
        let t = Tokeniser::shared();
        let text = "Fostering children’s homes. Not the money, but love!";
        let toks = t.tokenise(text);
        let lowers: Vec<_> = (0..toks.len()).map(|i| toks.lower(i)).collect();
        assert_eq!(
            lowers,
            [
                "fostering",
                "children's",
                "homes",
                "not",
                "the",
                "money",
                "but",
                "love"
            ]
        );
        assert_eq!(toks.stem(0), "foster");
        assert_eq!(toks.stem(2), "home");
        let sentences: Vec<_> = toks.tokens().iter().map(|t| t.sentence).collect();
        assert_eq!(sentences, [0, 0, 0, 1, 1, 1, 1, 1]);
        let clauses: Vec<_> = toks.tokens().iter().map(|t| t.clause).collect();
        assert_eq!(clauses, [0, 0, 0, 1, 1, 1, 2, 2]);
        let tok = toks.tokens()[1];
        assert_eq!(
            slice_chars(text, tok.char_start as usize, tok.char_end as usize),
            Some("children’s")
        );
        assert!(toks.tokens()[4].is_stopword);
    }

    #[test]
    fn char_ranges_round_trip() {
        let text = "é😀ab";
        assert_eq!(slice_chars(text, 1, 3), Some("😀a"));
        assert_eq!(slice_chars(text, 0, 4), Some(text));
        assert_eq!(slice_chars(text, 4, 4), Some(""));
        assert_eq!(slice_chars(text, 3, 5), None);
    }
}
