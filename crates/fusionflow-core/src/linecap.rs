//! Over-long lines cut to a window, so that one such line costs the search only its tail.
//!
//! A search buffers a whole line to match it; a line longer than memory allows used to end
//! the file's search there (rg searches on). [`LineCap`] passes a reader's bytes on except
//! those of any line past its first `cap` bytes: the search sees the line's first `cap`
//! bytes as the line, and goes on with the next. What was cut is counted, for the report.

use std::io::{self, Read};

/// A reader whose lines are at most `cap` bytes (the newline aside).
pub struct LineCap<R> {
    inner: R,
    cap: usize,
    /// Bytes of the current line passed on so far.
    run: usize,
    /// Inside the cut part of a line: dropping bytes until its newline.
    dropping: bool,
    /// Lines cut, and bytes left out of them.
    pub lines_cut: u64,
    /// Bytes left out of cut lines.
    pub bytes_cut: u64,
}

impl<R: Read> LineCap<R> {
    /// Wraps `inner`; `cap` must be at least 1.
    pub fn new(inner: R, cap: usize) -> Self {
        LineCap { inner, cap: cap.max(1), run: 0, dropping: false, lines_cut: 0, bytes_cut: 0 }
    }

    /// The reader wrapped.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Keeps what may be passed on of `data` at its start; returns its length.
    fn filter(&mut self, data: &mut [u8]) -> usize {
        // The usual case, at memchr's speed: no line can reach the cap in this chunk.
        if !self.dropping && self.run + data.len() <= self.cap {
            self.run = match memchr::memrchr(b'\n', data) {
                Some(at) => data.len() - at - 1,
                None => self.run + data.len(),
            };
            return data.len();
        }
        let (mut read, mut kept) = (0, 0);
        while read < data.len() {
            if self.dropping {
                let Some(at) = memchr::memchr(b'\n', &data[read..]) else {
                    self.bytes_cut += (data.len() - read) as u64;
                    break;
                };
                self.bytes_cut += at as u64;
                read += at;
                self.dropping = false;
                self.run = 0;
                continue; // the newline is kept below
            }
            let room = self.cap - self.run;
            let window = &data[read..data.len().min(read + room + 1)];
            let (take, newline, cut) = match memchr::memchr(b'\n', window) {
                Some(at) => (at + 1, true, false),
                None if window.len() <= room => (window.len(), false, false),
                None => (room, false, true), // the line goes on past the cap
            };
            data.copy_within(read..read + take, kept);
            kept += take;
            read += take;
            self.run = if newline { 0 } else { self.run + take };
            if cut {
                self.dropping = true;
                self.lines_cut += 1;
            }
        }
        kept
    }
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let kept = self.filter(&mut buf[..n]);
            if kept > 0 {
                return Ok(kept);
            }
            // All of it was the cut part of a line: read on, as 0 would mean the end.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Chunks;

    fn capped(input: &[u8], cap: usize, chunk: usize) -> (Vec<u8>, u64, u64) {
        let mut reader = LineCap::new(Chunks(input, chunk), cap);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        (out, reader.lines_cut, reader.bytes_cut)
    }

    #[test]
    fn long_lines_keep_their_first_bytes_and_everything_else_passes() {
        let input = b"short\nABCDEFGHIJ\nok\nabcdefghijklmnop\nend";
        for chunk in [1, 2, 3, 7, 64] {
            let (out, lines, bytes) = capped(input, 5, chunk);
            assert_eq!(out, b"short\nABCDE\nok\nabcde\nend", "chunk {chunk}");
            assert_eq!((lines, bytes), (2, 5 + 11), "chunk {chunk}");
        }
        // Lines at the cap, and files without long lines, pass untouched.
        let exact = b"12345\n12345";
        assert_eq!(capped(exact, 5, 3), (exact.to_vec(), 0, 0));
        let (out, lines, _) = capped(b"x\n", 1, 64);
        assert_eq!((out.as_slice(), lines), (&b"x\n"[..], 0));
        // A long last line without a newline.
        assert_eq!(capped(b"a\n0123456789", 4, 4), (b"a\n0123".to_vec(), 1, 6));
    }
}
