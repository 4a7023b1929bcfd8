//! Each codebook operator through the public API, evidence offsets, and
//! determinism under threads.

use proptest::prelude::*;
use thematic::classify::{Classifier, Source};
use thematic::text::{Tokeniser, slice_chars};

use crate::util::{codebook, themes_of};

fn classifier(toml: &str) -> Classifier {
    Classifier::new(codebook(toml)).expect("compiles")
}

fn one_theme(body: &str) -> Classifier {
    classifier(&format!("name = \"t\"\n[[theme]]\nid = \"t\"\n{body}\n"))
}

fn fires(c: &Classifier, text: &str) -> bool {
    !themes_of(c, text).is_empty()
}

#[test]
fn word_matches_on_stems() {
    let c = one_theme("keywords = [\"fostering\"]");
    assert!(fires(&c, "We foster teenagers."));
    assert!(fires(&c, "Fostered children"));
    assert!(!fires(&c, "Forest school"));
}

#[test]
fn phrase_matches_consecutive_tokens_only() {
    let c = one_theme("keywords = [\"kinship care\"]");
    assert!(fires(&c, "kinship caring is hard"), "stemmed phrase");
    assert!(
        !fires(&c, "kinship carers"),
        "Snowball keeps carer apart from care"
    );
    assert!(!fires(&c, "kinship and care"));
    assert!(!fires(&c, "care kinship"));
    let c = one_theme("keywords = [\"duty of care\"]");
    assert!(fires(&c, "a duty of care"), "stopwords stay in phrases");
}

#[test]
fn a_phrase_runs_across_a_line_break() {
    // Hard-wrapped answers break lines mid-phrase; a safeguarding phrase
    // split by one must still flag (a session's sentence rule lost these).
    let c = one_theme("keywords = [\"leaving care\", \"not safe at home\"]");
    assert!(fires(&c, "Then I was leaving\ncare at 18."));
    assert!(fires(&c, "I am not safe at\r\nhome."));
}

#[test]
fn a_theme_phrase_does_not_run_across_a_full_stop() {
    let c = one_theme("keywords = [\"leaving care\", \"early help\", \"care plan\"]");
    assert!(!fires(&c, "It was hard leaving. Care staff were kind."));
    assert!(!fires(
        &c,
        "The baby came early. Help from the midwife was great."
    ));
    assert!(!fires(&c, "Nobody seemed to care! Plan ahead, they said."));
    assert!(!fires(&c, "Was it early? Help came late."));
    assert!(!fires(&c, "We were leaving\u{2026} care was over."));
    assert!(fires(&c, "Leaving care at 18 was hard."));
    assert!(
        fires(&c, "After leaving care, with no care plan."),
        "a comma is no full stop"
    );
    // Nor an exclude: "duty. Of care" excludes nothing.
    let c = one_theme("keywords = [\"care\"]\nexclude = [\"duty of care\"]");
    assert!(fires(&c, "It is our duty. Of care we speak."));
    assert!(!fires(&c, "It is our duty of care."));
}

#[test]
fn an_item_with_a_full_stop_of_its_own_matches_with_or_without_it() {
    let c = one_theme("keywords = [\"St. Helens council\"]");
    assert!(fires(&c, "In St. Helens council they listen."));
    assert!(fires(&c, "In St Helens council they listen."));
    assert!(
        !fires(&c, "In St Helens. Council they listen."),
        "not a stop it lacks"
    );
}

#[test]
fn a_safeguarding_phrase_flags_across_a_full_stop() {
    // A flag errs towards a person reading the text: "he hits. Me too"
    // is read twice rather than a disclosure typed badly missed.
    let c = classifier(
        "name = \"t\"\n[[theme]]\nid = \"care\"\nkeywords = [\"hits me\"]\n\
         [[flag]]\nid = \"safeguarding\"\nkeywords = [\"hits me\"]\n",
    );
    let text = "When he is drunk he hits. Me and my sister hide.";
    let tokens = Tokeniser::shared().tokenise(text);
    let coding = c.classify(text, &tokens);
    assert_eq!(coding.flags.len(), 1);
    assert!(
        coding.themes.is_empty(),
        "the theme's phrase stops at the stop"
    );
    // What holds a flag back does not reach across a stop.
    let c = classifier(
        "name = \"t\"\n[[theme]]\nid = \"care\"\nkeywords = [\"care\"]\n\
         [[flag]]\nid = \"safeguarding\"\nkeywords = [\"hits\"]\nexclude = [\"hits back\"]\n",
    );
    let flags = |text: &str| {
        c.classify(text, &Tokeniser::shared().tokenise(text))
            .flags
            .len()
    };
    assert_eq!(flags("Dad hits. Back then I hid."), 1);
    assert_eq!(flags("In the game he hits back."), 0);
}

