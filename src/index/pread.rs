//! A read-only tantivy [`Directory`] that reads files with positional reads
//! (`pread`) instead of mapping them.
//!
//! Pages of a mapped file count in the process's resident set once touched,
//! and a pass over every stored text (`code`, `report`) or thousands of
//! scattered look-ups (campaign representatives at the end of `run`) touches
//! most of the document store: 389 MB of store files at 1,000,000 responses.
//! Read through this directory, those bytes go through the kernel's page
//! cache and one block buffer at a time, so the resident set stays bounded.
//! Searches (`search`, `serve`) keep the mmap directory, whose random access
//! over term dictionaries and postings is what mapping is good at.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::spool::read_exact_at;
use tantivy::HasLen;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, OwnedBytes, WatchCallback, WatchHandle, WritePtr,
};

/// A directory of index files opened for reading only.
#[derive(Clone, Debug)]
pub struct PreadDirectory {
    root: Arc<PathBuf>,
}

impl PreadDirectory {
    pub fn open(root: &Path) -> Self {
        PreadDirectory {
            root: Arc::new(root.to_owned()),
        }
    }

    fn read_only(path: &Path) -> io::Error {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is opened read-only", path.display()),
        )
    }
}

/// One open file; every read is its own positional read, so handles are
/// shared between threads without a cursor to contend for.
#[derive(Debug)]
struct PreadFile {
    file: File,
    len: usize,
}

impl HasLen for PreadFile {
    fn len(&self) -> usize {
        self.len
    }
}

impl FileHandle for PreadFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.start > range.end || range.end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("read of {range:?} beyond a file of {} bytes", self.len),
            ));
        }
        let mut buffer = vec![0; range.len()];
        read_exact_at(&self.file, &mut buffer, range.start as u64)?;
        Ok(OwnedBytes::new(buffer))
    }
}

fn open_error(error: io::Error, path: &Path) -> OpenReadError {
    if error.kind() == io::ErrorKind::NotFound {
        OpenReadError::FileDoesNotExist(path.to_owned())
    } else {
        OpenReadError::wrap_io_error(error, path.to_owned())
    }
}

impl Directory for PreadDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let full = self.root.join(path);
        let file = File::open(&full).map_err(|e| open_error(e, path))?;
        let len = file.metadata().map_err(|e| open_error(e, path))?.len() as usize;
        Ok(Arc::new(PreadFile { file, len }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(DeleteError::IoError {
            io_error: Arc::new(Self::read_only(path)),
            filepath: path.to_owned(),
        })
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.root
            .join(path)
            .try_exists()
            .map_err(|e| open_error(e, path))
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::wrap_io_error(
            Self::read_only(path),
            path.to_owned(),
        ))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        std::fs::read(self.root.join(path)).map_err(|e| open_error(e, path))
    }

    fn atomic_write(&self, path: &Path, _data: &[u8]) -> io::Result<()> {
        Err(Self::read_only(path))
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    /// Nothing writes through this directory, so readers need no lock
    /// (a lock file would be a write).
    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, _callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ranges_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"0123456789").unwrap();
        let d = PreadDirectory::open(dir.path());
        let f = d.get_file_handle(Path::new("f")).unwrap();
        assert_eq!(f.len(), 10);
        assert_eq!(f.read_bytes(2..5).unwrap().as_slice(), b"234");
        assert_eq!(f.read_bytes(0..10).unwrap().as_slice(), b"0123456789");
        assert!(f.read_bytes(4..4).unwrap().as_slice().is_empty());
        assert!(f.read_bytes(8..11).is_err(), "past the end");
        assert!(matches!(
            d.get_file_handle(Path::new("absent")),
            Err(OpenReadError::FileDoesNotExist(_))
        ));
        assert!(d.exists(Path::new("f")).unwrap());
        assert!(!d.exists(Path::new("absent")).unwrap());
        assert_eq!(d.atomic_read(Path::new("f")).unwrap(), b"0123456789");
        assert!(d.atomic_write(Path::new("g"), b"x").is_err());
        assert!(d.open_write(Path::new("g")).is_err());
        assert!(d.delete(Path::new("f")).is_err());
        assert!(!dir.path().join("g").exists(), "nothing was written");
        assert!(dir.path().join("f").exists(), "nothing was deleted");
    }
}
