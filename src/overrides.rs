//! `OUT/overrides.jsonl`: analysts' corrections to the automatic codes.
//!
//! Each line adds or removes one theme on one response (optionally on one of
//! its questions), with who, when and why. The file is append-only: `serve`
//! appends, nothing rewrites it, and `run`, `code`, `report` and `eval` apply
//! it on top of the classifier's codes. For each (response, question, theme)
//! the latest line wins, so applying the file twice gives the same codes
//! (outputs that already hold the corrections are not corrected twice).
//!
//! An override whose theme is not in the codebook, or whose response is not in
//! the run, is kept in the file and reported as not applied: a re-code with a
//! changed codebook never loses a correction.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::classify::{CodeHit, Coding};
use crate::codebook::Codebook;

pub const OVERRIDES_FILE: &str = "overrides.jsonl";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Remove,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Remove => "remove",
        }
    }
}

/// One correction, as one line of overrides.jsonl.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// When, RFC 3339 UTC.
    pub at: String,
    pub user: String,
    /// The response id.
    pub id: String,
    /// The question; absent means every question of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    pub theme: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Override {
    /// A correction made now by `user`.
    pub fn now(
        user: &str,
        id: &str,
        question: Option<&str>,
        theme: &str,
        action: Action,
        reason: Option<&str>,
    ) -> Override {
        Override {
            at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            user: user.to_owned(),
            id: id.to_owned(),
            question: question.map(str::to_owned),
            theme: theme.to_owned(),
            action,
            reason: reason
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
        }
    }

    fn applies_to(&self, question: &str) -> bool {
        self.question.as_deref().is_none_or(|q| q == question)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    #[error(
        "{path}:{line}: not a valid override ({message}); each line needs at, user, id, theme and action (\"add\" or \"remove\"), with optional question and reason: fix or delete that line"
    )]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: cannot read the overrides: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}: cannot record the correction: {source}; check free space and permissions of the output directory"
    )]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The corrections in effect, looked up by response id.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// In file order.
    entries: Vec<Override>,
    /// `live[e]` is false once a later line superseded entry `e`.
    live: Vec<bool>,
    by_id: FxHashMap<String, Vec<usize>>,
    /// Lines read, superseded ones included.
    lines: usize,
}

/// What applying the overrides to a whole run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OverrideSummary {
    /// Lines in overrides.jsonl.
    pub lines: usize,
    /// Corrections in effect (the latest per response, question and theme).
    pub in_effect: usize,
    /// (unit, correction) pairs applied.
    pub applied: usize,
    /// Of those, how many changed the automatic code.
    pub changed: usize,
    /// Corrections not applied because the codebook has no such theme.
    pub unknown_theme: usize,
    /// Corrections not applied because no unit of the run matches.
    pub unmatched: usize,
}

impl OverrideSummary {
    pub fn not_applied(&self) -> usize {
        self.unknown_theme + self.unmatched
    }
}

impl Overrides {
    /// Read OUT/overrides.jsonl; a missing file means no corrections.
    pub fn load(out: &Path) -> Result<Overrides, OverrideError> {
        let path = out.join(OVERRIDES_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Overrides::default()),
            Err(source) => {
                return Err(OverrideError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        Overrides::parse(&text, &path.display().to_string())
    }

    /// Parse overrides.jsonl text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Overrides, OverrideError> {
        let mut overrides = Overrides::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let o: Override = serde_json::from_str(line).map_err(|e| OverrideError::Parse {
                path: path.to_owned(),
                line: i + 1,
                message: e.to_string(),
            })?;
            if o.id.is_empty() || o.theme.is_empty() {
                return Err(OverrideError::Parse {
                    path: path.to_owned(),
                    line: i + 1,
                    message: "empty id or theme".to_owned(),
                });
            }
            overrides.push(o);
        }
        Ok(overrides)
    }

    /// Add a correction, superseding an earlier one for the same response,
    /// question and theme.
    pub fn push(&mut self, o: Override) {
        self.lines += 1;
        if let Some(list) = self.by_id.get(&o.id)
            && let Some(&old) = list.iter().find(|&&e| {
                let earlier = &self.entries[e];
                self.live[e] && earlier.question == o.question && earlier.theme == o.theme
            })
        {
            self.live[old] = false;
        }
        let at = self.entries.len();
        self.by_id.entry(o.id.clone()).or_default().push(at);
        self.entries.push(o);
        self.live.push(true);
    }

