//! A run opened for browsing: the index and units.bin for finding units, the
//! run's codebook for re-deriving evidence, and the analysts' corrections
//! resolved to unit ordinals so every count and chip the pages show already
//! includes them (before any `thematic report`).
//!
//! Invariant: the themes shown for a unit are units.bin's themes with the
//! corrections in effect applied in the order they were made. units.bin may
//! already hold some of them (it was written by a `code`/`report` that read
//! overrides.jsonl); applying a correction twice changes nothing.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustc_hash::FxHashMap;

use crate::classify::{Classifier, Coding};
use crate::codebook::Codebook;
use crate::index::StoredUnit;
use crate::overrides::{Action, Override, Overrides};
use crate::pipeline::{Manifest, files, read_manifest};
use crate::search::{Searcher, UNITS_FILE, Units};
use crate::text::Tokeniser;

use super::ServeError;

/// Rows per page in the response browser.
pub const PAGE_SIZE: usize = 50;

pub struct RunView {
    pub out: PathBuf,
    pub manifest: Manifest,
    searcher: Searcher,
    classifier: Classifier,
    overrides: Overrides,
    /// Corrections by unit ordinal, oldest first: (theme index, action).
    overlay: FxHashMap<u64, Vec<(usize, Action)>>,
    /// units.bin's modification time when loaded: a later `code` or
    /// `report` replaces it, and the view reloads.
    loaded_at: Option<SystemTime>,
}

/// What the browser asked for.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub query: Option<String>,
    /// A theme id, or [`NO_THEME`] for units with none.
    pub theme: Option<String>,
    pub question: Option<String>,
    /// (attribute, value), compared case-insensitively.
    pub attributes: Vec<(String, String)>,
    pub page: usize,
}

/// The `theme` filter value selecting uncoded units.
pub const NO_THEME: &str = "(none)";

/// One row of the browser.
pub struct Row {
    pub unit: StoredUnit,
    pub themes: Vec<usize>,
    pub flagged: bool,
}

pub struct Page {
    pub total: usize,
    pub rows: Vec<Row>,
    pub page: usize,
    pub pages: usize,
}

/// Per-theme response counts, and by the main attribute's values.
pub struct Dashboard {
    pub responses: u64,
    pub units: u64,
    pub flagged: u64,
    pub uncoded: u64,
    /// Responses per theme (a response counts once whatever its questions).
    pub themes: Vec<u64>,
    /// The attribute the crosstab is by, with its values.
    pub by: Option<(String, Vec<String>)>,
    /// `crosstab[theme][value]` responses.
    pub crosstab: Vec<Vec<u64>>,
    pub overrides_in_effect: usize,
}

