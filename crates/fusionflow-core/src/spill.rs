//! Per-file output buffers that stay in memory while small and spill to an
//! anonymous temporary file when large, so memory stays bounded whatever
//! the inputs produce.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A file's output larger than this goes to disk.
const PER_BUFFER_LIMIT: usize = 4 << 20;

/// Buffers reserve budget in steps of this size, so that threads touch the
/// shared counter once per step instead of once per write.
const RESERVE_STEP: usize = 64 << 10;

/// In-memory bytes shared by all buffers of a run, waiting to be written in
/// order. Past the limit, new output spills to disk.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    limit: usize,
    spill_dir: PathBuf,
}

impl Budget {
    pub(crate) fn new(limit: usize, spill_dir: PathBuf) -> Arc<Self> {
        Arc::new(Budget { used: AtomicUsize::new(0), limit, spill_dir })
    }
}

/// An append-only buffer; see the module docs.
#[derive(Debug)]
pub(crate) struct SpillBuffer {
    memory: Vec<u8>,
    /// Budget reserved by this buffer; always at least `memory.len()`.
    reserved: usize,
    disk: Option<BufWriter<File>>,
    budget: Arc<Budget>,
}

impl SpillBuffer {
    pub(crate) fn new(budget: &Arc<Budget>) -> Self {
        SpillBuffer { memory: Vec::new(), reserved: 0, disk: None, budget: Arc::clone(budget) }
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
        self.budget.used.fetch_sub(self.reserved, Ordering::Relaxed);
        self.reserved = 0;
    }

    fn spill(&mut self) -> io::Result<()> {
        let mut disk = BufWriter::new(tempfile::tempfile_in(&self.budget.spill_dir)?);
        disk.write_all(&self.memory)?;
        self.release();
        self.memory = Vec::new();
        self.disk = Some(disk);
        Ok(())
    }
}

impl Write for SpillBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(disk) = &mut self.disk {
            return disk.write(buf);
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
        let budget = Budget::new(1 << 20, dir.path().to_path_buf());
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
    fn clear_returns_memory_to_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(1 << 20, dir.path().to_path_buf());
        let mut buffer = SpillBuffer::new(&budget);
        buffer.write_all(b"abc").unwrap();
        buffer.clear();
        assert!(buffer.is_empty());
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
    }
}
