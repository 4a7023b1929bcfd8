//! Distinctive terms per theme: the log-odds ratio with an informative
//! Dirichlet prior (Monroe, Colaresi & Quinn 2008) over unit document
//! frequencies of stems, from the shared tokeniser. Stopwords, numbers and
//! stems under three letters are left out.

use hashbrown::HashTable;

use super::KeyTerm;
use crate::text::{TokenizedText, same_word};

/// Total pseudo-count of the prior, spread over stems by their corpus frequency.
const PRIOR_MASS: f64 = 500.0;
/// A key term must occur in at least this many units of the theme.
const MIN_UNITS: u32 = 2;

pub struct TermStats {
    /// stem → its row in `counts` and `surface`, keyed by the stem's
    /// [`word_hash`] (which tokens carry).
    ids: HashTable<StemRow>,
    /// The first-seen surface form of each stem, shown to readers.
    surface: Vec<Box<str>>,
    /// Flat rows of `stride` counts: units containing the stem, then units
    /// of each theme containing it. One allocation for all stems.
    counts: Vec<u32>,
    /// Per row, the unit that last counted it (`units` at the time): a stem
    /// counts once per unit without sorting the unit's stems.
    last_unit: Vec<u64>,
    stride: usize,
    units: u64,
    units_per_theme: Vec<u64>,
}

struct StemRow {
    stem: Box<str>,
    hash: u64,
    id: u32,
}

impl TermStats {
    pub fn new(themes: usize) -> Self {
        TermStats {
            ids: HashTable::new(),
            surface: Vec::new(),
            counts: Vec::new(),
            last_unit: Vec::new(),
            stride: themes + 1,
            units: 0,
            units_per_theme: vec![0; themes],
        }
    }

    /// The row of `stem` (whose [`word_hash`] is `hash`), created with
    /// `surface` when new.
    fn row(&mut self, stem: &str, hash: u64, surface: &str) -> usize {
        let id = match self
            .ids
            .find(hash, |r| r.hash == hash && same_word(&r.stem, stem))
        {
            Some(r) => r.id,
            None => {
                let id = self.surface.len() as u32;
                self.ids.insert_unique(
                    hash,
                    StemRow {
                        stem: stem.into(),
                        hash,
                        id,
                    },
                    |r| r.hash,
                );
                self.surface.push(surface.into());
                self.counts.resize(self.counts.len() + self.stride, 0);
                self.last_unit.push(0);
                id
            }
        };
        id as usize * self.stride
    }

    pub fn add(&mut self, tokens: &TokenizedText, themes: &[usize]) {
        self.units += 1;
        for t in themes {
            self.units_per_theme[*t] += 1;
        }
        // Each distinct content stem of this unit once; a new stem keeps the
        // surface form of its first occurrence.
        let unit = self.units;
        for (i, tok) in tokens.tokens().iter().enumerate() {
            if tok.is_stopword || !tok.stem_is_alphabetic {
                continue;
            }
            let stem = tokens.stem(i);
            if stem.len() < 3 {
                continue;
            }
            let row = self.row(stem, tokens.stem_hash(i), tokens.lower(i));
            let id = row / self.stride;
            if self.last_unit[id] == unit {
                continue;
            }
            self.last_unit[id] = unit;
            self.counts[row] += 1;
            for t in themes {
                self.counts[row + 1 + *t] += 1;
            }
        }
    }

    fn rows(&self) -> impl Iterator<Item = (&str, usize, &[u32])> {
        self.ids.iter().map(|r| {
            let row = r.id as usize * self.stride;
            (
                &*r.stem,
                r.id as usize,
                &self.counts[row..row + self.stride],
            )
        })
    }

    /// Top `k` terms per theme by z-score, ties broken by stem.
    pub fn key_terms(&self, k: usize) -> Vec<Vec<KeyTerm>> {
        let total_df: f64 = self.rows().map(|(_, _, c)| c[0] as f64).sum();
        (0..self.units_per_theme.len())
            .map(|t| {
                let n_theme: f64 = self.rows().map(|(_, _, c)| c[1 + t] as f64).sum();
                let n_rest = total_df - n_theme;
                let mut scored: Vec<KeyTerm> = self
                    .rows()
                    .filter(|(_, _, c)| c[1 + t] >= MIN_UNITS)
                    .map(|(stem, id, c)| {
                        let (all, in_theme) = (c[0], c[1 + t]);
                        let y_t = in_theme as f64;
                        let y_r = (all - in_theme) as f64;
                        let alpha = PRIOR_MASS * (all as f64) / total_df.max(1.0);
                        let a0 = PRIOR_MASS;
                        let delta = ((y_t + alpha) / (n_theme + a0 - y_t - alpha)).ln()
                            - ((y_r + alpha) / (n_rest + a0 - y_r - alpha).max(1e-9)).ln();
                        let var = 1.0 / (y_t + alpha) + 1.0 / (y_r + alpha);
                        KeyTerm {
                            term: self.surface[id].to_string(),
                            stem: stem.to_owned(),
                            units: in_theme as u64,
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
