//! The shared tokeniser: offsets, stems, sentences; never panics.

use proptest::prelude::*;
use thematic::text::{NO_WORD, Tokeniser, current_vocabulary, slice_chars};

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
            // Each word is normalised (NFC) before lowercasing.
            let folded: String = thematic::corpus::nfc(by_bytes)
                .chars()
                .flat_map(char::to_lowercase)
                .map(|c| if matches!(c, '’' | '‘' | 'ʼ' | '＇') { '\'' } else { c })
                .collect();
            prop_assert_eq!(folded.as_str(), toks.lower(i));
            prop_assert!(!toks.stem(i).is_empty());
        }
    }

    /// A text and its NFC form are the same words, as the index and the
    /// codebook see them: same lowercased forms, stems and sentences. Only
    /// the offsets differ, each slicing its own text.
    #[test]
    fn a_text_and_its_nfc_form_are_the_same_words(
        text in "[a-zA-Zé\u{0301}\u{0302}\u{0327}\u{212B}Å\u{1100}\u{1161}\u{11A8}가 .,\n]{0,80}",
    ) {
        let composed = thematic::corpus::nfc(&text);
        let (a, b) = (Tokeniser::shared().tokenise(&text), Tokeniser::shared().tokenise(&composed));
        let words = |t: &thematic::text::TokenizedText| -> Vec<(String, String, u32)> {
            (0..t.len())
                .map(|i| (t.lower(i).to_owned(), t.stem(i).to_owned(), t.tokens()[i].sentence))
                .collect()
        };
        prop_assert_eq!(words(&a), words(&b));
    }

    /// Word numbers name lowercased words: within one vocabulary, two
    /// tokens share a number exactly when they share a lowercased form,
    /// across texts too; only words too long for the cache go unnumbered.
    #[test]
    fn word_numbers_name_lowercased_words(
        texts in prop::collection::vec("[a-cA-C’'é ]{0,40}|[a-z]{40,50}", 1..6),
    ) {
        let mut named: std::collections::HashMap<u32, String> = Default::default();
        let mut numbers: std::collections::HashMap<String, u32> = Default::default();
        let tokenised: Vec<_> = texts.iter().map(|t| Tokeniser::shared().tokenise(t)).collect();
        let vocabulary = current_vocabulary();
        for toks in &tokenised {
            if toks.is_empty() || toks.vocabulary() != vocabulary {
                continue; // empty, or the cache cleared in between
            }
            for i in 0..toks.len() {
                let (word, lower) = (toks.word_id(i), toks.lower(i).to_owned());
                if word == NO_WORD {
                    prop_assert!(lower.len() + toks.stem(i).len() > 44, "{lower} unnumbered");
                    continue;
                }
                prop_assert_eq!(named.entry(word).or_insert_with(|| lower.clone()), &lower);
                prop_assert_eq!(*numbers.entry(lower).or_insert(word), word);
            }
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
