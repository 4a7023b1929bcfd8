//! The one tokeniser. Every stage that looks at words — the tantivy index, the
//! codebook matcher, the search query parser, snippets and term statistics —
//! goes through [`Tokeniser::tokenise`], so a word means the same thing
//! everywhere.
//!
//! A token is a Unicode word (UAX #29 word boundaries, at least one
//! alphanumeric character), NFC-normalised and lowercased, with curly
//! apostrophes folded to `'`,
//! stemmed with the Snowball English stemmer, numbered by sentence and clause,
//! and located in the original text by byte *and* char (Unicode scalar)
//! offsets. Stopwords are kept in the stream and only marked, so phrases such
//! as "duty of care" match exactly.

mod tantivy_bridge;

pub use tantivy_bridge::{
    TANTIVY_TOKENIZER_NAME, TERM_WIRE_TOKENIZER_NAME, TermWireTokenizer, ThematicTokenizer,
    encode_terms,
};

use hashbrown::HashTable;
use rustc_hash::FxHashSet;
use std::cell::RefCell;
use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
use unicode_segmentation::UnicodeSegmentation;

/// The bundled English stopword list (`stopwords/en.txt`).
const STOPWORDS_EN: &str = include_str!("../../stopwords/en.txt");

/// What the stem cache tells about one word.
struct WordFacts {
    /// The word's number in this thread's vocabulary, or [`NO_WORD`].
    word: u32,
    /// The stem is the word itself, and was not copied to the stem arena.
    stem_is_word: bool,
    is_stopword: bool,
    stem_is_alphabetic: bool,
    opens_clause: bool,
    lower_hash: u64,
    stem_hash: u64,
}

const _: () = assert!(std::mem::size_of::<CachedWord>() == 64);

/// Stem-cache entries kept per thread before the cache is cleared; bounds memory
/// on corpora with an open vocabulary.
const STEM_CACHE_LIMIT: usize = 200_000;

/// Bytes of word and stem a cache entry holds inline (the stem only when
/// it differs from the word); a longer word is stemmed afresh each time
/// (rare, and keeps every entry one aligned cache line with no pointer to
/// chase).
const CACHED_BYTES: usize = 36;

/// What the per-thread cache knows about a lowercased word: 64 bytes,
/// aligned to 64, so a probe that reaches it reads one cache line.
#[repr(align(64))]
struct CachedWord {
    /// Its number: entries are numbered in insertion order from 0.
    id: u32,
    lower_hash: u64,
    stem_hash: u64,
    /// The word, then its stem unless `stem_is_word`.
    bytes: [u8; CACHED_BYTES],
    word_len: u8,
    stem_len: u8,
    is_stopword: bool,
    stem_is_alphabetic: bool,
    opens_clause: bool,
    stem_is_word: bool,
}

impl CachedWord {
    fn word(&self) -> &[u8] {
        &self.bytes[..self.word_len as usize]
    }

    fn stem(&self) -> &[u8] {
        let start = self.word_len as usize;
        &self.bytes[start..start + self.stem_len as usize]
    }
}

/// The hash of a word (or stem) that tokens carry, so the matcher, term
/// statistics and campaign signatures look words up without hashing them
/// again: FxHash over the bytes.
pub fn word_hash(word: &str) -> u64 {
    word_hash_bytes(word.as_bytes())
}

fn word_hash_bytes(word: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(word);
    h.finish()
}

/// Byte equality of two words, inlined for the short strings words are:
/// comparing by hash-table probes would otherwise call `memcmp` once per
/// token.
#[inline]
pub fn same_word(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // Two overlapping loads cover 4..=8 and 8..=16 bytes.
    fn load8(s: &[u8], at: usize) -> u64 {
        s.get(at..at + 8)
            .and_then(|w| w.first_chunk::<8>())
            .map_or(0, |w| u64::from_le_bytes(*w))
    }
    fn load4(s: &[u8], at: usize) -> u32 {
        s.get(at..at + 4)
            .and_then(|w| w.first_chunk::<4>())
            .map_or(0, |w| u32::from_le_bytes(*w))
    }
    match n {
        0 => true,
        // Bytes 0, n/2 and n-1 cover every byte of one to three (and a
        // slice compare would call memcmp).
        1..4 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..8 => load4(a, 0) == load4(b, 0) && load4(a, n - 4) == load4(b, n - 4),
        8..=16 => load8(a, 0) == load8(b, 0) && load8(a, n - 8) == load8(b, n - 8),
        _ => a == b,
    }
}

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
    /// A full stop, `!`, `?`, `…` or `。` lies between this word and the
    /// one before. Sentences also end at line breaks (for quotes), but a
    /// codebook phrase and a phrase search run across a line break — answers
    /// are often hard-wrapped — and not across these.
    pub after_stop: bool,
    pub is_stopword: bool,
    /// Every char of the stem is alphabetic (no digits, `'` or `_`).
    pub stem_is_alphabetic: bool,
    /// The word's number (see [`TokenizedText::word_id`]).
    word: u32,
    lower: (u32, u32),
    /// The stem's range, in the lower arena when it is the word itself
    /// (no copy: most short words are their own stem).
    stem_in_lower: bool,
    stem: (u32, u32),
    /// [`word_hash`] of the lowercased form and of the stem.
    lower_hash: u64,
    stem_hash: u64,
}

