//! `OUT/units.bin`: per-unit themes, flags and attribute values, indexed by
//! the unit ordinal (tantivy's `ord` fast field). `run` and `code` rewrite it,
//! so theme filters and counts in search always reflect the latest coding
//! without touching the index.
//!
//! Layout: one JSON header line (`UnitsHeader`), then `units` fixed-size
//! little-endian records: theme mask words, flag mask words, one `u32` value
//! index per attribute (`u32::MAX` = absent), then the `u32` number of the
//! response the unit belongs to (units of one response are consecutive).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::spool::{ByteSpool, put_varint};

pub const UNITS_FILE: &str = "units.bin";
const ABSENT: u32 = u32::MAX;
const SCHEMA: u32 = 2;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UnitsHeader {
    pub schema: u32,
    pub units: u64,
    pub themes: Vec<String>,
    pub flags: Vec<String>,
    pub attributes: Vec<AttributeValues>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttributeValues {
    pub name: String,
    pub values: Vec<String>,
}

impl AttributeValues {
    /// Indexes of the values equal to `value`, ignoring case.
    pub fn matching(&self, value: &str) -> Vec<u32> {
        let wanted = value.to_lowercase();
        self.values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.to_lowercase() == wanted)
            .map(|(i, _)| i as u32)
            .collect()
    }
}

fn words(n: usize) -> usize {
    n.div_ceil(64).max(1)
}

/// Builds units.bin while units stream past. The attribute values (the
/// header) are known only at the end, and they fix the record size, so each
/// unit's row waits in a [`ByteSpool`] in compact form (on disk during a
/// run) until [`UnitsWriter::write_to`] streams the file out.
pub struct UnitsWriter {
    header: UnitsHeader,
    value_index: Vec<rustc_hash::FxHashMap<String, u32>>,
    attr_index: rustc_hash::FxHashMap<String, usize>,
    /// Per unit, as varints: the response, the theme then flag mask words,
    /// the number of (attribute, value) pairs, the pairs.
    rows: ByteSpool,
    row: Vec<u8>,
    masks: Vec<u64>,
}

impl UnitsWriter {
    pub fn new(themes: Vec<String>, flags: Vec<String>) -> Self {
        UnitsWriter {
            header: UnitsHeader {
                schema: SCHEMA,
                units: 0,
                themes,
                flags,
                attributes: Vec::new(),
            },
            value_index: Vec::new(),
            attr_index: rustc_hash::FxHashMap::default(),
            rows: ByteSpool::in_memory(),
            row: Vec::new(),
            masks: Vec::new(),
        }
    }

    /// Keep the rows in an unnamed file in `dir` (see [`crate::spool`]).
    /// Call before the first unit.
    pub fn spool_in(&mut self, dir: &Path) {
        if self.header.units == 0 {
            self.rows = ByteSpool::in_dir(dir);
        }
    }

    fn mask_words(&self) -> (usize, usize) {
        (
            words(self.header.themes.len()),
            words(self.header.flags.len()),
        )
    }

    /// Add the next unit (ordinals must arrive in order); `response` numbers
    /// the response it belongs to.
    pub fn push(
        &mut self,
        response: u64,
        themes: &[usize],
        flags: &[usize],
        attributes: &[(String, String)],
    ) {
        let (theme_words, flag_words) = self.mask_words();
        self.masks.clear();
        self.masks.resize(theme_words + flag_words, 0);
        for t in themes {
            self.masks[t / 64] |= 1 << (t % 64);
        }
        for f in flags {
            self.masks[theme_words + f / 64] |= 1 << (f % 64);
        }
        self.row.clear();
        put_varint(&mut self.row, response);
        for m in &self.masks {
            put_varint(&mut self.row, *m);
        }
        put_varint(&mut self.row, attributes.len() as u64);
        for (name, value) in attributes {
            let a = match self.attr_index.get(name) {
                Some(a) => *a,
                None => {
                    let a = self.header.attributes.len();
                    self.header.attributes.push(AttributeValues {
                        name: name.clone(),
                        values: Vec::new(),
                    });
                    self.value_index.push(Default::default());
                    self.attr_index.insert(name.clone(), a);
                    a
                }
            };
            let values = &mut self.header.attributes[a].values;
            let v = *self.value_index[a].entry(value.clone()).or_insert_with(|| {
                values.push(value.clone());
                (values.len() - 1) as u32
            });
            put_varint(&mut self.row, a as u64);
            put_varint(&mut self.row, u64::from(v));
        }
        self.rows.append(&self.row);
        self.header.units += 1;
    }

