//! Append-only byte spools for the per-response state a run must keep until
//! its end: the report's response rows, units.bin's rows and the campaign
//! signatures. Past a small buffer the bytes go to an unnamed file in the
//! output's staging directory (the disk the outputs go to, not a RAM-backed
//! `/tmp`), so what a run holds in memory while it codes does not grow with
//! the corpus. Readers read the file with positional reads, so several may
//! read one spool at once (the workbook thread and the report's counting).
//!
//! Without a directory, or after the disk refuses a write, the bytes stay
//! in memory: a full disk costs memory, never records.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Bytes held in memory before they are written out.
const SPILL_BYTES: usize = 1 << 20;

/// Bytes one reader fetches from the file at a time.
const READ_CHUNK: usize = 1 << 16;

#[derive(Debug, Default)]
pub struct ByteSpool {
    buffer: Vec<u8>,
    file: Option<File>,
    /// Bytes written whole to `file`; they precede `buffer`.
    spilled: u64,
    dir: Option<PathBuf>,
}

impl ByteSpool {
    /// A spool that keeps everything in memory.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// A spool that spills to an unnamed file in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        ByteSpool {
            dir: Some(dir.to_owned()),
            ..Self::default()
        }
    }

    /// Total bytes appended.
    pub fn len(&self) -> u64 {
        self.spilled + self.buffer.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes on disk.
    pub fn spilled(&self) -> u64 {
        self.spilled
    }

    pub fn append(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= SPILL_BYTES && self.spill().is_err() {
            // Keep the bytes here from now on; the file's written part
            // stays valid and is read first.
            self.dir = None;
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        let Some(dir) = self.dir.as_deref() else {
            return Ok(());
        };
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile_in(dir)?),
        };
        file.write_all(&self.buffer)?;
        // Counted only once written whole: after a failed write the buffer
        // still holds these bytes and the file's tail is never read.
        self.spilled += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Every byte appended, in order, from the start.
    pub fn reader(&self) -> SpoolReader<'_> {
        SpoolReader {
            spool: self,
            at: 0,
            chunk: Vec::new(),
            chunk_at: 0,
        }
    }
}

/// Reads a [`ByteSpool`] from its start; buffered, so small reads are cheap.
pub struct SpoolReader<'a> {
    spool: &'a ByteSpool,
    /// Offset of the next byte not yet in `chunk`.
    at: u64,
    chunk: Vec<u8>,
    chunk_at: usize,
}

impl SpoolReader<'_> {
    fn refill(&mut self) -> io::Result<()> {
        let spool = self.spool;
        self.chunk.clear();
        self.chunk_at = 0;
        if self.at < spool.spilled {
            let n = (spool.spilled - self.at).min(READ_CHUNK as u64) as usize;
            self.chunk.resize(n, 0);
            let file = spool.file.as_ref().ok_or_else(|| {
                io::Error::other("the spool counts bytes on disk but has no file")
            })?;
            read_exact_at(file, &mut self.chunk, self.at)?;
            self.at += n as u64;
        } else {
            let from = (self.at - spool.spilled) as usize;
            let to = spool.buffer.len().min(from + READ_CHUNK);
            self.chunk
                .extend_from_slice(&spool.buffer[from.min(to)..to]);
            self.at += (to - from.min(to)) as u64;
        }
        Ok(())
    }

    /// Read one byte; `None` at the end of the spool.
    pub fn byte(&mut self) -> io::Result<Option<u8>> {
        if self.chunk_at == self.chunk.len() {
            self.refill()?;
        }
        let b = self.chunk.get(self.chunk_at).copied();
        self.chunk_at += usize::from(b.is_some());
        Ok(b)
    }

    /// Read an unsigned LEB128 varint, as [`put_varint`] writes it.
    pub fn varint(&mut self) -> io::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?.ok_or_else(truncated)?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a spooled number is longer than 64 bits",
        ))
    }

    /// Read a varint that must fit `T` (an index or count written from
    /// one); a larger value is corrupt data, not something to truncate.
    pub fn varint_as<T: TryFrom<u64>>(&mut self) -> io::Result<T> {
        T::try_from(self.varint()?).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "a spooled number is out of range for its field",
            )
        })
    }
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the spool ends mid-record")
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.chunk_at == self.chunk.len() {
            self.refill()?;
        }
        let n = out.len().min(self.chunk.len() - self.chunk_at);
        out[..n].copy_from_slice(&self.chunk[self.chunk_at..self.chunk_at + n]);
        self.chunk_at += n;
        Ok(n)
    }
}

/// Append `value` as an unsigned LEB128 varint: small numbers (value
/// indexes, theme numbers, gaps between ordinals) take one byte.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Fill `buffer` from `file` at `offset`, without moving a shared cursor.
#[cfg(unix)]
pub(crate) fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buffer, offset)
}

#[cfg(windows)]
pub(crate) fn read_exact_at(file: &File, mut buffer: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buffer.is_empty() {
        match file.seek_read(buffer, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buffer = &mut buffer[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(spool: &ByteSpool) -> Vec<u8> {
        let mut out = Vec::new();
        spool.reader().read_to_end(&mut out).unwrap();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the sizes of the appends, a spool spilled to disk reads
        /// back exactly what was appended, twice over and with two readers
        /// at once.
        #[test]
        fn spilled_bytes_come_back_whole_and_in_order(
            sizes in prop::collection::vec(0usize..400_000, 1..8),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut spool = ByteSpool::in_dir(dir.path());
            let mut expected = Vec::new();
            for (k, n) in sizes.iter().enumerate() {
                let bytes: Vec<u8> = (0..*n).map(|i| (i * 31 + k) as u8).collect();
                spool.append(&bytes);
                expected.extend_from_slice(&bytes);
            }
            prop_assert_eq!(spool.len(), expected.len() as u64);
            let total: usize = sizes.iter().sum();
            prop_assert_eq!(spool.file.is_some(), total >= SPILL_BYTES);
            let (mut a, mut b) = (spool.reader(), spool.reader());
            let (mut left, mut right) = (Vec::new(), Vec::new());
            // Interleaved, in reads of odd sizes: positional reads share
            // no cursor.
            let (mut small, mut large) = (vec![0u8; 4093], vec![0u8; 70_001]);
            loop {
                let n = a.read(&mut small).unwrap();
                left.extend_from_slice(&small[..n]);
                let m = b.read(&mut large).unwrap();
                right.extend_from_slice(&large[..m]);
                if n == 0 {
                    break;
                }
            }
            b.read_to_end(&mut right).unwrap();
            prop_assert!(left == expected, "first reader differs");
            prop_assert!(right == expected, "second reader differs");
            prop_assert!(read_all(&spool) == expected);
        }

        #[test]
        fn varints_round_trip(values in prop::collection::vec(any::<u64>(), 0..200)) {
            let mut spool = ByteSpool::in_memory();
            let mut bytes = Vec::new();
            for v in &values {
                put_varint(&mut bytes, *v);
            }
            spool.append(&bytes);
            let mut r = spool.reader();
            for v in &values {
                prop_assert_eq!(r.varint().unwrap(), *v);
            }
            prop_assert!(r.byte().unwrap().is_none());
            prop_assert_eq!(r.varint().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        }
    }

    #[test]
    fn small_numbers_take_one_byte() {
        let mut bytes = Vec::new();
        put_varint(&mut bytes, 127);
        put_varint(&mut bytes, 128);
        assert_eq!(bytes, [127, 0x80, 1]);
    }
}