// A token is one cache line: a new field must fit the padding, or be worth
// a second line for every word in flight.
const _: () = assert!(std::mem::size_of::<Token>() == 64);

/// The tokens of one text, with their lowercased and stemmed forms held in two
/// arenas so tokenising allocates a handful of buffers, not one per word.
#[derive(Clone, Debug, Default)]
pub struct TokenizedText {
    tokens: Vec<Token>,
    lower_arena: String,
    stem_arena: String,
    vocabulary: u64,
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
        let token = &self.tokens[i];
        let (a, b) = token.stem;
        let arena = if token.stem_in_lower {
            &self.lower_arena
        } else {
            &self.stem_arena
        };
        &arena[a as usize..b as usize]
    }

    /// [`word_hash`] of `lower(i)`, computed once per distinct word.
    pub fn lower_hash(&self, i: usize) -> u64 {
        self.tokens[i].lower_hash
    }

    /// [`word_hash`] of `stem(i)`, computed once per distinct word.
    pub fn stem_hash(&self, i: usize) -> u64 {
        self.tokens[i].stem_hash
    }

    /// The vocabulary the word numbers belong to: the tokenising thread's
    /// stem cache at the time (see [`current_vocabulary`]); 0 for none.
    pub fn vocabulary(&self) -> u64 {
        self.vocabulary
    }

    /// Token `i`'s word number: equal numbers within one vocabulary are
    /// equal lowercased words, numbered densely from 0. [`NO_WORD`] for a
    /// word the cache does not hold (over [`CACHED_BYTES`] with its stem).
    pub fn word_id(&self, i: usize) -> u32 {
        self.tokens.get(i).map_or(NO_WORD, |t| t.word)
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
    stopwords: FxHashSet<String>,
}

/// A word without a number (too long for the cache; see
/// [`TokenizedText::word_id`]).
pub const NO_WORD: u32 = u32::MAX;

/// The source of vocabulary numbers: unique across threads and clears, so a
/// number names one thread's numbering of words between two clears.
static NEXT_VOCABULARY: AtomicU64 = AtomicU64::new(1);

/// The per-thread stem cache, which also numbers the words it holds: a
/// *vocabulary*. Consumers that memoise per word (the matcher) index by
/// those numbers instead of hashing the word again.
struct StemCache {
    words: HashTable<CachedWord>,
    /// 0 until first asked for, and again after a clear.
    vocabulary: u64,
}

impl StemCache {
    const fn new() -> Self {
        StemCache {
            words: HashTable::new(),
            vocabulary: 0,
        }
    }

    fn vocabulary(&mut self) -> u64 {
        if self.vocabulary == 0 {
            self.vocabulary = NEXT_VOCABULARY.fetch_add(1, Ordering::Relaxed);
        }
        self.vocabulary
    }

    /// Clear a full cache, between texts only: a text's words are numbered
    /// in one vocabulary. (So the cache may pass its limit by one text.)
    fn make_room(&mut self) {
        if self.words.len() >= STEM_CACHE_LIMIT {
            self.words.clear();
            self.vocabulary = 0;
        }
    }
}

thread_local! {
    static STEM_CACHE: RefCell<StemCache> = const { RefCell::new(StemCache::new()) };
}

/// The calling thread's current vocabulary (0 if none): word numbers of a
/// [`TokenizedText`] whose [`TokenizedText::vocabulary`] equals it are
/// valid here and now.
pub fn current_vocabulary() -> u64 {
    STEM_CACHE.with(|cache| cache.try_borrow().map_or(0, |c| c.vocabulary))
}

/// Sentence and clause numbering while a text is walked.
#[derive(Default)]
struct Boundaries {
    sentence: u32,
    clause: u32,
    pending_sentence: bool,
    pending_clause: bool,
    pending_stop: bool,
}

