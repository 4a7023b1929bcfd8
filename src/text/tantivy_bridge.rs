//! How [`TokenizedText`] becomes tantivy terms. Each word is indexed twice at
//! the same position: its stem (`foster`) for ordinary words and phrases, and
//! its lowercased surface form behind a `=` (`=fostering`) for exact items and
//! prefix wildcards. Indexing ([`to_tantivy_tokens`], fed to tantivy as a
//! pre-tokenised string so nothing is tokenised twice) and tantivy's own view
//! of the field ([`ThematicTokenizer`], registered under
//! [`TANTIVY_TOKENIZER_NAME`]) are the same function.

use tantivy::tokenizer::{Token as TantivyToken, TokenStream, Tokenizer};

use super::{Tokeniser, TokenizedText};

/// The name the tokenizer is registered under in every thematic index.
pub const TANTIVY_TOKENIZER_NAME: &str = "thematic";

/// Prefix that marks a surface-form term in the index.
pub const SURFACE_MARK: char = '=';

/// The indexed terms of a tokenised text: stem then `=surface`, both at the
/// word's position, with byte offsets into the original text.
pub fn to_tantivy_tokens(tokens: &TokenizedText) -> Vec<TantivyToken> {
    let mut out = Vec::with_capacity(tokens.len() * 2);
    for (position, tok) in tokens.tokens().iter().enumerate() {
        let offset_from = tok.byte_start as usize;
        let offset_to = tok.byte_end as usize;
        out.push(TantivyToken {
            offset_from,
            offset_to,
            position,
            text: tokens.stem(position).to_owned(),
            position_length: 1,
        });
        let lower = tokens.lower(position);
        let mut surface = String::with_capacity(lower.len() + 1);
        surface.push(SURFACE_MARK);
        surface.push_str(lower);
        out.push(TantivyToken {
            offset_from,
            offset_to,
            position,
            text: surface,
            position_length: 1,
        });
    }
    out
}

/// The tantivy face of [`Tokeniser`].
#[derive(Clone, Default)]
pub struct ThematicTokenizer;

pub struct ThematicTokenStream {
    tokens: std::vec::IntoIter<TantivyToken>,
    current: TantivyToken,
}

impl Tokenizer for ThematicTokenizer {
    type TokenStream<'a> = ThematicTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> ThematicTokenStream {
        let tokens = to_tantivy_tokens(&Tokeniser::shared().tokenise(text));
        ThematicTokenStream {
            tokens: tokens.into_iter(),
            current: TantivyToken::default(),
        }
    }
}

impl TokenStream for ThematicTokenStream {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &TantivyToken {
        &self.current
    }

    fn token_mut(&mut self) -> &mut TantivyToken {
        &mut self.current
    }
}
