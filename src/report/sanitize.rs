//! Making response text safe to show. The stored text is never changed; these
//! functions only shape what an output displays.
//!
//! - [`display_safe`]: drops control characters, bidi overrides/isolates and
//!   zero-width characters that could spoof HTML, Markdown, CSV or a terminal.
//! - [`block_safe`]: the same for a whole text shown with its line breaks.
//! - [`csv_cell`]: neutralises spreadsheet formulas (`= + - @`, tab, CR).
//! - [`markdown_inline`]: escapes Markdown so a quote cannot inject links,
//!   headings or HTML into summary.md.

/// Characters that reorder or hide text: bidi embeddings, overrides and
/// isolates, marks, zero-width characters and the BOM.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{061C}'
        | '\u{FEFF}')
}

/// Text fit for display on one line: control characters (including line
/// breaks) become spaces, runs of spaces collapse, invisible and bidi
/// control characters are removed.
pub fn display_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.chars() {
        if is_invisible_or_bidi(c) {
            continue;
        }
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Text fit for display as a block (line breaks and spacing kept, nothing
/// trimmed, so pieces of one text can be shown one after another): invisible
/// and bidi control characters are removed, other control characters become
/// spaces.
pub fn block_safe(text: &str) -> String {
    text.chars()
        .filter(|c| !is_invisible_or_bidi(*c))
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// A CSV cell that a spreadsheet will show as text, never run as a formula.
/// Printable ASCII that needs nothing is borrowed, not copied.
pub fn csv_cell(value: &str) -> std::borrow::Cow<'_, str> {
    let bytes = value.as_bytes();
    if bytes
        .iter()
        .all(|b| (b' '..=b'~').contains(b) || *b == b'\n')
        && !matches!(bytes.first(), Some(b'=' | b'+' | b'-' | b'@'))
    {
        return std::borrow::Cow::Borrowed(value);
    }
    let clean = block_safe(value);
    match clean.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{clean}").into(),
        _ => clean.into(),
    }
}

/// Escape text for inline Markdown (also escapes `<` and `>` so no HTML
/// passes through).
pub fn markdown_inline(text: &str) -> String {
    let safe = display_safe(text);
    let mut out = String::with_capacity(safe.len() + 8);
    for c in safe.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_bidi_and_controls() {
        assert_eq!(display_safe("a\u{202E}b\u{0007}c\n\nd\u{200B}"), "ab c d");
    }

    #[test]
    fn neutralises_formulas() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("plain"), "plain");
    }

    proptest::proptest! {
        /// The borrowed fast path gives what the full cleaning (the text
        /// made block-safe, a formula's first character quoted) gives.
        #[test]
        fn csv_cells_borrowed_or_not_are_the_cleaned_text(
            value in "[=+@a-z \\-\t\r\n\u{7f}\u{85}\u{202e}\u{200b}é~]{0,8}"
        ) {
            let clean = block_safe(&value);
            let expected = match clean.chars().next() {
                Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{clean}"),
                _ => clean,
            };
            proptest::prop_assert_eq!(csv_cell(&value), expected);
        }
    }

    #[test]
    fn markdown_escapes_links_and_html() {
        assert_eq!(markdown_inline("[x](y) <b>"), "\\[x\\](y) &lt;b&gt;");
    }
}
