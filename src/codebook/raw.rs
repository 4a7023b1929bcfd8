//! The codebook as written (serde model with spans) and its validation into
//! the checked model of the parent module.

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use super::{
    Code, Codebook, DEFAULT_NEGATORS, Defaults, Item, Keyword, Problem, Rule, RuleKind, Scope,
    line_col, parse_item,
};
use crate::text::Tokeniser;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodebook {
    name: Option<String>,
    version: Option<toml::Value>,
    description: Option<String>,
    defaults: Option<RawDefaults>,
    #[serde(default)]
    theme: Vec<RawCode>,
    #[serde(default)]
    flag: Vec<RawCode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    negation_window: Option<usize>,
    stem: Option<bool>,
    negators: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCode {
    id: Spanned<String>,
    label: Option<String>,
    description: Option<String>,
    #[serde(default)]
    keywords: Vec<Spanned<RawKeyword>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    min_score: Option<Spanned<f64>>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawKeyword {
    Plain(String),
    Weighted(WeightedKeyword),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightedKeyword {
    term: String,
    weight: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(default)]
    all: Vec<Spanned<String>>,
    #[serde(default)]
    any: Vec<Spanned<String>>,
    #[serde(default)]
    none: Vec<Spanned<String>>,
    near: Option<Spanned<usize>>,
    scope: Option<Spanned<String>>,
    regex: Option<Spanned<String>>,
    weight: Option<Spanned<f64>>,
}

/// Collects problems while a codebook is checked.
struct Checker<'a> {
    text: &'a str,
    tokeniser: &'a Tokeniser,
    stem: bool,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, byte: usize, message: String, hint: &str) {
        let (line, column) = line_col(self.text, byte);
        self.problems.push(Problem {
            line,
            column,
            message,
            hint: hint.to_owned(),
        });
    }

    fn item(&mut self, raw: &Spanned<String>, context: &str) -> Option<Item> {
        match parse_item(raw.get_ref(), self.stem, self.tokeniser) {
            Ok(item) => Some(item),
            Err(message) => {
                self.problem(
                    raw.span().start,
                    format!("{context}: {message}"),
                    "items are a word, a phrase, `prefix*` (three letters or more) or `=exact`",
                );
                None
            }
        }
    }

    fn items(&mut self, raws: &[Spanned<String>], context: &str) -> Vec<Item> {
        raws.iter().filter_map(|r| self.item(r, context)).collect()
    }

    fn positive(&mut self, value: &Spanned<f64>, what: &str) -> f64 {
        let v = *value.get_ref();
        if !(v.is_finite() && v > 0.0) {
            self.problem(
                value.span().start,
                format!("{what} must be a number above 0, found {v}"),
                "use a positive number such as 1.0 or 0.5",
            );
        }
        v
    }
}