impl Boundaries {
    /// Note the punctuation in a stretch between two words.
    fn gap(&mut self, gap: &str) {
        // Bytes are chars in ASCII, without decoding UTF-8.
        if gap.is_ascii() {
            gap.bytes().for_each(|b| self.punctuation(char::from(b)));
        } else {
            gap.chars().for_each(|c| self.punctuation(c));
        }
    }

    /// Note punctuation given as [`ENDS_SENTENCE`], [`ENDS_CLAUSE`] and [`ENDS_PHRASE`]
    /// flags (from [`ends_of`], or an ASCII byte's [`ASCII_FLAGS`]).
    #[inline(always)]
    fn note_ends(&mut self, flags: u16) {
        self.pending_sentence |= flags & ENDS_SENTENCE != 0;
        self.pending_clause |= flags & ENDS_CLAUSE != 0;
        self.pending_stop |= flags & ENDS_PHRASE != 0;
    }

    fn punctuation(&mut self, c: char) {
        self.note_ends(ends_of(c));
    }

    /// Numbers for the next word, and whether a stop precedes it
    /// ([`Token::after_stop`]); `opens_clause` for "but", "however", …
    fn next_word(&mut self, first: bool, opens_clause: bool) -> (u32, u32, bool) {
        let after_stop = self.pending_stop && !first;
        if !first {
            if self.pending_sentence {
                self.sentence += 1;
                self.clause += 1;
            } else if self.pending_clause || opens_clause {
                self.clause += 1;
            }
        }
        self.pending_sentence = false;
        self.pending_clause = false;
        self.pending_stop = false;
        (self.sentence, self.clause, after_stop)
    }
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
            cache.make_room();
            if self
                .push_stem_cached(&mut cache, lower.as_bytes(), out)
                .stem_is_word
            {
                out.push_str(lower);
            }
        });
    }

    /// Append the stem of `lower` to `out` unless it is `lower` itself
    /// ([`WordFacts::stem_is_word`]); returns what the cache knows of the
    /// word (stopword, clause opener, hashes). One cache look-up per
    /// token answers all of them.
    #[inline(always)]
    fn push_stem_cached(&self, cache: &mut StemCache, lower: &[u8], out: &mut String) -> WordFacts {
        let lower_hash = word_hash_bytes(lower);
        if let Some(word) = cache.words.find(lower_hash, |w| {
            w.lower_hash == lower_hash && same_bytes(w.word(), lower)
        }) {
            if !word.stem_is_word {
                let (from, len) = (word.word_len as usize, word.stem_len as usize);
                match word.bytes.get(from..from + 16) {
                    // A fixed 16-byte copy cut back (see `push_short`).
                    Some(window) if len <= 16 => {
                        // SAFETY: the window is the stem, a whole `&str`
                        // copied in by the insert below, then zero bytes
                        // (the entry's bytes start zeroed): valid UTF-8.
                        push_cut(out, unsafe { std::str::from_utf8_unchecked(window) }, len);
                    }
                    // SAFETY: `stem()` is a whole `&str` copied in by the insert below.
                    _ => out.push_str(unsafe { std::str::from_utf8_unchecked(word.stem()) }),
                }
            }
            return WordFacts {
                word: word.id,
                stem_is_word: word.stem_is_word,
                is_stopword: word.is_stopword,
                stem_is_alphabetic: word.stem_is_alphabetic,
                opens_clause: word.opens_clause,
                lower_hash,
                stem_hash: word.stem_hash,
            };
        }
        self.stem_and_cache(cache, lower, lower_hash, out)
    }

    /// The cache's miss path: stem `lower`, learn its facts, keep them.
    /// Out of line, so the hit path stays small where it is inlined.
    #[cold]
    #[inline(never)]
    fn stem_and_cache(
        &self,
        cache: &mut StemCache,
        lower: &[u8],
        lower_hash: u64,
        out: &mut String,
    ) -> WordFacts {
        // `lower` is always a whole `&str` (the hit path takes bytes only to
        // spare the char-boundary checks of slicing one).
        let lower = String::from_utf8_lossy(lower);
        let lower = &*lower;
        let stem = self.stemmer.stem(lower);
        let stem_is_word = *stem == *lower;
        if !stem_is_word {
            out.push_str(&stem);
        }
        let mut facts = WordFacts {
            word: NO_WORD,
            stem_is_word,
            is_stopword: self.stopwords.contains(lower),
            stem_is_alphabetic: stem.chars().all(char::is_alphabetic),
            opens_clause: CLAUSE_OPENERS.contains(&lower),
            lower_hash,
            stem_hash: word_hash(&stem),
        };
        let word_len = lower.len();
        let stem_len = if stem_is_word { 0 } else { stem.len() };
        if word_len + stem_len > CACHED_BYTES {
            return facts;
        }
        facts.word = cache.words.len() as u32;
        let mut bytes = [0; CACHED_BYTES];
        bytes[..word_len].copy_from_slice(lower.as_bytes());
        if !stem_is_word {
            bytes[word_len..word_len + stem_len].copy_from_slice(stem.as_bytes());
        }
        cache.words.insert_unique(
            lower_hash,
            CachedWord {
                id: facts.word,
                lower_hash,
                stem_hash: facts.stem_hash,
                bytes,
                word_len: word_len as u8,
                stem_len: stem_len as u8,
                is_stopword: facts.is_stopword,
                stem_is_alphabetic: facts.stem_is_alphabetic,
                opens_clause: facts.opens_clause,
                stem_is_word,
            },
            |w| w.lower_hash,
        );
        facts
    }

    /// Tokenise `text`. Never panics; offsets always slice `text` at char
    /// boundaries. Texts over 4 GiB are not supported (offsets are `u32`).
    pub fn tokenise(&self, text: &str) -> TokenizedText {
        let mut out = TokenizedText {
            tokens: Vec::with_capacity(text.len() / 5 + 1),
            // Room for the last word's 16-byte window too (`push_short`).
            lower_arena: String::with_capacity(text.len() + 16),
            stem_arena: String::with_capacity(text.len() + 16),
            vocabulary: 0,
        };
        STEM_CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            cache.make_room();
            out.vocabulary = cache.vocabulary();
            let mut b = Boundaries::default();
            let mut last = 0;
            let mut char_pos = 0u32;
            for (piece, ascii) in pieces(text) {
                let base = piece.start;
                let piece = &text[piece];
                if ascii {
                    // ASCII: char offsets advance with bytes. What lies
                    // between the previous piece's last word and this
                    // piece is noted first; inside the piece the walker
                    // reports punctuation as it passes it.
                    b.gap(&text[last..base]);
                    let after = walk_ascii(piece.as_bytes(), |word| {
                        if word.before != 0 {
                            b.note_ends(word.before);
                        }
                        self.push_ascii_word(
                            &mut out, &mut cache, &mut b, piece, &word, base, char_pos,
                        );
                    });
                    b.note_ends(after);
                    last = base + piece.len();
                    char_pos += piece.len() as u32;
                } else {
                    for (start, segment) in piece.split_word_bound_indices() {
                        let chars = segment.chars().count() as u32;
                        if segment.chars().any(char::is_alphanumeric) {
                            let (start, end) = (base + start, base + start + segment.len());
                            b.gap(&text[last..start]);
                            self.push_word(
                                &mut out,
                                &mut cache,
                                &mut b,
                                text,
                                start,
                                end,
                                char_pos,
                                segment.is_ascii(),
                            );
                            last = end;
                        }
                        char_pos += chars;
                    }
                }
            }
        });
        out
    }

    /// [`Tokeniser::push_word`] for an ASCII word at byte `start` (and char
    /// `char_start`): lowercased in place, char offsets from byte offsets.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn push_ascii_word(
        &self,
        out: &mut TokenizedText,
        cache: &mut StemCache,
        b: &mut Boundaries,
        piece: &str,
        word: &AsciiWord,
        base: usize,
        char_base: u32,
    ) {
        let (start, char_start) = (base + word.start, char_base + word.start as u32);
        let has_upper = word.has_upper;
        let lower_start = out.lower_arena.len() as u32;
        push_short(&mut out.lower_arena, piece, word.start, word.end);
        if has_upper {
            out.lower_arena[lower_start as usize..].make_ascii_lowercase();
        }
        let len = (word.end - word.start) as u32;
        self.finish_word(
            out,
            cache,
            b,
            lower_start,
            (start as u32, start as u32 + len),
            (char_start, char_start + len),
        );
    }

    /// The rest of a word once its lowercase form ends the lower arena
    /// (from `lower_start`): its stem and facts from the cache, its
    /// sentence and clause, its token.
    #[inline(always)]
    fn finish_word(
        &self,
        out: &mut TokenizedText,
        cache: &mut StemCache,
        b: &mut Boundaries,
        lower_start: u32,
        (byte_start, byte_end): (u32, u32),
        (char_start, char_end): (u32, u32),
    ) {
        let lower_end = out.lower_arena.len() as u32;
        let lower = &out.lower_arena.as_bytes()[lower_start as usize..lower_end as usize];
        let stem_start = out.stem_arena.len() as u32;
        let facts = self.push_stem_cached(cache, lower, &mut out.stem_arena);
        let (sentence, clause, after_stop) = b.next_word(out.tokens.is_empty(), facts.opens_clause);
        let stem_end = out.stem_arena.len() as u32;
        out.tokens.push(Token {
            byte_start,
            byte_end,
            char_start,
            char_end,
            sentence,
            clause,
            after_stop,
            is_stopword: facts.is_stopword,
            stem_is_alphabetic: facts.stem_is_alphabetic,
            word: facts.word,
            lower: (lower_start, lower_end),
            stem_in_lower: facts.stem_is_word,
            stem: if facts.stem_is_word {
                (lower_start, lower_end)
            } else {
                (stem_start, stem_end)
            },
            lower_hash: facts.lower_hash,
            stem_hash: facts.stem_hash,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn push_word(
        &self,
        out: &mut TokenizedText,
        cache: &mut StemCache,
        b: &mut Boundaries,
        text: &str,
        start: usize,
        end: usize,
        char_start: u32,
        ascii: bool,
    ) {
        let segment = &text[start..end];
        let lower_start = out.lower_arena.len() as u32;
        if ascii {
            out.lower_arena.push_str(segment);
            out.lower_arena[lower_start as usize..].make_ascii_lowercase();
        } else {
            push_lower_folded(segment, &mut out.lower_arena);
        }
        let chars = if ascii {
            segment.len()
        } else {
            segment.chars().count()
        } as u32;
        self.finish_word(
            out,
            cache,
            b,
            lower_start,
            (start as u32, end as u32),
            (char_start, char_start + chars),
        );
    }
}

/// What an ASCII byte is to the word scanner and to sentence numbering: a
/// set of the flags below, one table look-up per byte.
static ASCII_FLAGS: [u16; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = ascii_flags_of(b as u8);
        b += 1;
    }
    table
};

const LETTER: u16 = 1;
const DIGIT: u16 = 2;
const UNDERSCORE: u16 = 4;
/// Letters, digits and `_` join into words.
const WORD: u16 = LETTER | DIGIT | UNDERSCORE;
/// `:` joins letters (UAX #29 MidLetter).
const MID_LETTER: u16 = 8;
/// `.` and `'` join letters or digits (MidNumLetQ).
const MID_NUM_LET: u16 = 16;
/// `,` and `;` join digits (MidNum).
const MID_NUM: u16 = 32;
/// Between words, ends a sentence ([`Boundaries::punctuation`]).
const ENDS_SENTENCE: u16 = 64;
/// Between words, ends a clause.
const ENDS_CLAUSE: u16 = 128;
/// Between words, a full stop or the like: ends a phrase
/// ([`Token::after_stop`]) as well as the sentence.
const ENDS_PHRASE: u16 = 512;
/// An uppercase letter: a word without one is its own lowercase.
const UPPER: u16 = 256;

const fn ascii_flags_of(b: u8) -> u16 {
    let class = match b {
        b'a'..=b'z' => LETTER,
        b'A'..=b'Z' => LETTER | UPPER,
        b'0'..=b'9' => DIGIT,
        b'_' => UNDERSCORE,
        b':' => MID_LETTER,
        b'.' | b'\'' => MID_NUM_LET,
        b',' | b';' => MID_NUM,
        _ => 0,
    };
    class | ends_of(b as char)
}

/// What a punctuation mark between two words ends: [`ENDS_SENTENCE`] (with
/// [`ENDS_PHRASE`] unless it is a line break), [`ENDS_CLAUSE`] or nothing.
/// One list for the ASCII table and the
/// general path.
const fn ends_of(c: char) -> u16 {
    match c {
        '.' | '!' | '?' | '…' | '。' => ENDS_SENTENCE | ENDS_PHRASE,
        '\n' | '\u{2029}' => ENDS_SENTENCE,
        ',' | ';' | ':' | '(' | ')' | '[' | ']' | '–' | '—' => ENDS_CLAUSE,
        _ => 0,
    }
}

/// How many bytes `bytes` starts with that are lowercase ASCII letters,
/// counted eight at a time while eight remain (the rest is left to the
/// caller's byte loop). Not for fewer instructions but fewer mispredicted
/// branches: a byte loop's exit is mispredicted at the end of nearly every
/// word, as word lengths vary, and that was the tokeniser's costliest
/// branch (cachegrind's branch simulation).
#[inline(always)]
fn lowercase_run(bytes: &[u8]) -> usize {
    leading_run_by_eight(bytes, |x| {
        // High bit set in each byte below `a` (borrows can set it in later
        // bytes too, so only the lowest set byte is exact) …
        let below = x.wrapping_sub(ONES * u64::from(b'a')) & !x & HIGH;
        // … and in each byte above `z` (or not ASCII): exact, no carries.
        let above = (x.wrapping_add(ONES * u64::from(0x7f - b'z')) | x) & HIGH;
        below | above
    })
}

const ONES: u64 = u64::from_le_bytes([1; 8]);
const HIGH: u64 = ONES * 0x80;

/// How many leading bytes of `bytes` pass a test made eight at a time:
/// `outside` maps eight bytes (little-endian) to a word whose lowest set
/// high bit marks the first byte that fails. Stops when fewer than eight
/// bytes remain; the caller finishes the tail byte by byte.
#[inline(always)]
fn leading_run_by_eight(bytes: &[u8], outside: impl Fn(u64) -> u64) -> usize {
    let mut k = 0;
    while let Some(chunk) = bytes.get(k..).and_then(|rest| rest.first_chunk::<8>()) {
        let failed = outside(u64::from_le_bytes(*chunk));
        if failed != 0 {
            return k + (failed.trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    k
}

/// Append `source[from..to]` to `arena`. A short word is copied as a fixed
/// 16-byte window and cut back, when the window lies within `source` on
/// char boundaries: a variable-length copy calls `memcpy`, whose branches
/// on the length were mispredicted word after word.
#[inline(always)]
fn push_short(arena: &mut String, source: &str, from: usize, to: usize) {
    match source.get(from..from + 16) {
        Some(window) if to - from <= 16 => push_cut(arena, window, to - from),
        _ => arena.push_str(&source[from..to]),
    }
}

/// Append the first `len` bytes of `window` (a char boundary), copying the
/// whole fixed-size window and cutting back.
#[inline(always)]
fn push_cut(arena: &mut String, window: &str, len: usize) {
    let keep = arena.len() + len;
    arena.push_str(window);
    arena.truncate(keep);
}

/// One word found by [`walk_ascii`].
struct AsciiWord {
    start: usize,
    end: usize,
    /// [`ENDS_SENTENCE`], [`ENDS_CLAUSE`] and [`ENDS_PHRASE`] of the punctuation between
    /// this word and the previous one.
    before: u16,
    has_upper: bool,
}

/// Walk an ASCII piece by the UAX #29 rules that apply to ASCII (WB5–WB13b):
/// letters, digits and `_` join; `:` joins letters; `.` and `'` join letters
/// or digits; `,` and `;` join digits. Spans of `_` alone are not words.
/// Calls `word` per word; returns the punctuation flags after the last
/// word. Equal to the general path on ASCII (property-tested).
#[inline(always)]
fn walk_ascii(bytes: &[u8], mut word: impl FnMut(AsciiWord)) -> u16 {
    const PUNCTUATION: u16 = ENDS_SENTENCE | ENDS_CLAUSE | ENDS_PHRASE;
    let n = bytes.len();
    let flags = |b: u8| ASCII_FLAGS[b as usize];
    let mut between = 0;
    let mut i = 0;
    while i < n {
        // The stretch between words: one flag look-up per byte.
        let Some(skip) = bytes[i..].iter().position(|&b| {
            let f = flags(b);
            between |= f;
            f & WORD != 0
        }) else {
            break;
        };
        let start = i + skip;
        let first = flags(bytes[start]);
        // `between` took the first word byte's flags too; none is punctuation.
        let mut seen = first;
        i = start + 1;
        loop {
            i += lowercase_run(&bytes[i..]);
            let run = bytes[i..]
                .iter()
                .position(|&b| {
                    let f = flags(b);
                    seen |= f;
                    f & WORD == 0
                })
                .unwrap_or(n - i);
            i += run;
            if i + 1 >= n {
                break;
            }
            // A middle character joins only between two letters or two
            // digits; most words end at a space, which joins nothing.
            let mid = flags(bytes[i]);
            if mid & (MID_LETTER | MID_NUM_LET | MID_NUM) == 0 {
                break;
            }
            let (prev, next) = (flags(bytes[i - 1]), flags(bytes[i + 1]));
            let joins = (prev & next & LETTER != 0 && mid & (MID_LETTER | MID_NUM_LET) != 0)
                || (prev & next & DIGIT != 0 && mid & (MID_NUM | MID_NUM_LET) != 0);
            if !joins {
                break;
            }
            seen |= next;
            i += 2;
        }
        if first & UNDERSCORE == 0 || bytes[start..i].iter().any(|&b| b != b'_') {
            word(AsciiWord {
                start,
                end: i,
                before: between & PUNCTUATION,
                has_upper: seen & UPPER != 0,
            });
            between = 0;
        }
    }
    between & PUNCTUATION
}

/// Whether `pieces` may cut before byte `q`: ASCII whitespace before it and
/// an ASCII character other than whitespace at it.
fn is_cut(bytes: &[u8], q: usize) -> bool {
    bytes[q - 1].is_ascii_whitespace() && bytes[q].is_ascii() && !bytes[q].is_ascii_whitespace()
}

/// Split `text` into pieces that UAX #29 word segmentation treats
/// independently, each marked ASCII or not, so that a mostly-ASCII text (a
/// curly apostrophe here and there) takes the ASCII path for all but the
/// stretch around each non-ASCII character.
///
/// A cut is made only between an ASCII whitespace byte and an ASCII
/// character that is not whitespace. UAX #29 always breaks there: no rule
/// joins whitespace to a following letter, digit or punctuation mark (WB4
/// attaches only Extend/Format/ZWJ, never ASCII; WB3d joins only
/// whitespace), and the look-around rules (WB6/7, WB11/12, WB15/16) need a
/// letter, digit or regional indicator where the whitespace is. So each
/// piece segments as it would inside the whole text (property-tested).
fn pieces(text: &str) -> impl Iterator<Item = (Range<usize>, bool)> + '_ {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= n {
            return None;
        }
        let Some(k) = first_non_ascii(&bytes[start..]) else {
            let piece = start..n;
            start = n;
            return Some((piece, true));
        };
        let k = start + k;
        // Everything before `k` is ASCII: end the ASCII piece at the last cut.
        if let Some(cut) = (start + 1..k).rev().find(|&q| is_cut(bytes, q)) {
            let piece = start..cut;
            start = cut;
            return Some((piece, true));
        }
        let end = (k + 1..n).find(|&q| is_cut(bytes, q)).unwrap_or(n);
        let piece = start..end;
        start = end;
        Some((piece, false))
    })
}

