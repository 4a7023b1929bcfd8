//! The codebook: a TOML coding frame (themes, flags, keywords, rules), parsed
//! and validated into a [`Codebook`] whose every item is already turned into
//! word patterns by the shared tokeniser.
//!
//! Validation reports every problem at once, each with line, column and a
//! hint, so an analyst can fix a codebook in one pass. [`Codebook::default_care_review`]
//! is the bundled seven-theme codebook, embedded in the binary.

mod raw;

use std::path::Path;

use crate::text::Tokeniser;

/// The default codebook text (`corpora/care-review/codebook.toml`).
pub const DEFAULT_CODEBOOK_TOML: &str = include_str!("../../corpora/care-review/codebook.toml");

/// Negators used when `[defaults]` names none: dismissive cues, not bare "no",
/// so "no stable placement" and "not enough funding" keep their theme; and
/// not "not just" or plain "rather than", which assert what follows them.
pub const DEFAULT_NEGATORS: &[&str] = &[
    "not about",
    "isn't about",
    "is not about",
    "wasn't about",
    "not really about",
    "nothing to do with",
    "never mind",
    "leaving aside",
    "regardless of",
    "rather than focusing on",
];

/// A validated coding frame.
#[derive(Clone, Debug)]
pub struct Codebook {
    pub name: String,
    pub version: String,
    pub defaults: Defaults,
    pub themes: Vec<Code>,
    /// Flags route a response to a human; they are never themes.
    pub flags: Vec<Code>,
}

#[derive(Clone, Debug)]
pub struct Defaults {
    pub negation_window: usize,
    pub stem: bool,
    pub negators: Vec<Item>,
}

/// A theme or a flag.
#[derive(Clone, Debug)]
pub struct Code {
    pub id: String,
    pub label: String,
    pub description: String,
    pub keywords: Vec<Keyword>,
    pub exclude: Vec<Item>,
    pub min_score: f64,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
pub struct Keyword {
    pub item: Item,
    pub weight: f64,
}

/// One keyword-like item: a word, a phrase, `prefix*` or `=exact`, as the
/// sequence of word patterns it matches on consecutive tokens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Item {
    /// The item as written in the codebook.
    pub source: String,
    pub words: Vec<WordPattern>,
    /// The words (by index) the item itself has a full stop (or `!`, `?`,
    /// `…`) before, as in "St. Helens": such an item may match across a stop
    /// in a text; no other theme item does (see
    /// [`crate::text::Token::after_stop`]). Nearly always empty.
    pub stops_before: Vec<u32>,
}

impl Item {
    /// The item has a full stop between two of its words.
    pub fn spans_stop(&self) -> bool {
        !self.stops_before.is_empty()
    }
}

/// How one word of an item matches one token.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WordPattern {
    /// The token's stem equals this stem.
    Stem(String),
    /// The token's lowercased surface form equals this word.
    Exact(String),
    /// The token's lowercased surface form starts with this prefix.
    Prefix(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Sentence,
    Response,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub weight: f64,
    pub scope: Scope,
    pub kind: RuleKind,
}

#[derive(Clone, Debug)]
pub enum RuleKind {
    /// Every `all` item, at least one `any` item (when given), no `none` item,
    /// within one scope unit; with `near`, the chosen occurrences span at most
    /// `near` token positions.
    Tokens {
        all: Vec<Item>,
        any: Vec<Item>,
        none: Vec<Item>,
        near: Option<usize>,
    },
    /// A regular expression over the response text; vetoed by `none` items.
    Regex { pattern: String, none: Vec<Item> },
}

/// One problem found in a codebook, located for the analyst.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CodebookError {
    #[error("{path}: cannot read the codebook: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}: the codebook is not UTF-8 text (invalid byte at line {line}); save it as UTF-8 and try again"
    )]
    NotUtf8 { path: String, line: usize },
    #[error("{}", render_problems(.path, .problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

fn render_problems(path: &str, problems: &[Problem]) -> String {
    let mut out = format!(
        "{path}: the codebook has {} problem{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str(&format!(
            "\n  {path}:{}:{}: {}\n    hint: {}",
            p.line, p.column, p.message, p.hint
        ));
    }
    out
}

impl Codebook {
    /// Read and validate a codebook file.
    pub fn from_path(path: &Path) -> Result<Codebook, CodebookError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| CodebookError::Io {
            path: name.clone(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            CodebookError::NotUtf8 {
                path: name.clone(),
                line: valid.iter().filter(|b| **b == b'\n').count() + 1,
            }
        })?;
        Codebook::from_toml(&text, &name)
    }

    /// Parse and validate codebook text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Codebook, CodebookError> {
        raw::parse(text, Tokeniser::shared()).map_err(|problems| CodebookError::Invalid {
            path: origin.to_owned(),
            problems,
        })
    }

    /// The bundled seven-theme codebook of the children's social care review.
    pub fn default_care_review() -> Result<Codebook, CodebookError> {
        Codebook::from_toml(DEFAULT_CODEBOOK_TOML, "<default codebook>")
    }

    /// Themes then flags, the order codes are numbered in by the classifier.
    pub fn codes(&self) -> impl Iterator<Item = &Code> {
        self.themes.iter().chain(self.flags.iter())
    }

    pub fn theme_index(&self, id: &str) -> Option<usize> {
        self.themes.iter().position(|t| t.id == id)
    }
}

/// Parse one item (keyword, exclude, rule or negator entry) into word patterns.
pub fn parse_item(source: &str, stem: bool, tokeniser: &Tokeniser) -> Result<Item, String> {
    let trimmed = source.trim();
    let (exact, body) = match trimmed.strip_prefix('=') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let (prefix, body) = match body.strip_suffix('*') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    if body.contains('*') {
        return Err(format!(
            "`{source}`: a wildcard `*` may only end an item (as in \"care leaver*\")"
        ));
    }
    if prefix && body.ends_with(char::is_whitespace) {
        return Err(format!(
            "`{source}`: the `*` must follow a word directly (\"leaver*\", not \"leaver *\")"
        ));
    }
    // The tokeniser normalises each word it reads, in texts and items
    // alike; normalising the item whole as well keeps its prefix (`*`) and
    // anything else read off the body in the same form.
    let body = crate::corpus::nfc(body);
    let tokens = tokeniser.tokenise(&body);
    if tokens.is_empty() {
        return Err(format!("`{source}` has no words to match"));
    }
    let last = tokens.len() - 1;
    let mut words = Vec::with_capacity(tokens.len());
    for i in 0..tokens.len() {
        let lower = tokens.lower(i);
        let pattern = if prefix && i == last {
            if lower.chars().count() < 3 {
                return Err(format!(
                    "`{source}`: a wildcard needs at least three letters before `*`, or it matches almost everything"
                ));
            }
            WordPattern::Prefix(lower.to_owned())
        } else if exact || !stem {
            WordPattern::Exact(lower.to_owned())
        } else {
            WordPattern::Stem(tokens.stem(i).to_owned())
        };
        words.push(pattern);
    }
    Ok(Item {
        source: trimmed.to_owned(),
        words,
        stops_before: (0..tokens.len() as u32)
            .filter(|&i| tokens.tokens()[i as usize].after_stop)
            .collect(),
    })
}

/// 1-based line and column (in chars) of a byte offset.
pub fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let byte = byte.min(text.len());
    let before = text.get(..byte).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
