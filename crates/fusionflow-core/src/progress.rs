//! Live progress counters and cancellation, shared between a run and its observers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

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

    pub(crate) fn add_file(&self) {
        self.inner.files_done.fetch_add(1, Ordering::Relaxed);
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
        progress.add_file();
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
}