/// The offset of the first byte of `bytes` that is not ASCII, read eight
/// bytes at a time: every text is searched so, and byte by byte it was a
/// tenth of the tokeniser's instructions.
fn first_non_ascii(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let high = u64::from_le_bytes(word) & HIGH;
        if high != 0 {
            return Some(at + (high.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|b| !b.is_ascii())
        .map(|k| at + k)
}

/// Words that open a new clause: a contrast ends the reach of a negation
/// ("not about money but about love").
const CLAUSE_OPENERS: &[&str] = &["but", "however", "although", "though", "whereas", "instead"];

/// Lowercase `word` into `out`, folding typographic apostrophes to `'` so
/// "children’s" and "children's" are the same token. A word not in NFC is
/// normalised first: texts are tokenised as written (offsets point into the
/// original), yet "café" typed as `e` + U+0301 is the same word as "café".
fn push_lower_folded(word: &str, out: &mut String) {
    if word.is_ascii() {
        out.extend(word.bytes().map(|b| b.to_ascii_lowercase() as char));
        return;
    }
    if is_nfc_quick(word.chars()) != IsNormalized::Yes {
        let composed: String = word.nfc().collect();
        if composed != word {
            return push_lower_folded(&composed, out);
        }
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

    /// The whole-text UAX #29 path the pieces must agree with.
    /// The tokeniser's tokens as `tokenise_whole_text` gives them: byte and
    /// char ranges, sentence and clause.
    fn token_spans(text: &str) -> Vec<(u32, u32, u32, u32, u32, u32, bool)> {
        Tokeniser::shared()
            .tokenise(text)
            .tokens()
            .iter()
            .map(|k| {
                (
                    k.byte_start,
                    k.byte_end,
                    k.char_start,
                    k.char_end,
                    k.sentence,
                    k.clause,
                    k.after_stop,
                )
            })
            .collect()
    }

    fn tokenise_whole_text(text: &str) -> Vec<(u32, u32, u32, u32, u32, u32, bool)> {
        let mut b = Boundaries::default();
        let mut out = Vec::new();
        let mut char_pos = 0u32;
        for (start, segment) in text.split_word_bound_indices() {
            let chars = segment.chars().count() as u32;
            if segment.chars().any(char::is_alphanumeric) {
                let lower = segment.to_lowercase();
                let opens = CLAUSE_OPENERS.contains(&lower.as_str());
                let (s, c, stop) = b.next_word(out.is_empty(), opens);
                let end = start + segment.len();
                out.push((
                    start as u32,
                    end as u32,
                    char_pos,
                    char_pos + chars,
                    s,
                    c,
                    stop,
                ));
            } else {
                b.gap(segment);
            }
            char_pos += chars;
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn ascii_fast_path_equals_uax29(text in "[a-cA-C0-2_ .,:;'!?\n()-]{0,40}") {
            proptest::prop_assert_eq!(token_spans(&text), tokenise_whole_text(&text));
            // Lowercased only where needed, and then wholly; stems as the
            // stemmer gives them, whether copied or the word itself.
            let toks = Tokeniser::shared().tokenise(&text);
            let stemmer = Stemmer::create(Algorithm::English);
            for (i, t) in toks.tokens().iter().enumerate() {
                let surface = &text[t.byte_start as usize..t.byte_end as usize];
                proptest::prop_assert_eq!(toks.lower(i), surface.to_ascii_lowercase());
                proptest::prop_assert_eq!(toks.stem(i), stemmer.stem(toks.lower(i)));
                proptest::prop_assert_eq!(toks.stem_hash(i), word_hash(toks.stem(i)));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn mixed_text_pieces_equal_whole_text_uax29(
            text in "[a-bA0-1 .,:'\n\t\r_é’\u{301}\u{200d}\u{ad}\u{a0}\u{93e}😀🇬🇧中—-]{0,40}"
        ) {
            proptest::prop_assert_eq!(token_spans(&text), tokenise_whole_text(&text));
            let toks = Tokeniser::shared().tokenise(&text);
            let stemmer = Stemmer::create(Algorithm::English);
            for i in 0..toks.len() {
                proptest::prop_assert_eq!(toks.stem(i), stemmer.stem(toks.lower(i)));
            }
        }
    }

    proptest::proptest! {
        /// Stems as the stemmer gives them, for words that are their own
        /// stem (kept once, in the lower arena), words whose stem differs
        /// in length or only in letters ("cry" → "cri"), and words too long
        /// for the stem cache.
        #[test]
        fn stems_are_the_stemmers(
            words in proptest::collection::vec(proptest::sample::select(&[
                "the", "care", "cares", "Caring", "cry", "happy", "fostering",
                "foster", "children’s", "ÉCOLE", "ies", "y",
                "extraordinarilylongwordthatthestemcachedoesnotholdatall",
            ][..]), 0..30),
        ) {
            let text = words.join(" ");
            let toks = Tokeniser::shared().tokenise(&text);
            let stemmer = Stemmer::create(Algorithm::English);
            proptest::prop_assert_eq!(toks.len(), words.len());
            for i in 0..toks.len() {
                proptest::prop_assert_eq!(toks.stem(i), stemmer.stem(toks.lower(i)));
                proptest::prop_assert_eq!(
                    Tokeniser::shared().stem_word(toks.lower(i)),
                    stemmer.stem(toks.lower(i))
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn lowercase_run_counts_leading_lowercase_letters(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            // Mostly letters, so runs are long enough to cross chunks.
            letters in "[a-z]{0,30}",
        ) {
            let mut input = letters.into_bytes();
            input.extend(bytes);
            let run = lowercase_run(&input);
            let exact = input.iter().take_while(|b| b.is_ascii_lowercase()).count();
            // Exact while eight bytes remain; a shorter tail is left over.
            proptest::prop_assert!(run <= exact && exact - run < 8, "run {} exact {}", run, exact);
            proptest::prop_assert!(run == exact || input.len() - run < 8);
        }

        #[test]
        fn first_non_ascii_is_the_first(text in "[a-c ]{0,20}[a-cé ]{0,20}") {
            let bytes = text.as_bytes();
            proptest::prop_assert_eq!(
                first_non_ascii(bytes),
                bytes.iter().position(|b| !b.is_ascii())
            );
        }

        #[test]
        fn same_word_is_byte_equality(a in "[ab’]{0,20}", b in "[ab’]{0,20}") {
            proptest::prop_assert_eq!(same_word(&a, &b), a == b);
            proptest::prop_assert!(same_word(&a, &a.clone()));
        }
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
