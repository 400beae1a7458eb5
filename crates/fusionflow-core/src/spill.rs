//! Per-file output buffers that stay in memory while small and spill to an
//! anonymous temporary file when large, so memory stays bounded whatever
//! the inputs produce. Disk is bounded too: past the run's spill limit a
//! write fails, and the file whose output it was reports the error.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// A file's output larger than this goes to disk.
const PER_BUFFER_LIMIT: usize = 4 << 20;

/// Buffers reserve budget in steps of this size, so that threads touch the
/// shared counter once per step instead of once per write.
const RESERVE_STEP: usize = 64 << 10;

/// In-memory bytes shared by all buffers of a run, waiting to be written in
/// order. Past the limit, new output spills to disk, up to `disk_limit` bytes
/// held on disk at once by the run.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    limit: usize,
    on_disk: AtomicU64,
    disk_limit: u64,
    spill_dir: PathBuf,
}

impl Budget {
    pub(crate) fn new(limit: usize, disk_limit: u64, spill_dir: PathBuf) -> Arc<Self> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            limit,
            on_disk: AtomicU64::new(0),
            disk_limit,
            spill_dir,
        })
    }
}

/// An append-only buffer; see the module docs.
#[derive(Debug)]
pub(crate) struct SpillBuffer {
    memory: Vec<u8>,
    /// Budget reserved by this buffer; always at least `memory.len()`.
    reserved: usize,
    disk: Option<BufWriter<File>>,
    /// Bytes this buffer holds on disk, counted in the budget's `on_disk`.
    on_disk: u64,
    budget: Arc<Budget>,
}

impl SpillBuffer {
    pub(crate) fn new(budget: &Arc<Budget>) -> Self {
        SpillBuffer {
            memory: Vec::new(),
            reserved: 0,
            disk: None,
            on_disk: 0,
            budget: Arc::clone(budget),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.disk.is_none()
    }

    /// Drops everything written so far.
    pub(crate) fn clear(&mut self) {
        self.release();
        self.memory = Vec::new();
        self.disk = None;
    }

    /// Copies the contents into `out` and frees the buffer.
    pub(crate) fn drain_into(mut self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&self.memory)?;
        if let Some(disk) = self.disk.take() {
            let mut file = disk.into_inner().map_err(io::IntoInnerError::into_error)?;
            file.rewind()?;
            io::copy(&mut file, out)?;
        }
        Ok(())
    }

    fn release(&mut self) {
        self.release_memory();
        self.budget.on_disk.fetch_sub(self.on_disk, Ordering::Relaxed);
        self.on_disk = 0;
    }

    fn release_memory(&mut self) {
        self.budget.used.fetch_sub(self.reserved, Ordering::Relaxed);
        self.reserved = 0;
    }

    fn spill(&mut self) -> io::Result<()> {
        let memory = std::mem::take(&mut self.memory);
        self.disk = Some(BufWriter::new(tempfile::tempfile_in(&self.budget.spill_dir)?));
        self.release_memory();
        self.write_to_disk(&memory)
    }

    fn write_to_disk(&mut self, buf: &[u8]) -> io::Result<()> {
        let n = buf.len() as u64;
        let held = self.budget.on_disk.fetch_add(n, Ordering::Relaxed) + n;
        self.on_disk += n;
        if held > self.budget.disk_limit {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "output waiting to be written in order passed the spill limit ({} bytes); \
                     written up to there",
                    self.budget.disk_limit
                ),
            ));
        }
        self.disk.as_mut().expect("spilled").write_all(buf)
    }
}

impl Write for SpillBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.disk.is_some() {
            self.write_to_disk(buf)?;
            return Ok(buf.len());
        }
        self.memory.extend_from_slice(buf);
        if self.memory.len() > self.reserved {
            let step = (self.memory.len() - self.reserved).max(RESERVE_STEP);
            let used = self.budget.used.fetch_add(step, Ordering::Relaxed) + step;
            self.reserved += step;
            if self.memory.len() > PER_BUFFER_LIMIT || used > self.budget.limit {
                self.spill()?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SpillBuffer {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_stays_in_memory_and_large_output_spills_intact() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(1 << 20, u64::MAX, dir.path().to_path_buf());
        let mut small = SpillBuffer::new(&budget);
        small.write_all(b"hello\n").unwrap();
        assert!(small.disk.is_none());

        let mut big = SpillBuffer::new(&budget);
        let line = b"0123456789abcdef\n".repeat(1000);
        for _ in 0..100 {
            big.write_all(&line).unwrap();
        }
        assert!(big.disk.is_some(), "over the shared budget, output goes to disk");
        assert_eq!(budget.used.load(Ordering::Relaxed), RESERVE_STEP, "only `small` holds memory");

        let mut out = Vec::new();
        small.drain_into(&mut out).unwrap();
        big.drain_into(&mut out).unwrap();
        assert_eq!(out.len(), 6 + line.len() * 100);
        assert!(out.starts_with(b"hello\n0123"));
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn disk_past_the_spill_limit_is_an_error_and_freed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(0, 1 << 20, dir.path().to_path_buf());
        let mut big = SpillBuffer::new(&budget);
        let block = vec![b'x'; 64 << 10];
        let written = (0..100).take_while(|_| big.write_all(&block).is_ok()).count();
        assert_eq!(written, 16, "1 MiB of 64 KiB blocks, then refused");
        let err = big.write_all(&block).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull, "{err}");
        drop(big);
        assert_eq!(budget.on_disk.load(Ordering::Relaxed), 0);
        let mut next = SpillBuffer::new(&budget);
        next.write_all(&block).unwrap();
    }

    #[test]
    fn clear_returns_memory_to_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(1 << 20, u64::MAX, dir.path().to_path_buf());
        let mut buffer = SpillBuffer::new(&budget);
        buffer.write_all(b"abc").unwrap();
        buffer.clear();
        assert!(buffer.is_empty());
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
    }
}