pub(super) fn parse(text: &str, tokeniser: &Tokeniser) -> Result<Codebook, Vec<Problem>> {
    let raw: RawCodebook = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let (line, column) = line_col(text, e.span().map_or(0, |s| s.start));
            let message = e.message().trim().to_owned();
            let hint = if message.contains("unknown field") {
                "check the spelling against the codebook format (DESIGN.md, \"Codebook\")"
            } else if message.contains("did not match any variant") {
                "a keyword is a string, or an inline table { term = \"...\", weight = 0.5 }"
            } else {
                "fix the TOML syntax at this position"
            };
            return Err(vec![Problem {
                line,
                column,
                message,
                hint: hint.to_owned(),
            }]);
        }
    };
    let defaults_raw = raw.defaults.as_ref();
    let stem = defaults_raw.and_then(|d| d.stem).unwrap_or(true);
    let mut checker = Checker {
        text,
        tokeniser,
        stem,
        problems: Vec::new(),
    };
    let negators = match defaults_raw.and_then(|d| d.negators.as_ref()) {
        Some(list) => checker.items(list, "negator"),
        None => DEFAULT_NEGATORS
            .iter()
            .filter_map(|n| parse_item(n, stem, tokeniser).ok())
            .collect(),
    };
    let defaults = Defaults {
        negation_window: defaults_raw.and_then(|d| d.negation_window).unwrap_or(3),
        stem,
        negators,
    };
    if raw.theme.is_empty() {
        checker.problem(
            0,
            "the codebook has no themes".to_owned(),
            "add at least one [[theme]] table with an id and keywords or rules",
        );
    }
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    let themes = raw
        .theme
        .iter()
        .map(|c| check_code(&mut checker, c, "theme", &mut seen_ids))
        .collect();
    let flags = raw
        .flag
        .iter()
        .map(|c| check_code(&mut checker, c, "flag", &mut seen_ids))
        .collect();
    let _ = &raw.description;
    if !checker.problems.is_empty() {
        return Err(checker.problems);
    }
    Ok(Codebook {
        name: raw.name.unwrap_or_else(|| "Untitled codebook".to_owned()),
        version: match raw.version {
            Some(toml::Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => "1".to_owned(),
        },
        defaults,
        themes,
        flags,
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn check_code(
    checker: &mut Checker<'_>,
    raw: &RawCode,
    kind: &str,
    seen_ids: &mut HashMap<String, usize>,
) -> Code {
    let id = raw.id.get_ref().clone();
    let id_at = raw.id.span().start;
    if !valid_id(&id) {
        checker.problem(
            id_at,
            format!("{kind} id `{id}` is not a valid id"),
            "ids use lowercase letters, digits, `_` and `-` (e.g. \"strengthening_families\")",
        );
    }
    if let Some(first) = seen_ids.insert(id.clone(), id_at) {
        let (line, _) = line_col(checker.text, first);
        checker.problem(
            id_at,
            format!("duplicate id `{id}` (first used on line {line})"),
            "every theme and flag needs its own id",
        );
    }
    let context = format!("{kind} `{id}`");
    let mut keywords = Vec::with_capacity(raw.keywords.len());
    for kw in &raw.keywords {
        let (term, weight) = match kw.get_ref() {
            RawKeyword::Plain(t) => (t.clone(), 1.0),
            RawKeyword::Weighted(w) => (w.term.clone(), w.weight),
        };
        let spanned_term = Spanned::new(kw.span(), term);
        let weight = checker.positive(&Spanned::new(kw.span(), weight), "a keyword weight");
        if let Some(item) = checker.item(&spanned_term, &context) {
            keywords.push(Keyword { item, weight });
        }
    }
    let exclude = checker.items(&raw.exclude, &format!("{context} exclude"));
    let min_score = raw
        .min_score
        .as_ref()
        .map_or(1.0, |m| checker.positive(m, "min_score"));
    let mut rule_ids: HashMap<&str, ()> = HashMap::new();
    let mut rules = Vec::with_capacity(raw.rule.len());
    for rule in &raw.rule {
        let rule_id = rule.id.get_ref();
        if !valid_id(rule_id) {
            checker.problem(
                rule.id.span().start,
                format!("{context}: rule id `{rule_id}` is not a valid id"),
                "ids use lowercase letters, digits, `_` and `-`",
            );
        }
        if rule_ids.insert(rule_id, ()).is_some() {
            checker.problem(
                rule.id.span().start,
                format!("{context}: duplicate rule id `{rule_id}`"),
                "rule ids must be unique within their theme",
            );
        }
        if let Some(rule) = check_rule(checker, rule, &context) {
            rules.push(rule);
        }
    }
    if raw.keywords.is_empty() && raw.rule.is_empty() {
        checker.problem(
            id_at,
            format!(
                "{context} is empty: it has no keywords and no rules, so it can never be coded"
            ),
            "add keywords = [...] or a [[theme.rule]]",
        );
    }
    Code {
        label: raw.label.clone().unwrap_or_else(|| id.clone()),
        description: raw.description.clone().unwrap_or_default(),
        id,
        keywords,
        exclude,
        min_score,
        rules,
    }
}

fn check_rule(checker: &mut Checker<'_>, raw: &RawRule, code_context: &str) -> Option<Rule> {
    let context = format!("{code_context}, rule `{}`", raw.id.get_ref());
    let at = raw.id.span().start;
    let scope = match raw.scope.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("response") => Scope::Response,
        Some("sentence") => Scope::Sentence,
        Some(other) => {
            checker.problem(
                raw.scope.as_ref().map_or(at, |s| s.span().start),
                format!("{context}: unknown scope `{other}`"),
                "scope is \"sentence\" or \"response\"",
            );
            Scope::Response
        }
    };
    let weight = raw
        .weight
        .as_ref()
        .map_or(1.0, |w| checker.positive(w, "a rule weight"));
    let none = checker.items(&raw.none, &context);
    if let Some(regex) = &raw.regex {
        if !raw.all.is_empty() || !raw.any.is_empty() || raw.near.is_some() {
            checker.problem(
                at,
                format!("{context}: a rule has either `regex` or `all`/`any`/`near`, not both"),
                "split it into two rules",
            );
        }
        if let Err(e) = regex::Regex::new(regex.get_ref()) {
            let detail = e.to_string().replace('\n', "\n      ");
            checker.problem(
                regex.span().start,
                format!("{context}: invalid regex: {detail}"),
                "regexes use Rust regex syntax (https://docs.rs/regex); in TOML prefer '...' literal strings so backslashes stay as written",
            );
            return None;
        }
        return Some(Rule {
            id: raw.id.get_ref().clone(),
            weight,
            scope,
            kind: RuleKind::Regex {
                pattern: regex.get_ref().clone(),
                none,
            },
        });
    }
    if raw.all.is_empty() && raw.any.is_empty() {
        checker.problem(
            at,
            format!("{context}: the rule has nothing to match"),
            "give it `all`, `any` or `regex`",
        );
        return None;
    }
    let near = match &raw.near {
        Some(n) if *n.get_ref() == 0 => {
            checker.problem(
                n.span().start,
                format!("{context}: near must be at least 1"),
                "near = N means the items lie within N token positions of each other",
            );
            None
        }
        Some(n) => Some(*n.get_ref()),
        None => None,
    };
    let all = checker.items(&raw.all, &context);
    let any = checker.items(&raw.any, &context);
    Some(Rule {
        id: raw.id.get_ref().clone(),
        weight,
        scope,
        kind: RuleKind::Tokens {
            all,
            any,
            none,
            near,
        },
    })
}