    /// Write units.bin: the header line, then one fixed-size record per unit.
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, &self.header)?;
        out.write_all(b"\n")?;
        let n_attrs = self.header.attributes.len();
        let (theme_words, flag_words) = self.mask_words();
        let mut values = vec![ABSENT; n_attrs];
        let mut record = Vec::new();
        let mut rows = self.rows.reader();
        for _ in 0..self.header.units {
            record.clear();
            let response = rows.varint()?;
            for _ in 0..theme_words + flag_words {
                record.extend_from_slice(&rows.varint()?.to_le_bytes());
            }
            values.fill(ABSENT);
            for _ in 0..rows.varint()? {
                let (a, v): (usize, u32) = (rows.varint_as()?, rows.varint_as()?);
                if let Some(slot) = values.get_mut(a) {
                    *slot = v;
                }
            }
            for v in &values {
                record.extend_from_slice(&v.to_le_bytes());
            }
            record.extend_from_slice(&(response as u32).to_le_bytes());
            out.write_all(&record)?;
        }
        Ok(())
    }
}

/// units.bin, loaded for lookups by ordinal.
#[derive(Debug)]
pub struct Units {
    pub header: UnitsHeader,
    theme_words: usize,
    flag_words: usize,
    record_len: usize,
    body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}; re-run `thematic run` or `thematic code` to rebuild it")]
pub struct UnitsError {
    pub path: String,
    pub message: String,
}

impl Units {
    pub fn load(path: &Path) -> Result<Units, UnitsError> {
        let err = |message: String| UnitsError {
            path: path.display().to_string(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let nl = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| err("no header".into()))?;
        let header: UnitsHeader =
            serde_json::from_slice(&bytes[..nl]).map_err(|e| err(format!("bad header: {e}")))?;
        let theme_words = words(header.themes.len());
        let flag_words = words(header.flags.len());
        if header.schema != SCHEMA {
            return Err(err(format!(
                "written by another version of thematic (schema {}, expected {SCHEMA})",
                header.schema
            )));
        }
        let record_len = 8 * (theme_words + flag_words) + 4 * header.attributes.len() + 4;
        let body = bytes[nl + 1..].to_vec();
        if body.len() as u64 != header.units * record_len as u64 {
            return Err(err("truncated".into()));
        }
        Ok(Units {
            header,
            theme_words,
            flag_words,
            record_len,
            body,
        })
    }

    pub fn len(&self) -> u64 {
        self.header.units
    }

    pub fn is_empty(&self) -> bool {
        self.header.units == 0
    }

    fn record(&self, ord: u64) -> Option<&[u8]> {
        let start = (ord as usize).checked_mul(self.record_len)?;
        self.body.get(start..start + self.record_len)
    }

    fn word(rec: &[u8], i: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&rec[i * 8..i * 8 + 8]);
        u64::from_le_bytes(b)
    }

    pub fn has_theme(&self, ord: u64, theme: usize) -> bool {
        self.record(ord)
            .is_some_and(|r| Self::word(r, theme / 64) & (1 << (theme % 64)) != 0)
    }

    /// Add unit `ord`'s themes and attribute values to per-theme and
    /// per-attribute-value counters, reading its record once.
    pub fn count_into(&self, ord: u64, themes: &mut [u64], attributes: &mut [Vec<u64>]) {
        let Some(r) = self.record(ord) else {
            return;
        };
        for w in 0..self.theme_words {
            let mut bits = Self::word(r, w);
            while bits != 0 {
                if let Some(c) = themes.get_mut(w * 64 + bits.trailing_zeros() as usize) {
                    *c += 1;
                }
                bits &= bits - 1;
            }
        }
        for (a, counts) in attributes.iter_mut().enumerate() {
            if let Some(c) = self
                .attribute_in(r, a)
                .and_then(|v| counts.get_mut(v as usize))
            {
                *c += 1;
            }
        }
    }