#[test]
fn prefix_wildcard_matches_surface_prefixes() {
    let c = one_theme("keywords = [\"educat*\"]");
    assert!(fires(&c, "Education matters"));
    assert!(fires(&c, "educators"));
    assert!(!fires(&c, "edu"));
    let c = one_theme("keywords = [\"care leaver*\"]");
    assert!(fires(&c, "care leavers at 18"));
    assert!(!fires(&c, "care homes"));
}

#[test]
fn exact_item_does_not_stem() {
    let c = one_theme("keywords = [\"=home\"]");
    assert!(fires(&c, "a home"));
    assert!(!fires(&c, "children's homes"));
}

#[test]
fn exclude_phrases_never_count_for_the_theme() {
    let c = one_theme("keywords = [\"care\"]\nexclude = [\"duty of care\", \"health care\"]");
    assert!(!fires(&c, "They have a duty of care and good health care."));
    assert!(fires(&c, "duty of care matters, and so does care itself"));
    // A keyword overlapping an excluded phrase is in that phrase's context.
    let c = one_theme("keywords = [\"children in care\"]\nexclude = [\"in care proceedings\"]");
    assert!(!fires(&c, "Our children in care proceedings were delayed."));
    assert!(fires(&c, "Our children in care were moved."));
}

#[test]
fn items_typed_with_decomposed_accents_match_texts_that_have_them_either_way() {
    // Texts are tokenised as written and each word normalised; items too.
    let c = one_theme("keywords = [\"cafe\u{301}\"]");
    assert!(fires(&c, "Cafe\u{301} owners"));
    assert!(fires(&c, "Caf\u{e9} owners"));
    let c = one_theme("keywords = [\"caf\u{e9}\"]");
    assert!(fires(&c, "Caf\u{e9} owners"));
    assert!(fires(&c, "Cafe\u{301} owners"));
    assert!(!fires(&c, "Cafe owners"));
}

#[test]
fn all_any_none_rules() {
    let c = one_theme(
        "[[theme.rule]]\nid = \"moves\"\nall = [\"move*\"]\nany = [\"placement\", \"carer\"]\nnone = [\"house move\"]",
    );
    assert!(fires(&c, "I moved placement six times"));
    assert!(!fires(&c, "I moved school"), "needs one of any");
    assert!(!fires(&c, "the placement was fine"), "needs all");
    assert!(
        !fires(&c, "after a house move the placement ended"),
        "none vetoes"
    );
}

#[test]
fn near_limits_token_distance() {
    let c = one_theme(
        "[[theme.rule]]\nid = \"n\"\nall = [\"social worker\"]\nany = [\"left\", \"changed\"]\nnear = 3",
    );
    assert!(fires(&c, "my social worker left"));
    assert!(fires(&c, "left, my social worker"));
    assert!(!fires(
        &c,
        "my social worker was kind and patient and then she left"
    ));
}

#[test]
fn sentence_scope_keeps_items_in_one_sentence() {
    let body = "[[theme.rule]]\nid = \"s\"\nall = [\"money\", \"placement\"]\nscope = \"sentence\"";
    let c = one_theme(body);
    assert!(fires(&c, "The placement cost so much money."));
    assert!(!fires(&c, "The placement was far. Money was short."));
    let c = one_theme(&body.replace("sentence", "response"));
    assert!(fires(&c, "The placement was far. Money was short."));
}

