//! Helpers for the crate's unit tests.

use std::io::{self, Read};

/// A reader that returns at most `.1` bytes per read, as pipes and decoders do.
pub struct Chunks<'a>(pub &'a [u8], pub usize);

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.len().min(self.1).min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}