/// One unit of a response, with its evidence re-derived and corrections applied.
pub struct UnitView {
    pub unit: StoredUnit,
    pub coding: Coding,
    /// Corrections in effect for this unit.
    pub overrides: Vec<Override>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl RunView {
    pub fn open(out: &Path) -> Result<RunView, ServeError> {
        let manifest = read_manifest(out)?;
        let loaded_at = modified(&out.join(UNITS_FILE));
        let searcher = Searcher::open(out)?;
        let codebook = Codebook::from_path(&out.join(files::CODEBOOK))?;
        // units.bin numbers themes by the codebook that wrote it; a
        // codebook.toml edited by hand since would misname every count.
        let ids: Vec<&str> = codebook.themes.iter().map(|t| t.id.as_str()).collect();
        if searcher.units().header.themes != ids {
            return Err(ServeError::Inconsistent(format!(
                "{}: codebook.toml does not match the coded run (units.bin); run `thematic code --out {} --codebook FILE` to re-code with it",
                out.display(),
                out.display()
            )));
        }
        let classifier = Classifier::new(codebook)?;
        let overrides = Overrides::load(out)?;
        let mut view = RunView {
            out: out.to_owned(),
            manifest,
            searcher,
            classifier,
            overrides,
            overlay: FxHashMap::default(),
            loaded_at,
        };
        view.resolve_overlay()?;
        Ok(view)
    }

    /// True when a `code`, `report` or `run` has replaced the run since it was opened.
    pub fn is_stale(&self) -> bool {
        modified(&self.out.join(UNITS_FILE)) != self.loaded_at
    }

    pub fn codebook(&self) -> &Codebook {
        self.classifier.codebook()
    }

    pub fn units(&self) -> &Units {
        self.searcher.units()
    }

    pub fn overrides(&self) -> &Overrides {
        &self.overrides
    }

    fn resolve_overlay(&mut self) -> Result<(), ServeError> {
        let mut overlay: FxHashMap<u64, Vec<(usize, Action)>> = FxHashMap::default();
        let mut units_of: FxHashMap<String, Vec<StoredUnit>> = FxHashMap::default();
        for (_, o) in self.overrides.in_effect() {
            if !units_of.contains_key(&o.id) {
                let units = self.searcher.response_units(&o.id)?;
                units_of.insert(o.id.clone(), units);
            }
            let units = units_of.get(&o.id).map_or(&[][..], Vec::as_slice);
            self.overlay_one(&mut overlay, o, units);
        }
        self.overlay = overlay;
        Ok(())
    }

    /// Add one correction to `overlay`, after those already there.
    fn overlay_one(
        &self,
        overlay: &mut FxHashMap<u64, Vec<(usize, Action)>>,
        o: &Override,
        units: &[StoredUnit],
    ) {
        let Some(theme) = self.theme_index(&o.theme) else {
            return;
        };
        for u in units {
            if o.question.as_deref().is_none_or(|q| q == u.question) {
                overlay.entry(u.ord).or_default().push((theme, o.action));
            }
        }
    }

    pub fn theme_index(&self, id: &str) -> Option<usize> {
        self.codebook().themes.iter().position(|t| t.id == id)
    }

    /// The themes of unit `ord` with corrections applied.
    pub fn themes(&self, ord: u64) -> Vec<usize> {
        let mut themes = self.units().themes(ord);
        for &(theme, action) in self.overlay.get(&ord).into_iter().flatten() {
            match action {
                Action::Add if !themes.contains(&theme) => {
                    let at = themes.partition_point(|t| *t < theme);
                    themes.insert(at, theme);
                }
                Action::Remove => themes.retain(|t| *t != theme),
                _ => {}
            }
        }
        themes
    }

    fn has_theme(&self, ord: u64, theme: usize) -> bool {
        match self.overlay.get(&ord) {
            None => self.units().has_theme(ord, theme),
            Some(_) => self.themes(ord).contains(&theme),
        }
    }

    pub fn is_flagged(&self, ord: u64) -> bool {
        !self.units().flags(ord).is_empty()
    }

    /// Counts for the dashboard, corrections included.
    pub fn dashboard(&self) -> Dashboard {
        let units = self.units();
        let n_themes = self.codebook().themes.len();
        let header = &units.header;
        let by_name = self
            .manifest
            .report
            .by
            .as_deref()
            .unwrap_or(crate::report::DEFAULT_BY);
        let by = header
            .attributes
            .iter()
            .position(|a| a.name == by_name)
            .or_else(|| header.attributes.iter().position(|a| a.values.len() <= 20));
        let by_values = by.map_or(0, |a| header.attributes[a].values.len());
        let mut d = Dashboard {
            responses: 0,
            units: units.len(),
            flagged: 0,
            uncoded: 0,
            themes: vec![0; n_themes],
            by: by.map(|a| {
                (
                    header.attributes[a].name.clone(),
                    header.attributes[a].values.clone(),
                )
            }),
            crosstab: vec![vec![0; by_values]; n_themes],
            overrides_in_effect: self.overrides.in_effect().count(),
        };
        // Units of a response are consecutive: gather a response's themes,
        // then count it once.
        let mut current: Option<u32> = None;
        let mut seen = vec![false; n_themes];
        let mut flagged = false;
        let mut value = None;
        let finish =
            |seen: &mut Vec<bool>, flagged: bool, value: Option<u32>, d: &mut Dashboard| {
                d.responses += 1;
                if flagged {
                    d.flagged += 1;
                }
                if !seen.iter().any(|s| *s) {
                    d.uncoded += 1;
                }
                for (t, s) in seen.iter_mut().enumerate() {
                    if *s {
                        d.themes[t] += 1;
                        if let Some(c) = value.and_then(|v| d.crosstab[t].get_mut(v as usize)) {
                            *c += 1;
                        }
                    }
                    *s = false;
                }
            };
        for ord in 0..units.len() {
            let response = units.response(ord);
            if current.is_some() && response != current {
                finish(&mut seen, flagged, value, &mut d);
                flagged = false;
                value = None;
            }
            current = response;
            for t in self.themes(ord) {
                seen[t] = true;
            }
            flagged |= self.is_flagged(ord);
            if value.is_none() {
                value = by.and_then(|a| units.attribute(ord, a));
            }
        }
        if current.is_some() {
            finish(&mut seen, flagged, value, &mut d);
        }
        d
    }

    /// One page of units matching `filter`, in corpus order.
    pub fn browse(&self, filter: &Filter) -> Result<Page, ServeError> {
        let units = self.units();
        let header = &units.header;
        let theme = match filter.theme.as_deref() {
            None => None,
            Some(NO_THEME) => Some(None),
            Some(id) => Some(Some(self.theme_index(id).ok_or_else(|| {
                ServeError::BadRequest(format!("no theme `{id}` in this run"))
            })?)),
        };
        if let Some(q) = &filter.question
            && !self.manifest.questions.contains(q)
        {
            return Err(ServeError::BadRequest(format!(
                "no question `{q}` in this run"
            )));
        }
        let mut attribute_tests = Vec::new();
        for (name, value) in &filter.attributes {
            let a = header
                .attributes
                .iter()
                .position(|a| a.name == *name)
                .ok_or_else(|| {
                    ServeError::BadRequest(format!("no attribute `{name}` in this run"))
                })?;
            attribute_tests.push((a, header.attributes[a].matching(value)));
        }
        let question = if self.manifest.questions.len() > 1 {
            filter.question.as_deref()
        } else {
            None
        };
        let candidates = self
            .searcher
            .browse_ordinals(filter.query.as_deref(), question)
            .map_err(|e| ServeError::BadRequest(e.to_string()))?;
        let matching: Vec<u64> = candidates
            .into_iter()
            .filter(|&ord| match theme {
                None => true,
                Some(None) => self.themes(ord).is_empty(),
                Some(Some(t)) => self.has_theme(ord, t),
            })
            .filter(|&ord| {
                attribute_tests.iter().all(|(a, values)| {
                    units
                        .attribute(ord, *a)
                        .is_some_and(|v| values.contains(&v))
                })
            })
            .collect();
        let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
        let page = filter.page.clamp(1, pages);
        let mut rows = Vec::new();
        for &ord in matching.iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE) {
            let Some(unit) = self.searcher.unit(ord)? else {
                continue;
            };
            rows.push(Row {
                themes: self.themes(ord),
                flagged: self.is_flagged(ord),
                unit,
            });
        }
        Ok(Page {
            total: matching.len(),
            rows,
            page,
            pages,
        })
    }

