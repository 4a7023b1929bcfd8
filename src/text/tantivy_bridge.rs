//! How [`TokenizedText`] becomes tantivy terms. Each word is indexed twice at
//! the same position: its stem (`foster`) for ordinary words and phrases, and
//! its lowercased surface form behind a `=` (`=fostering`) for exact items and
//! prefix wildcards.
//!
//! The pipeline tokenises each answer once, for coding, and hands tantivy the
//! resulting terms as a compact *term wire* string ([`encode_terms`]): per
//! word, `stem US surface RS`, with a GS before a word that follows a full
//! stop ([`super::Token::after_stop`]): its position skips one, so a phrase
//! query does not match across a full stop, as a codebook phrase does not.
//! The `thematic-terms` tokenizer
//! ([`TermWireTokenizer`]) only splits that string, reusing one token buffer,
//! so indexing re-does no segmentation, lowercasing or stemming. The
//! `thematic` tokenizer ([`ThematicTokenizer`]) takes raw text through the
//! same two functions, so both give identical terms.

use tantivy::tokenizer::{Token as TantivyToken, TokenStream, Tokenizer};

use super::{Tokeniser, TokenizedText};

/// The tokenizer for raw text, registered in every thematic index.
pub const TANTIVY_TOKENIZER_NAME: &str = "thematic";
/// The tokenizer for term wire strings (the indexed `body` field).
pub const TERM_WIRE_TOKENIZER_NAME: &str = "thematic-terms";

/// Prefix that marks a surface-form term in the index.
pub const SURFACE_MARK: char = '=';

/// Separates a word's stem from its surface form on the wire.
const UNIT_SEP: u8 = 0x1f;
/// Ends a word on the wire.
const RECORD_SEP: u8 = 0x1e;
/// Before a word that follows a full stop: its position skips one.
const STOP_SEP: u8 = 0x1d;

/// The term wire string of a tokenised text. Words never contain control
/// characters (UAX #29 breaks on them), so the separators are unambiguous.
pub fn encode_terms(tokens: &TokenizedText) -> String {
    let mut wire = String::with_capacity(tokens.len() * 16);
    for (i, token) in tokens.tokens().iter().enumerate() {
        if token.after_stop {
            wire.push(char::from(STOP_SEP));
        }
        wire.push_str(tokens.stem(i));
        wire.push(char::from(UNIT_SEP));
        wire.push_str(tokens.lower(i));
        wire.push(char::from(RECORD_SEP));
    }
    wire
}

/// Streams the terms of a wire string: stem, then `=surface`, per position.
pub struct TermStream<S> {
    wire: S,
    at: usize,
    position: usize,
    surface_next: bool,
    token: TantivyToken,
}

impl<S: AsRef<str>> TermStream<S> {
    pub fn new(wire: S) -> Self {
        TermStream {
            wire,
            at: 0,
            position: 0,
            surface_next: false,
            token: TantivyToken::default(),
        }
    }
}

impl<S: AsRef<str>> TokenStream for TermStream<S> {
    fn advance(&mut self) -> bool {
        let wire = self.wire.as_ref();
        let bytes = wire.as_bytes();
        if self.at >= bytes.len() {
            return false;
        }
        if !self.surface_next && bytes[self.at] == STOP_SEP {
            self.at += 1;
            self.position += 1;
            if self.at >= bytes.len() {
                return false;
            }
        }
        let sep = if self.surface_next {
            RECORD_SEP
        } else {
            UNIT_SEP
        };
        // Terms average five bytes: a plain byte loop costs a third of what
        // `str::find(char)` does with memchr's set-up on every call. The
        // separators are ASCII, so the cut is on a char boundary.
        let len = bytes[self.at..]
            .iter()
            .position(|&b| b == sep)
            .unwrap_or(bytes.len() - self.at);
        let term = &wire[self.at..self.at + len];
        self.token.text.clear();
        if self.surface_next {
            self.token.text.push(SURFACE_MARK);
        }
        self.token.text.push_str(term);
        self.token.position = self.position;
        self.token.position_length = 1;
        self.token.offset_from = self.at;
        self.token.offset_to = self.at + len;
        self.at += len + 1;
        if self.surface_next {
            self.position += 1;
        }
        self.surface_next = !self.surface_next;
        true
    }

    fn token(&self) -> &TantivyToken {
        &self.token
    }

    fn token_mut(&mut self) -> &mut TantivyToken {
        &mut self.token
    }
}

/// Splits term wire strings; see the module doc.
#[derive(Clone, Default)]
pub struct TermWireTokenizer;

impl Tokenizer for TermWireTokenizer {
    type TokenStream<'a> = TermStream<&'a str>;

    fn token_stream<'a>(&'a mut self, wire: &'a str) -> TermStream<&'a str> {
        TermStream::new(wire)
    }
}

/// The tantivy face of [`Tokeniser`] for raw text.
#[derive(Clone, Default)]
pub struct ThematicTokenizer;

impl Tokenizer for ThematicTokenizer {
    type TokenStream<'a> = TermStream<String>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> TermStream<String> {
        TermStream::new(encode_terms(&Tokeniser::shared().tokenise(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(mut stream: impl TokenStream) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        while stream.advance() {
            out.push((stream.token().position, stream.token().text.clone()));
        }
        out
    }

    #[test]
    fn raw_text_and_wire_give_the_same_terms() {
        let text = "Fostering children’s homes, 3,000 times!";
        let wire = encode_terms(&Tokeniser::shared().tokenise(text));
        let via_wire = terms(TermWireTokenizer.token_stream(&wire));
        let via_text = terms(ThematicTokenizer.token_stream(text));
        assert_eq!(via_wire, via_text);
        assert_eq!(
            via_wire[..4],
            [
                (0, "foster".to_owned()),
                (0, "=fostering".to_owned()),
                (1, "children".to_owned()),
                (1, "=children's".to_owned())
            ]
        );
        // "3,000" is one word (UAX #29 joins digits across a comma).
        assert_eq!(via_wire.last(), Some(&(4, "=times".to_owned())));
        // A full stop skips a position; a line break does not.
        let stops = terms(ThematicTokenizer.token_stream("Leaving. Care staff\nwere kind"));
        let positions: Vec<usize> = stops.iter().step_by(2).map(|t| t.0).collect();
        assert_eq!(positions, [0, 2, 3, 4, 5]);
        assert!(terms(TermWireTokenizer.token_stream("")).is_empty());
    }

    proptest::proptest! {
        /// Every word comes back off the wire as its stem, then its
        /// `=surface`, at its own position (its index plus the full stops
        /// before it), whatever the script.
        #[test]
        fn the_wire_gives_back_every_stem_and_surface(text in "[a-zA-Zé日本 ,.!?…\n'’0-9ßΣς\\-]{0,80}") {
            let tokens = Tokeniser::shared().tokenise(&text);
            let wire = encode_terms(&tokens);
            let stops_up_to =
                |i: usize| tokens.tokens()[..=i].iter().filter(|t| t.after_stop).count();
            let expected: Vec<(usize, String)> = (0..tokens.len())
                .flat_map(|i| {
                    let position = i + stops_up_to(i);
                    [
                        (position, tokens.stem(i).to_owned()),
                        (position, format!("{SURFACE_MARK}{}", tokens.lower(i))),
                    ]
                })
                .collect();
            proptest::prop_assert_eq!(terms(TermWireTokenizer.token_stream(&wire)), expected);
        }
    }
}
