//! The search query language: words, `"phrases"`, `AND` `OR` `NOT` / `-word`,
//! `word*`, `NEAR/n(a b)`, `field:value`, `theme:id`, parentheses. Adjacent
//! terms are ANDed. Words and phrases are parsed into the same [`Item`]s as
//! codebook keywords (by [`parse_item`]), so a search term and a keyword
//! match the same responses.

use crate::codebook::{Item, parse_item};
use crate::text::Tokeniser;

#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    Item(Item),
    Near { items: Vec<Item>, distance: usize },
    Field { field: String, value: String },
    Theme(String),
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("query error at column {column}: {message}")]
pub struct ParseError {
    /// 1-based column (in chars) in the query.
    pub column: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Phrase(String),
    Field(String, String),
    Near(usize),
    And,
    Or,
    Not,
    Minus,
    Open,
    Close,
}

fn lex(query: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |column: usize, message: String| ParseError { column, message };
    let read_quoted = |start: usize| -> Result<(String, usize), ParseError> {
        // `start` is at the opening quote.
        let mut j = start + 1;
        let mut s = String::new();
        while j < chars.len() && chars[j] != '"' {
            s.push(chars[j]);
            j += 1;
        }
        if j >= chars.len() {
            return Err(err(
                start + 1,
                "unterminated phrase: expected a closing \"".to_owned(),
            ));
        }
        Ok((s, j + 1))
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let at = i + 1;
        match c {
            '(' => {
                out.push((at, Tok::Open));
                i += 1;
            }
            ')' => {
                out.push((at, Tok::Close));
                i += 1;
            }
            '"' => {
                let (s, next) = read_quoted(i)?;
                out.push((at, Tok::Phrase(s)));
                i = next;
            }
            '-' if i + 1 < chars.len() && !chars[i + 1].is_whitespace() => {
                out.push((at, Tok::Minus));
                i += 1;
            }
            _ => {
                let mut j = i;
                let mut word = String::new();
                while j < chars.len()
                    && !chars[j].is_whitespace()
                    && !matches!(chars[j], '(' | ')' | '"')
                {
                    word.push(chars[j]);
                    j += 1;
                }
                if let Some(rest) = word.strip_prefix("NEAR/") {
                    let n: usize = rest.parse().map_err(|_| {
                        err(at, format!("expected a number after NEAR/, found `{rest}`"))
                    })?;
                    if n == 0 {
                        return Err(err(at, "NEAR/0: the distance must be at least 1".into()));
                    }
                    out.push((at, Tok::Near(n)));
                    i = j;
                    continue;
                }
                match word.as_str() {
                    "AND" => out.push((at, Tok::And)),
                    "OR" => out.push((at, Tok::Or)),
                    "NOT" => out.push((at, Tok::Not)),
                    _ => {
                        if let Some((field, value)) = word.split_once(':')
                            && !field.is_empty()
                            && field
                                .chars()
                                .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
                        {
                            if value.is_empty() && j < chars.len() && chars[j] == '"' {
                                let (s, next) = read_quoted(j)?;
                                out.push((at, Tok::Field(field.to_owned(), s)));
                                i = next;
                                continue;
                            }
                            if value.is_empty() {
                                return Err(err(
                                    at + field.chars().count() + 1,
                                    format!("expected a value after `{field}:`"),
                                ));
                            }
                            out.push((at, Tok::Field(field.to_owned(), value.to_owned())));
                        } else {
                            out.push((at, Tok::Word(word)));
                        }
                    }
                }
                i = j;
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end_column: usize,
    tokeniser: &'a Tokeniser,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn column(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_column, |(c, _)| *c)
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            column: self.column(),
            message: message.into(),
        }
    }

    fn or(&mut self) -> Result<Query, ParseError> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Query, ParseError> {
        let mut parts = vec![self.unary()?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    parts.push(self.unary()?);
                }
                Some(Tok::Or | Tok::Close) | None => break,
                Some(_) => parts.push(self.unary()?),
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Query, ParseError> {
        match self.peek() {
            Some(Tok::Not | Tok::Minus) => {
                self.pos += 1;
                if matches!(self.peek(), None | Some(Tok::Close | Tok::And | Tok::Or)) {
                    return Err(self.err("expected a term after NOT or -"));
                }
                Ok(Query::Not(Box::new(self.unary()?)))
            }
            _ => self.atom(),
        }
    }

    fn item(&self, text: &str, column: usize) -> Result<Item, ParseError> {
        parse_item(text, true, self.tokeniser).map_err(|message| ParseError { column, message })
    }

    fn atom(&mut self) -> Result<Query, ParseError> {
        let column = self.column();
        let Some((_, tok)) = self.toks.get(self.pos).cloned() else {
            return Err(self.err("expected a word, a \"phrase\" or ( at the end of the query"));
        };
        self.pos += 1;
        match tok {
            Tok::Word(w) => Ok(Query::Item(self.item(&w, column)?)),
            Tok::Phrase(p) => Ok(Query::Item(self.item(&p, column)?)),
            Tok::Field(f, v) if f == "theme" => Ok(Query::Theme(v)),
            Tok::Field(field, value) => Ok(Query::Field { field, value }),
            Tok::Open => {
                let inner = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(self.err(format!("expected ) to close the ( at column {column}")));
                }
                self.pos += 1;
                Ok(inner)
            }
            Tok::Near(distance) => {
                if self.peek() != Some(&Tok::Open) {
                    return Err(self.err("expected ( after NEAR/n, as in NEAR/3(kinship care)"));
                }
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    let col = self.column();
                    match self.toks.get(self.pos).cloned() {
                        Some((_, Tok::Word(w))) | Some((_, Tok::Phrase(w))) => {
                            items.push(self.item(&w, col)?);
                            self.pos += 1;
                        }
                        Some((_, Tok::Close)) => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err(self.err("expected a word or ) inside NEAR/n( … )")),
                    }
                }
                if items.len() < 2 {
                    return Err(ParseError {
                        column,
                        message: "NEAR/n needs at least two words".into(),
                    });
                }
                Ok(Query::Near { items, distance })
            }
            Tok::Close => Err(ParseError {
                column,
                message: "unexpected ): no ( to close".into(),
            }),
            Tok::And | Tok::Or => Err(ParseError {
                column,
                message: "expected a word before AND/OR".into(),
            }),
            Tok::Not | Tok::Minus => Err(ParseError {
                column,
                message: "expected a term".into(),
            }),
        }
    }
}