    pub fn themes(&self, ord: u64) -> Vec<usize> {
        (0..self.header.themes.len())
            .filter(|t| self.has_theme(ord, *t))
            .collect()
    }

    pub fn flags(&self, ord: u64) -> Vec<usize> {
        let Some(r) = self.record(ord) else {
            return Vec::new();
        };
        (0..self.header.flags.len())
            .filter(|f| Self::word(r, self.theme_words + f / 64) & (1 << (f % 64)) != 0)
            .collect()
    }

    /// Value index of attribute `a` for unit `ord`.
    pub fn attribute(&self, ord: u64, a: usize) -> Option<u32> {
        self.attribute_in(self.record(ord)?, a)
    }

    /// Value index of attribute `a` in the record `r`.
    fn attribute_in(&self, r: &[u8], a: usize) -> Option<u32> {
        let at = 8 * (self.theme_words + self.flag_words) + 4 * a;
        let mut b = [0u8; 4];
        b.copy_from_slice(r.get(at..at + 4)?);
        let v = u32::from_le_bytes(b);
        (v != ABSENT).then_some(v)
    }

    /// The number of the response unit `ord` belongs to.
    pub fn response(&self, ord: u64) -> Option<u32> {
        let r = self.record(ord)?;
        let mut b = [0u8; 4];
        b.copy_from_slice(&r[self.record_len - 4..]);
        Some(u32::from_le_bytes(b))
    }

    pub fn theme_index(&self, id: &str) -> Option<usize> {
        self.header.themes.iter().position(|t| t == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 70 themes (two mask words), attributes that appear part-way through
    /// the corpus, and enough units to spill the rows to disk: the file
    /// read back holds every unit as pushed.
    #[test]
    fn spooled_rows_write_the_units_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let themes: Vec<String> = (0..70).map(|t| format!("t{t}")).collect();
        let flags = vec!["safeguarding".to_owned()];
        let mut spooled = UnitsWriter::new(themes.clone(), flags.clone());
        spooled.spool_in(dir.path());
        let mut memory = UnitsWriter::new(themes, flags);
        let n = 200_000u64;
        let unit = |i: u64| {
            let themes: Vec<usize> = (0..70)
                .filter(|t| (i + *t as u64).is_multiple_of(23))
                .collect();
            let flags: Vec<usize> = if i.is_multiple_of(97) {
                vec![0]
            } else {
                vec![]
            };
            let mut attrs = vec![("region".to_owned(), format!("r{}", i % 9))];
            if i > n / 2 {
                attrs.push(("age".to_owned(), format!("{}", i % 5)));
            }
            (i / 2, themes, flags, attrs)
        };
        for i in 0..n {
            let (response, themes, flags, attrs) = unit(i);
            spooled.push(response, &themes, &flags, &attrs);
            memory.push(response, &themes, &flags, &attrs);
        }
        assert!(spooled.rows.spilled() > 0, "the rows went to disk");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        spooled.write_to(&mut a).unwrap();
        memory.write_to(&mut b).unwrap();
        assert!(a == b, "spooled and in-memory files differ");
        let path = dir.path().join(UNITS_FILE);
        std::fs::write(&path, &a).unwrap();
        let units = Units::load(&path).unwrap();
        assert_eq!(units.len(), n);
        let age = units.header.attributes.iter().position(|a| a.name == "age");
        for i in [0, 1, 22, 97, n / 2, n / 2 + 1, n - 1] {
            let (response, themes, flags, attrs) = unit(i);
            assert_eq!(units.response(i), Some(response as u32));
            assert_eq!(units.themes(i), themes, "unit {i}");
            assert_eq!(units.flags(i), flags, "unit {i}");
            let age_value = age.and_then(|a| units.attribute(i, a));
            let expected = attrs.get(1).map(|(_, v)| v.clone());
            assert_eq!(
                age_value.map(|v| units.header.attributes[age.unwrap()].values[v as usize].clone()),
                expected,
                "unit {i}"
            );
        }
    }
}