    /// Lines read (superseded ones included).
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// The corrections in effect, in the order they were made.
    pub fn in_effect(&self) -> impl Iterator<Item = (usize, &Override)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(e, _)| self.live[*e])
    }

    pub fn is_empty(&self) -> bool {
        self.in_effect().next().is_none()
    }

    /// Corrections in effect for one unit, oldest first, with their entry numbers.
    pub fn for_unit<'a>(
        &'a self,
        id: &str,
        question: &'a str,
    ) -> impl Iterator<Item = (usize, &'a Override)> + 'a {
        self.by_id
            .get(id)
            .into_iter()
            .flatten()
            .filter(|&&e| self.live[e])
            .map(|&e| (e, &self.entries[e]))
            .filter(move |(_, o)| o.applies_to(question))
    }

    /// Apply the corrections for one unit to its automatic coding. Returns the
    /// entries applied and how many changed a code. Added themes carry no
    /// evidence spans: their evidence is the override itself.
    pub fn apply(
        &self,
        codebook: &Codebook,
        id: &str,
        question: &str,
        coding: &mut Coding,
    ) -> UnitOverrides {
        let mut done = UnitOverrides::default();
        for (entry, o) in self.for_unit(id, question) {
            let Some(theme) = codebook.themes.iter().position(|t| t.id == o.theme) else {
                continue;
            };
            let present = coding.has_theme(theme);
            match o.action {
                Action::Add if !present => {
                    let at = coding.themes.partition_point(|h| h.code < theme);
                    coding.themes.insert(
                        at,
                        CodeHit {
                            code: theme,
                            score: 0.0,
                            evidence: Vec::new(),
                        },
                    );
                    done.changed += 1;
                }
                Action::Remove if present => {
                    coding.themes.retain(|h| h.code != theme);
                    done.changed += 1;
                }
                _ => {}
            }
            done.entries.push(entry);
        }
        done
    }

    /// Apply the corrections for one unit to a list of theme ids (for tools
    /// that read codes.jsonl rather than classify).
    pub fn apply_to_ids(&self, id: &str, question: &str, themes: &mut Vec<String>) -> usize {
        let mut applied = 0;
        for (_, o) in self.for_unit(id, question) {
            match o.action {
                Action::Add if !themes.contains(&o.theme) => themes.push(o.theme.clone()),
                Action::Remove => themes.retain(|t| *t != o.theme),
                _ => {}
            }
            applied += 1;
        }
        applied
    }

    /// The entry with this number (from [`Overrides::apply`]).
    pub fn entry(&self, entry: usize) -> Option<&Override> {
        self.entries.get(entry).filter(|_| self.live[entry])
    }

    /// Summarise a whole run: `matched` holds every entry applied to a unit.
    pub fn summary(
        &self,
        codebook: &Codebook,
        matched: &[bool],
        applied: usize,
        changed: usize,
    ) -> OverrideSummary {
        let mut s = OverrideSummary {
            lines: self.lines,
            applied,
            changed,
            ..Default::default()
        };
        for (e, o) in self.in_effect() {
            s.in_effect += 1;
            if !codebook.themes.iter().any(|t| t.id == o.theme) {
                s.unknown_theme += 1;
            } else if !matched.get(e).copied().unwrap_or(false) {
                s.unmatched += 1;
            }
        }
        s
    }

    /// Number of entries (for sizing a `matched` table).
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }
}

/// The corrections applied to one unit.
#[derive(Clone, Debug, Default)]
pub struct UnitOverrides {
    pub entries: Vec<usize>,
    pub changed: usize,
}

/// Append one correction to OUT/overrides.jsonl as a single write of a whole
/// line, then sync, so a crash never leaves half a line or loses a
/// correction the analyst saw accepted.
pub fn append(out: &Path, o: &Override) -> Result<(), OverrideError> {
    let path = out.join(OVERRIDES_FILE);
    let write_err = |source| OverrideError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut line = serde_json::to_vec(o).map_err(|e| write_err(std::io::Error::other(e)))?;
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(write_err)?;
    file.write_all(&line).map_err(write_err)?;
    file.sync_data().map_err(write_err)?;
    Ok(())
}
