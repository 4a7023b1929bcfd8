//! Redaction of personal data from any response text an output shows:
//! e-mail addresses, UK phone numbers, UK postcodes, names introduced by
//! "my name is" / "I am called", and numbers that look like NHS or case
//! numbers. One module, used by every writer that quotes text.

use std::sync::OnceLock;

use regex::Regex;

struct Patterns {
    email: Regex,
    phone: Regex,
    postcode: Regex,
    long_number: Regex,
    case_ref: Regex,
    name_intro: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        // These are fixed, tested patterns: failing to compile is a bug.
        email: Regex::new(r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)+")
            .unwrap_or_else(|e| unreachable!("{e}")),
        phone: Regex::new(
            r"(?:\+\s?44\s?(?:\(0\)\s?)?|\(?\b0)\d{2,4}\)?[\s.\-]?\d{3,4}[\s.\-]?\d{3,4}\b",
        )
        .unwrap_or_else(|e| unreachable!("{e}")),
        postcode: Regex::new(r"(?i)\b[A-Z]{1,2}[0-9][A-Z0-9]?\s?[0-9][ABD-HJLNP-UW-Z]{2}\b")
            .unwrap_or_else(|e| unreachable!("{e}")),
        long_number: Regex::new(r"\b\d{3}[\s\-]?\d{3}[\s\-]?\d{4}\b|\b\d{8,}\b")
            .unwrap_or_else(|e| unreachable!("{e}")),
        case_ref: Regex::new(
            r"(?i)\b((?:case|ref|reference|file|nhs)\s*(?:no\.?|number|num|#)?\s*[:#]?\s*)([A-Z]{0,4}[/\-]?\d[\dA-Z/\-]{3,})",
        )
        .unwrap_or_else(|e| unreachable!("{e}")),
        name_intro: Regex::new(
            r"(?i:\b(?:my name is|my name's|i am called|i'm called|i’m called|my name’s)\s+)(\p{Lu}[\p{L}'’\-]*(?:\s+\p{Lu}[\p{L}'’\-]*){0,2}|\p{Ll}[\p{L}'’\-]*)",
        )
        .unwrap_or_else(|e| unreachable!("{e}")),
    })
}

/// Replace personal data in `text` with bracketed placeholders. Texts are
/// kept as written, but the patterns read letters as composed: an accent
/// typed as `e` + U+0301 is no letter to `\p{L}`, and a name or address
/// holding one slipped through. So the text is NFC-normalised first (what
/// is shown reads the same).
pub fn redact(text: &str) -> String {
    let p = patterns();
    let text = crate::corpus::nfc(text);
    let text = p.email.replace_all(&text, "[email]");
    let text = p.case_ref.replace_all(&text, "${1}[number]");
    let text = p.postcode.replace_all(&text, "[postcode]");
    let text = p.phone.replace_all(&text, "[phone]");
    let text = p.long_number.replace_all(&text, "[number]");
    let text = p
        .name_intro
        .replace_all(&text, |caps: &regex::Captures<'_>| {
            let whole = &caps[0];
            let name = &caps[1];
            format!("{}[name]", &whole[..whole.len() - name.len()])
        });
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn decomposed_accents_do_not_let_a_name_or_address_through() {
        let name = redact("My name is Jose\u{301} A\u{301}lvarez and I left care.");
        assert_eq!(name, "My name is [name] and I left care.");
        let email = redact("Email jose\u{301}@example.com today");
        assert_eq!(email, "Email [email] today");
    }

    #[test]
    fn redacts_each_kind() {
        let cases = [
            (
                "write to jane.doe@example.org today",
                "jane.doe@example.org",
            ),
            ("call 07700 900123 please", "07700 900123"),
            ("or +44 7700 900123", "7700 900123"),
            ("ring 0113 496 0000", "496 0000"),
            ("we live in LS1 4AP now", "LS1 4AP"),
            ("postcode sw1a 1aa", "sw1a 1aa"),
            ("My name is Jane Doe and I foster", "Jane Doe"),
            ("my name is jane", "jane"),
            ("I am called Sam.", "Sam"),
            ("NHS number 943 476 5919", "943 476 5919"),
            ("case ref: LA/2021/00451", "LA/2021/00451"),
        ];
        for (input, secret) in cases {
            let out = redact(input);
            assert!(!out.contains(secret), "{input:?} -> {out:?}");
        }
    }

    #[test]
    fn leaves_ordinary_text() {
        let text = "In 2021 we had 11 social workers and 3 placements.";
        assert_eq!(redact(text), text);
    }
}