/// Parse a query. Errors give the column and what was expected.
pub fn parse(query: &str) -> Result<Query, ParseError> {
    let toks = lex(query)?;
    if toks.is_empty() {
        return Err(ParseError {
            column: 1,
            message: "empty query: expected a word, a \"phrase\" or field:value".into(),
        });
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end_column: query.chars().count() + 1,
        tokeniser: Tokeniser::shared(),
    };
    let q = p.or()?;
    if p.pos < p.toks.len() {
        return Err(p.err("unexpected ): no ( to close"));
    }
    Ok(q)
}

impl Query {
    /// Items that show as highlights: every positive word, phrase and NEAR item.
    pub fn positive_items(&self) -> Vec<Item> {
        let mut out = Vec::new();
        self.collect_positive(&mut out);
        out
    }

    fn collect_positive(&self, out: &mut Vec<Item>) {
        match self {
            Query::Item(i) => out.push(i.clone()),
            Query::Near { items, .. } => out.extend(items.iter().cloned()),
            Query::And(qs) | Query::Or(qs) => qs.iter().for_each(|q| q.collect_positive(out)),
            Query::Not(_) | Query::Field { .. } | Query::Theme(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operators_and_fields() {
        let q =
            parse("kinship OR \"special guardianship\" -ofsted region:\"North East\" theme:care")
                .unwrap();
        let Query::Or(parts) = q else { panic!() };
        assert_eq!(parts.len(), 2);
        let Query::And(rest) = &parts[1] else {
            panic!()
        };
        assert!(matches!(rest[1], Query::Not(_)));
        assert_eq!(
            rest[2],
            Query::Field {
                field: "region".into(),
                value: "North East".into()
            }
        );
        assert_eq!(rest[3], Query::Theme("care".into()));
    }

    #[test]
    fn errors_give_positions() {
        assert_eq!(parse("(kinship care").unwrap_err().column, 14);
        assert_eq!(parse("care \"open").unwrap_err().column, 6);
        assert_eq!(parse("care AND").unwrap_err().column, 9);
        assert!(parse("NEAR/x(a b)").unwrap_err().message.contains("number"));
        assert!(parse("NEAR/3(a)").is_err());
        assert!(parse("a)").unwrap_err().message.contains("no ("));
    }
}