#[test]
fn regex_rules_fire_with_evidence() {
    let c = one_theme(
        "[[theme.rule]]\nid = \"churn\"\nregex = '(?i)\\b(\\d+|too many)\\s+social\\s+workers\\b'",
    );
    let text = "I had 11 social workers in two years.";
    let tokens = Tokeniser::shared().tokenise(text);
    let coding = c.classify(text, &tokens);
    assert_eq!(coding.themes.len(), 1);
    let ev = coding.themes[0].evidence[0];
    assert_eq!(ev.source, Source::Rule(0));
    assert_eq!(
        slice_chars(text, ev.char_start as usize, ev.char_end as usize),
        Some("11 social workers")
    );
    assert!(!fires(&c, "social workers are great"));
}

#[test]
fn negation_window_and_contrast() {
    let toml = "name = \"t\"\n[defaults]\nnegation_window = 3\n\
                [[theme]]\nid = \"money\"\nkeywords = [\"money\", \"funding\"]\n\
                [[theme]]\nid = \"love\"\nkeywords = [\"love\"]\n";
    let c = classifier(toml);
    assert_eq!(
        themes_of(&c, "This is not about money, it is about love."),
        ["love"]
    );
    assert_eq!(
        themes_of(&c, "There is not enough funding."),
        ["money"],
        "'not' alone is no negator"
    );
    assert_eq!(
        themes_of(&c, "It's nothing to do with money"),
        Vec::<String>::new()
    );
    assert_eq!(
        themes_of(&c, "not about the love but about money"),
        ["money"],
        "'but' ends the negation"
    );
    // Beyond the window the match counts again.
    assert_eq!(
        themes_of(&c, "It is not about the rules of the money"),
        ["money"]
    );
    let custom = classifier(&toml.replace(
        "negation_window = 3",
        "negation_window = 3\nnegators = [\"forget\"]",
    ));
    assert!(themes_of(&custom, "forget the money").is_empty());
    assert_eq!(
        themes_of(&custom, "not about money"),
        ["money"],
        "custom list replaces the default"
    );
}

#[test]
fn weights_and_min_score() {
    let c = one_theme(
        "keywords = [{ term = \"budget\", weight = 0.5 }, { term = \"cost\", weight = 0.5 }]\nmin_score = 1.0",
    );
    assert!(!fires(&c, "the budget"));
    assert!(!fires(&c, "budget budget budget"), "a keyword counts once");
    assert!(fires(&c, "the budget and the cost"));
}

#[test]
fn a_keyword_counts_once_in_a_theme_of_hundreds() {
    // More than 256 keywords: the once-per-keyword bookkeeping leaves the stack.
    let mut keywords: Vec<String> = (0..300).map(|i| format!("\"zq{i}\"")).collect();
    keywords.push("{ term = \"budget\", weight = 0.5 }".to_owned());
    keywords.push("{ term = \"cost\", weight = 0.5 }".to_owned());
    let c = one_theme(&format!(
        "keywords = [{}]\nmin_score = 1.0",
        keywords.join(", ")
    ));
    assert!(!fires(&c, "budget budget budget"), "a keyword counts once");
    assert!(fires(&c, "the budget and the cost"));
    assert!(fires(&c, "zq299 alone"), "the last keyword weighs 1");
}