    /// Every unit of response `id`, classified again for its evidence, with
    /// corrections applied; `None` if the run has no such response.
    pub fn response(&self, id: &str) -> Result<Option<Vec<UnitView>>, ServeError> {
        let units = self.searcher.response_units(id)?;
        if units.is_empty() {
            return Ok(None);
        }
        let mut views = Vec::with_capacity(units.len());
        for unit in units {
            let tokens = Tokeniser::shared().tokenise(&unit.text);
            let mut coding = self.classifier.classify(&unit.text, &tokens);
            let applied =
                self.overrides
                    .apply(self.codebook(), &unit.id, &unit.question, &mut coding);
            let overrides = applied
                .entries
                .iter()
                .filter_map(|&e| self.overrides.entry(e).cloned())
                .collect();
            views.push(UnitView {
                unit,
                coding,
                overrides,
            });
        }
        Ok(Some(views))
    }

    /// Record a correction: append it to overrides.jsonl, then show it.
    /// Applying corrections in the order made gives the latest the last
    /// word, so a new one is only appended to the overlay: no re-resolving
    /// of the earlier ones.
    /// It is checked against the run before anything is written: an unknown
    /// theme or question is a 400, an unknown response a 404.
    pub fn correct(&mut self, o: Override) -> Result<(), ServeError> {
        if self.theme_index(&o.theme).is_none() {
            return Err(ServeError::BadRequest(format!(
                "no theme `{}` in this run's codebook",
                o.theme
            )));
        }
        let units = self.searcher.response_units(&o.id)?;
        if units.is_empty() {
            return Err(ServeError::NotFound(format!(
                "no response with id `{}` in this run",
                o.id
            )));
        }
        if let Some(q) = &o.question
            && !units.iter().any(|u| u.question == *q)
        {
            return Err(ServeError::BadRequest(format!(
                "response `{}` has no answer to question `{q}`",
                o.id
            )));
        }
        crate::overrides::append(&self.out, &o)?;
        let mut overlay = std::mem::take(&mut self.overlay);
        self.overlay_one(&mut overlay, &o, &units);
        self.overlay = overlay;
        self.overrides.push(o);
        Ok(())
    }
}
