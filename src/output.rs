//! The output directory: a lock so two runs never write it at once, and a
//! staging directory so an interrupted run leaves the previous outputs whole.
//!
//! Everything a command writes goes to `OUT/.staging-PID/`; [`OutputDir::commit`]
//! then renames each file and directory into place (a rename within one
//! filesystem is atomic). Dropping an uncommitted [`OutputDir`] removes the
//! staging directory and the lock.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const LOCK_FILE: &str = ".thematic.lock";

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: cannot write the output directory: {source}; choose a writable --out")]
    NotWritable {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}: another thematic command (pid {pid}) is writing this output directory; wait for it to finish or choose another --out (if no such process runs, delete {path}/{LOCK_FILE})"
    )]
    Locked { path: String, pid: String },
    #[error("{path}: cannot write {file}: {source}")]
    Write {
        path: String,
        file: String,
        source: std::io::Error,
    },
}

pub struct OutputDir {
    root: PathBuf,
    staging: PathBuf,
    committed: bool,
    /// fsyncs started early (see [`OutputDir::sync_soon`]), joined by commit.
    syncing: std::sync::Mutex<Vec<EarlySync>>,
}

/// A file being synced early: its name in staging, and the outcome.
type EarlySync = std::thread::JoinHandle<(String, std::io::Result<()>)>;

fn pid_alive(pid: &str) -> bool {
    let Ok(n) = pid.trim().parse::<u32>() else {
        return false;
    };
    if n == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(n.to_string()).exists()
    } else {
        true
    }
}