#[test]
fn evidence_is_the_first_spans_by_position_whatever_fired() {
    // Two themes with the same keywords and rules; the second has an
    // exclude that never matches, so its keywords are scored from per-code
    // lists rather than tallied as occurrences are dispatched. Over a
    // hundred keyword occurrences come after two regex matches and a rule
    // match that lie among the first twenty spans.
    let rules = "keywords = [\"care\", \"home\"]\n\
        [[theme.rule]]\nid = \"asked\"\nregex = '\\bhelp\\b'\n\
        [[theme.rule]]\nid = \"kin\"\nall = [\"family\"]\n";
    let c = classifier(&format!(
        "name = \"t\"\n[[theme]]\nid = \"tallied\"\n{rules}\
         [[theme]]\nid = \"listed\"\nexclude = [\"zzz qqq\"]\n{rules}"
    ));
    let text = format!(
        "{}help care care help family {}help",
        "care home ".repeat(3),
        "care ".repeat(120)
    );
    let tokens = Tokeniser::shared().tokenise(&text);
    let coding = c.classify(&text, &tokens);
    assert_eq!(coding.themes.len(), 2);
    let words: Vec<Vec<&str>> = coding
        .themes
        .iter()
        .map(|hit| {
            hit.evidence
                .iter()
                .map(|e| slice_chars(&text, e.char_start as usize, e.char_end as usize).unwrap())
                .collect()
        })
        .collect();
    let mut expected = vec!["care", "home", "care", "home", "care", "home", "help"];
    expected.extend(["care", "care", "help", "family"]);
    expected.extend(["care"; 9]);
    assert_eq!(words[0], expected);
    assert_eq!(words[1], expected);
    for hit in &coding.themes {
        let starts: Vec<u32> = hit.evidence.iter().map(|e| e.char_start).collect();
        assert!(starts.is_sorted());
    }
}

#[test]
fn a_busy_regex_rule_does_not_crowd_out_another() {
    // Rule order is not position order: the first rule's hundred matches
    // must not keep the second rule's early ones out of the first twenty.
    let c = one_theme(
        "[[theme.rule]]\nid = \"cares\"\nregex = '\\bcare\\b'\n\
         [[theme.rule]]\nid = \"helps\"\nregex = '\\bhelp\\b'",
    );
    let text = format!(
        "care care care help care care care help {}",
        "care ".repeat(100)
    );
    let tokens = Tokeniser::shared().tokenise(&text);
    let coding = c.classify(&text, &tokens);
    let helps: Vec<u32> = coding.themes[0]
        .evidence
        .iter()
        .filter(|e| e.source == Source::Rule(1))
        .map(|e| e.char_start)
        .collect();
    assert_eq!(helps, [15, 35]);
    assert_eq!(coding.themes[0].evidence.len(), 20);
}

#[test]
fn flags_are_not_themes() {
    let c = classifier(
        "name = \"t\"\n[[theme]]\nid = \"care\"\nkeywords = [\"foster\"]\n[[flag]]\nid = \"safeguarding\"\nkeywords = [\"hits me\"]\n",
    );
    let text = "My foster carer hits me";
    let tokens = Tokeniser::shared().tokenise(text);
    let coding = c.classify(text, &tokens);
    assert_eq!(coding.themes.len(), 1);
    assert_eq!(coding.flags.len(), 1);
    assert_eq!(c.codebook().flags[coding.flags[0].code].id, "safeguarding");
}

fn default_classifier() -> &'static Classifier {
    static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        Classifier::new(
            thematic::codebook::Codebook::default_care_review().expect("default codebook"),
        )
        .expect("compiles")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every evidence span's char offsets slice the original text to its matched text.
    #[test]
    fn evidence_offsets_slice_to_matched_text(
        words in proptest::collection::vec(
            prop_oneof![
                Just("foster care".to_owned()), Just("Ofsted".to_owned()), Just("social workers".to_owned()), Just("11 social workers".to_owned()),
                Just("funding".to_owned()), Just("kinship".to_owned()), Just("😀".to_owned()), Just("é\u{301}".to_owned()), Just("placement".to_owned()),
                Just("not about money,".to_owned()), Just("moved".to_owned()), Just("children’s home".to_owned()), Just("\n".to_owned()), Just(".".to_owned()),
                "[a-zA-Z]{1,8}",
            ],
            0..30,
        )
    ) {
        let text = words.join(" ");
        let c = default_classifier();
        let tokens = Tokeniser::shared().tokenise(&text);
        let coding = c.classify(&text, &tokens);
        for hit in coding.themes.iter().chain(&coding.flags) {
            prop_assert!(!hit.evidence.is_empty());
            for e in &hit.evidence {
                let by_chars = slice_chars(&text, e.char_start as usize, e.char_end as usize);
                let by_bytes = text.get(e.byte_start as usize..e.byte_end as usize);
                prop_assert_eq!(by_chars, by_bytes);
                prop_assert!(by_chars.is_some_and(|s| !s.is_empty()));
            }
        }
    }
}
