//! Live progress counters and cancellation, shared between a run and its observers.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// A cheap, cloneable handle that a run updates and any thread may read.
///
/// Counters are plain atomics so that the hot path pays one relaxed add per
/// read buffer; observers (a Python progress bar, a job heartbeat) poll them.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    bytes_total: AtomicU64,
    files_total: AtomicU64,
    bytes_done: AtomicU64,
    bytes_decoded: AtomicU64,
    files_done: AtomicU64,
    cancelled: AtomicBool,
    journal: OnceLock<Mutex<File>>,
}

/// A file being read, from [`Progress::start_file`] until dropped, which counts it done.
#[must_use = "the file counts as done when this is dropped"]
pub struct FileInProgress<'a> {
    progress: &'a Progress,
    path: &'a Path,
}

impl Drop for FileInProgress<'_> {
    fn drop(&mut self) {
        self.progress.note('-', self.path);
        self.progress.inner.files_done.fetch_add(1, Ordering::Relaxed);
    }
}

/// A consistent-enough copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    /// Bytes planned (on-disk sizes of all inputs), known once inputs are listed.
    pub bytes_total: u64,
    /// Files planned.
    pub files_total: u64,
    /// Bytes read so far (on-disk bytes, before decompression).
    pub bytes_done: u64,
    /// Bytes read so far after decompression (equal to `bytes_done` for plain
    /// files): what shows a small compressed file that holds gigabytes at work.
    pub bytes_decoded: u64,
    /// Files finished so far (searched, skipped or failed).
    pub files_done: u64,
}

impl Progress {
    /// A fresh handle with all counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads all counters.
    pub fn snapshot(&self) -> Snapshot {
        let c = &self.inner;
        Snapshot {
            bytes_total: c.bytes_total.load(Ordering::Relaxed),
            files_total: c.files_total.load(Ordering::Relaxed),
            bytes_done: c.bytes_done.load(Ordering::Relaxed),
            bytes_decoded: c.bytes_decoded.load(Ordering::Relaxed),
            files_done: c.files_done.load(Ordering::Relaxed),
        }
    }

    /// Asks the run to stop as soon as possible.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`Progress::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Relaxed)
    }

    pub(crate) fn set_plan(&self, files: u64, bytes: u64) {
        self.inner.files_total.store(files, Ordering::Relaxed);
        self.inner.bytes_total.store(bytes, Ordering::Relaxed);
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.inner.bytes_done.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_decoded(&self, n: u64) {
        self.inner.bytes_decoded.fetch_add(n, Ordering::Relaxed);
    }

    /// Appends to `path`, from now on, a line as each file starts (`+`) and ends (`-`)
    /// being read, followed by the path's bytes in hex. Each line is written before the
    /// file is touched, straight to the file (no buffer): so a process killed at any
    /// moment leaves on disk the files it was reading.
    pub fn journal_to(&self, path: &Path) -> io::Result<()> {
        let file = File::options().create(true).append(true).open(path)?;
        self.inner
            .journal
            .set(Mutex::new(file))
            .map_err(|_| io::Error::new(io::ErrorKind::AlreadyExists, "a journal is kept already"))
    }

    /// Marks `path` as being read until the guard is dropped; then it counts as done
    /// (searched, skipped or failed).
    pub(crate) fn start_file<'a>(&'a self, path: &'a Path) -> FileInProgress<'a> {
        self.note('+', path);
        FileInProgress { progress: self, path }
    }

    fn note(&self, sign: char, path: &Path) {
        // Without a journal (the usual case), no lock is taken.
        if let Some(journal) = self.inner.journal.get() {
            let bytes = path.as_os_str().as_encoded_bytes();
            let mut line = String::with_capacity(2 + 2 * bytes.len());
            line.push(sign);
            for byte in bytes {
                let _ = write!(line, "{byte:02x}");
            }
            line.push('\n');
            // Best effort: a journal that cannot be written only names no suspect.
            let _ =
                journal.lock().unwrap_or_else(PoisonError::into_inner).write_all(line.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_counters_and_cancellation() {
        let progress = Progress::new();
        let observer = progress.clone();
        progress.set_plan(2, 100);
        progress.add_bytes(40);
        progress.add_decoded(400);
        drop(progress.start_file(Path::new("a.log")));
        assert_eq!(
            observer.snapshot(),
            Snapshot {
                bytes_total: 100,
                files_total: 2,
                bytes_done: 40,
                bytes_decoded: 400,
                files_done: 1
            }
        );
        assert!(!progress.is_cancelled());
        observer.cancel();
        assert!(progress.is_cancelled());
    }

    #[test]
    fn the_journal_holds_each_file_before_it_is_read_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let progress = Progress::new();
        drop(progress.start_file(Path::new("before.log"))); // no journal yet: not noted
        progress.journal_to(&journal).unwrap();
        let reading = progress.start_file(Path::new("a b.log"));
        assert_eq!(std::fs::read_to_string(&journal).unwrap(), "+6120622e6c6f67\n");
        drop(reading);
        assert_eq!(
            std::fs::read_to_string(&journal).unwrap(),
            "+6120622e6c6f67\n-6120622e6c6f67\n"
        );
        assert_eq!(progress.snapshot().files_done, 2);
        let again = progress.journal_to(&dir.path().join("other"));
        assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    }
}