impl OutputDir {
    /// Create `root` if needed, take its lock and make a fresh staging directory.
    pub fn prepare(root: &Path) -> Result<OutputDir, OutputError> {
        let not_writable = |source| OutputError::NotWritable {
            path: root.display().to_string(),
            source,
        };
        fs::create_dir_all(root).map_err(not_writable)?;
        let lock = root.join(LOCK_FILE);
        for _attempt in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&lock) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id()).map_err(not_writable)?;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = fs::read_to_string(&lock).unwrap_or_default();
                    if pid_alive(&pid) {
                        return Err(OutputError::Locked {
                            path: root.display().to_string(),
                            pid: pid.trim().to_owned(),
                        });
                    }
                    // A lock left by a killed run: take it over.
                    let _ = fs::remove_file(&lock);
                }
                Err(e) => return Err(not_writable(e)),
            }
        }
        // Leftovers of killed runs.
        if let Ok(entries) = fs::read_dir(root) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(".staging-") || name.starts_with(".old-") {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        let staging = root.join(format!(".staging-{}", std::process::id()));
        let out = OutputDir {
            root: root.to_owned(),
            staging,
            committed: false,
            syncing: std::sync::Mutex::new(Vec::new()),
        };
        fs::create_dir_all(&out.staging).map_err(not_writable)?;
        Ok(out)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn staging(&self) -> &Path {
        &self.staging
    }

    fn write_error(&self, file: &str, source: std::io::Error) -> OutputError {
        OutputError::Write {
            path: self.root.display().to_string(),
            file: file.to_owned(),
            source,
        }
    }

    /// Path of `rel` inside staging, with its parent directories created.
    pub fn staged_path(&self, rel: &str) -> Result<PathBuf, OutputError> {
        let path = self.staging.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| self.write_error(rel, e))?;
        }
        Ok(path)
    }

    /// Write a whole file into staging (made durable by [`OutputDir::commit`]).
    pub fn write_file(&self, rel: &str, bytes: &[u8]) -> Result<(), OutputError> {
        let path = self.staged_path(rel)?;
        let mut f = File::create(&path).map_err(|e| self.write_error(rel, e))?;
        f.write_all(bytes).map_err(|e| self.write_error(rel, e))
    }

    /// Start making a finished stream durable now, on a thread of its own,
    /// so a large file (codes.jsonl) syncs while the reports are built.
    pub fn sync_soon(&self, rel: &str, file: File) {
        let rel = rel.to_owned();
        let handle = std::thread::spawn(move || {
            let result = file.sync_all();
            (rel, result)
        });
        if let Ok(mut syncing) = self.syncing.lock() {
            syncing.push(handle);
        }
    }

    /// Every staged file, flushed to disk at once: one fsync after another
    /// put ~0.2 s of waiting on the end of every command at 100k responses,
    /// while the disk can take them together.
    fn sync_staged(&self) -> Result<(), OutputError> {
        let mut files = Vec::new();
        let mut dirs = vec![self.staging.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(&dir)
                .map_err(|e| self.write_error(".", e))?
                .flatten()
            {
                let path = entry.path();
                match entry.file_type() {
                    Ok(t) if t.is_dir() => dirs.push(path),
                    Ok(t) if t.is_file() => files.push(path),
                    _ => {}
                }
            }
        }
        let rel = |p: &Path| {
            p.strip_prefix(&self.staging)
                .unwrap_or(p)
                .display()
                .to_string()
        };
        const SYNC_THREADS: usize = 8;
        let chunk = files.len().div_ceil(SYNC_THREADS).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = files
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        for path in part {
                            File::open(path)
                                .and_then(|f| f.sync_all())
                                .map_err(|e| (path.clone(), e))?;
                        }
                        Ok::<_, (PathBuf, std::io::Error)>(())
                    })
                })
                .collect();
            for worker in workers {
                match worker.join() {
                    Ok(Ok(())) => {}
                    Ok(Err((path, e))) => return Err(self.write_error(&rel(&path), e)),
                    Err(_) => {
                        return Err(self.write_error(
                            ".",
                            std::io::Error::other("a thread syncing the outputs panicked"),
                        ));
                    }
                }
            }
            Ok(())
        })
    }

    /// A buffered writer for a file in staging (for streamed outputs).
    pub fn create_stream(&self, rel: &str) -> Result<StagedWriter, OutputError> {
        let path = self.staged_path(rel)?;
        let f = File::create(&path).map_err(|e| self.write_error(rel, e))?;
        Ok(StagedWriter {
            rel: rel.to_owned(),
            inner: BufWriter::with_capacity(1 << 16, f),
        })
    }

    /// Copy an existing output file (from the previous run) into staging.
    pub fn carry_over(&self, rel: &str) -> Result<bool, OutputError> {
        let from = self.root.join(rel);
        if !from.is_file() {
            return Ok(false);
        }
        let to = self.staged_path(rel)?;
        fs::copy(&from, &to).map_err(|e| self.write_error(rel, e))?;
        Ok(true)
    }

    /// Move everything staged into place.
    pub fn commit(mut self) -> Result<(), OutputError> {
        let early: Vec<_> = match self.syncing.lock() {
            Ok(mut syncing) => syncing.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for handle in early {
            match handle.join() {
                Ok((_, Ok(()))) => {}
                Ok((rel, Err(e))) => return Err(self.write_error(&rel, e)),
                Err(_) => {
                    return Err(self.write_error(
                        ".",
                        std::io::Error::other("a thread syncing the outputs panicked"),
                    ));
                }
            }
        }
        // Files synced early are clean by now; syncing them again is cheap.
        self.sync_staged()?;
        let entries: Vec<_> = fs::read_dir(&self.staging)
            .map_err(|e| self.write_error(".", e))?
            .flatten()
            .map(|e| e.path())
            .collect();
        let mut entries = entries;
        // Directories (index, restricted) first, files after: report files
        // are last to change, so they never describe an index not yet in place.
        entries.sort_by_key(|p| (!p.is_dir(), p.clone()));
        for from in entries {
            let Some(name) = from.file_name().map(|n| n.to_owned()) else {
                continue;
            };
            let to = self.root.join(&name);
            let rel = name.to_string_lossy().to_string();
            if from.is_dir() {
                if to.exists() {
                    let old = self
                        .root
                        .join(format!(".old-{}-{}", rel, std::process::id()));
                    fs::rename(&to, &old).map_err(|e| self.write_error(&rel, e))?;
                    fs::rename(&from, &to).map_err(|e| self.write_error(&rel, e))?;
                    let _ = fs::remove_dir_all(&old);
                } else {
                    fs::rename(&from, &to).map_err(|e| self.write_error(&rel, e))?;
                }
            } else {
                fs::rename(&from, &to).map_err(|e| self.write_error(&rel, e))?;
            }
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.staging);
        let _ = fs::remove_file(self.root.join(LOCK_FILE));
        let _ = self.committed;
    }
}

/// A streamed output file in staging.
pub struct StagedWriter {
    rel: String,
    inner: BufWriter<File>,
}

impl Write for StagedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl StagedWriter {
    pub fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(line)?;
        self.inner.write_all(b"\n")
    }

    pub fn name(&self) -> &str {
        &self.rel
    }

    /// Flush the file and hand it back (to [`OutputDir::sync_soon`], or to
    /// drop: [`OutputDir::commit`] makes it durable either way).
    pub fn finish(self) -> std::io::Result<File> {
        self.inner.into_inner().map_err(|e| e.into_error())
    }
}
