//! The shared tokeniser: offsets, stems, sentences; never panics.

use proptest::prelude::*;
use thematic::text::{Tokeniser, slice_chars};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every token's byte and char offsets slice the original text to the
    /// token's surface form, for any string.
    #[test]
    fn offsets_slice_to_the_token(text in "\\PC{0,80}|[a-zA-Z’'é😀\u{200B}\u{202E}\u{0301} .,\n-]{0,80}") {
        let toks = Tokeniser::shared().tokenise(&text);
        let mut last_end = 0;
        for (i, t) in toks.tokens().iter().enumerate() {
            let by_bytes = &text[t.byte_start as usize..t.byte_end as usize];
            let by_chars = slice_chars(&text, t.char_start as usize, t.char_end as usize);
            prop_assert_eq!(Some(by_bytes), by_chars);
            prop_assert!(by_bytes.chars().any(char::is_alphanumeric));
            prop_assert!(t.byte_start as usize >= last_end);
            last_end = t.byte_end as usize;
            let folded: String = by_bytes
                .chars()
                .flat_map(char::to_lowercase)
                .map(|c| if matches!(c, '’' | '‘' | 'ʼ' | '＇') { '\'' } else { c })
                .collect();
            prop_assert_eq!(folded.as_str(), toks.lower(i));
            prop_assert!(!toks.stem(i).is_empty());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let toks = Tokeniser::shared().tokenise(&text);
        for t in toks.tokens() {
            prop_assert!(text.is_char_boundary(t.byte_start as usize));
            prop_assert!(text.is_char_boundary(t.byte_end as usize));
        }
    }
}

#[test]
fn stems_possessives_and_curly_apostrophes_alike() {
    let t = Tokeniser::shared();
    let a = t.tokenise("children’s homes");
    let b = t.tokenise("children's home");
    assert_eq!(a.stem(0), b.stem(0));
    assert_eq!(a.stem(1), b.stem(1));
    assert_eq!(a.lower(0), "children's");
}

#[test]
fn sentences_and_clauses_are_numbered() {
    let toks = Tokeniser::shared().tokenise("One two. Three, four but five\nsix");
    let s: Vec<u32> = toks.tokens().iter().map(|t| t.sentence).collect();
    let c: Vec<u32> = toks.tokens().iter().map(|t| t.clause).collect();
    assert_eq!(s, [0, 0, 1, 1, 1, 1, 2]);
    assert_eq!(c, [0, 0, 1, 2, 3, 3, 4]);
}

#[test]
fn emoji_zero_width_and_long_words_keep_offsets() {
    let text = format!("😀😀 a\u{200B}b e\u{0301}cole {}", "x".repeat(5000));
    let toks = Tokeniser::shared().tokenise(&text);
    for t in toks.tokens() {
        assert!(slice_chars(&text, t.char_start as usize, t.char_end as usize).is_some());
    }
    assert_eq!(
        toks.tokens().last().map(|t| t.char_end as usize),
        Some(text.chars().count())
    );
}
