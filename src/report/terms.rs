//! Distinctive terms per theme: the log-odds ratio with an informative
//! Dirichlet prior (Monroe, Colaresi & Quinn 2008) over unit document
//! frequencies of stems, from the shared tokeniser. Stopwords, numbers and
//! stems under three letters are left out.

use rustc_hash::FxHashMap as HashMap;

use super::KeyTerm;
use crate::text::TokenizedText;

/// Total pseudo-count of the prior, spread over stems by their corpus frequency.
const PRIOR_MASS: f64 = 500.0;
/// A key term must occur in at least this many units of the theme.
const MIN_UNITS: u32 = 2;

#[derive(Default)]
pub struct TermStats {
    /// stem → (units containing it, per-theme units containing it)
    df: HashMap<String, (u32, Vec<u32>)>,
    /// stem → its first-seen surface form, shown to readers.
    surface: HashMap<String, String>,
    units: u64,
    units_per_theme: Vec<u64>,
}

impl TermStats {
    pub fn new(themes: usize) -> Self {
        TermStats {
            df: HashMap::default(),
            surface: HashMap::default(),
            units: 0,
            units_per_theme: vec![0; themes],
        }
    }

    pub fn add(&mut self, tokens: &TokenizedText, themes: &[usize]) {
        self.units += 1;
        for t in themes {
            self.units_per_theme[*t] += 1;
        }
        // Distinct content stems of this unit, each with its first surface form.
        let mut seen: Vec<(&str, usize)> = Vec::with_capacity(tokens.len());
        for (i, tok) in tokens.tokens().iter().enumerate() {
            if tok.is_stopword {
                continue;
            }
            let stem = tokens.stem(i);
            if stem.len() < 3 || !stem.chars().all(char::is_alphabetic) {
                continue;
            }
            seen.push((stem, i));
        }
        // Stable sort keeps the first occurrence of each stem first.
        seen.sort_by(|a, b| a.0.cmp(b.0));
        seen.dedup_by(|a, b| a.0 == b.0);
        for (stem, i) in &seen {
            if !self.surface.contains_key(*stem) {
                self.surface
                    .insert((*stem).to_owned(), tokens.lower(*i).to_owned());
            }
        }
        let seen = seen.into_iter().map(|(stem, _)| stem);
        let n_themes = self.units_per_theme.len();
        for stem in seen {
            let entry = match self.df.get_mut(stem) {
                Some(e) => e,
                None => self
                    .df
                    .entry(stem.to_owned())
                    .or_insert_with(|| (0, vec![0; n_themes])),
            };
            entry.0 += 1;
            for t in themes {
                entry.1[*t] += 1;
            }
        }
    }

    /// Fold another partial count into this one (batches are counted in
    /// parallel, then merged in input order so surface forms stay first-seen).
    pub fn merge(&mut self, other: TermStats) {
        self.units += other.units;
        if self.units_per_theme.len() < other.units_per_theme.len() {
            self.units_per_theme.resize(other.units_per_theme.len(), 0);
        }
        for (a, b) in self.units_per_theme.iter_mut().zip(&other.units_per_theme) {
            *a += b;
        }
        for (stem, (n, per)) in other.df {
            match self.df.get_mut(&stem) {
                Some(e) => {
                    e.0 += n;
                    for (a, b) in e.1.iter_mut().zip(per) {
                        *a += b;
                    }
                }
                None => {
                    self.df.insert(stem, (n, per));
                }
            }
        }
        for (stem, surface) in other.surface {
            self.surface.entry(stem).or_insert(surface);
        }
    }

    /// Top `k` terms per theme by z-score, ties broken by stem.
    pub fn key_terms(&self, k: usize) -> Vec<Vec<KeyTerm>> {
        let total_df: f64 = self.df.values().map(|(n, _)| *n as f64).sum();
        (0..self.units_per_theme.len())
            .map(|t| {
                let n_theme: f64 = self.df.values().map(|(_, per)| per[t] as f64).sum();
                let n_rest = total_df - n_theme;
                let mut scored: Vec<KeyTerm> = self
                    .df
                    .iter()
                    .filter(|(_, (_, per))| per[t] >= MIN_UNITS)
                    .map(|(stem, (all, per))| {
                        let y_t = per[t] as f64;
                        let y_r = (*all - per[t]) as f64;
                        let alpha = PRIOR_MASS * (*all as f64) / total_df.max(1.0);
                        let a0 = PRIOR_MASS;
                        let delta = ((y_t + alpha) / (n_theme + a0 - y_t - alpha)).ln()
                            - ((y_r + alpha) / (n_rest + a0 - y_r - alpha).max(1e-9)).ln();
                        let var = 1.0 / (y_t + alpha) + 1.0 / (y_r + alpha);
                        KeyTerm {
                            term: self
                                .surface
                                .get(stem)
                                .cloned()
                                .unwrap_or_else(|| stem.clone()),
                            stem: stem.clone(),
                            units: per[t] as u64,
                            z: delta / var.sqrt(),
                        }
                    })
                    .filter(|kt| kt.z.is_finite() && kt.z > 0.0)
                    .collect();
                scored.sort_by(|a, b| b.z.total_cmp(&a.z).then_with(|| a.stem.cmp(&b.stem)));
                scored.truncate(k);
                for kt in &mut scored {
                    kt.z = (kt.z * 1000.0).round() / 1000.0;
                }
                scored
            })
            .collect()
    }
}
