//! Telling a log with a hole of NUL bytes from a binary file, while the search reads it.
//!
//! A crash or a power loss leaves runs of NUL bytes in a log that was being written (the
//! file system had the length, not yet the data); the lines after them are what explains
//! the crash. A binary file (an executable, an image, a database) has NUL bytes too, and
//! also the other control bytes that text never has. [`NulScan`] passes a reader's bytes on
//! untouched; from the first NUL on it records the NUL runs and counts control bytes, and
//! judges the file binary when they are too many for text. Until the first NUL it costs a
//! `memchr`.

use std::io::{self, Read};

/// Bytes of text read after the first NUL before a verdict may end the read early.
const SAMPLE: u64 = 4096;
/// NUL runs whose offsets are kept for the report; the rest are counted.
pub const RANGES_KEPT: usize = 16;

/// A reader that watches for NUL bytes; see the module's documentation.
pub struct NulScan<R> {
    inner: R,
    /// Judge, and stop reading a file found binary. Without it, only record.
    judge: bool,
    /// UTF-16 with a byte order mark: the searcher transcodes it, so its NULs are not
    /// what it searches.
    utf16: bool,
    /// Offset of the next byte read.
    offset: u64,
    /// Where the NUL run being read began, if one is.
    run_start: Option<u64>,
    /// The first NUL runs, as `[start, end)` offsets.
    pub ranges: Vec<[u64; 2]>,
    /// NUL runs seen.
    pub runs: u64,
    /// NUL bytes seen.
    pub nul_bytes: u64,
    /// Bytes other than NUL read from the first NUL on, and the control bytes among them.
    text: u64,
    control: u64,
    binary: bool,
}

impl<R: Read> NulScan<R> {
    /// Wraps `inner`. With `judge`, a file found binary ends its read with an error
    /// (see [`NulScan::binary_at`]).
    pub fn new(inner: R, judge: bool) -> Self {
        NulScan {
            inner,
            judge,
            utf16: false,
            offset: 0,
            run_start: None,
            ranges: Vec::new(),
            runs: 0,
            nul_bytes: 0,
            text: 0,
            control: 0,
            binary: false,
        }
    }

    /// The offset of the first NUL if the file was judged binary.
    pub fn binary_at(&self) -> Option<u64> {
        self.binary.then(|| self.ranges.first().map_or(0, |r| r[0]))
    }

    /// Binary: control bytes in more than 1 % of the text after the first NUL, or NUL runs
    /// closer together than one per 64 bytes of text (UTF-16, packed records). A log with
    /// holes has neither.
    fn looks_binary(&self) -> bool {
        self.control * 100 > self.text || self.runs > 1 + self.text / 64
    }

    fn examine(&mut self, data: &[u8]) {
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            if let Some(start) = self.run_start {
                match rest.iter().position(|&b| b != 0) {
                    Some(end) => {
                        self.end_run(start, self.offset + (at + end) as u64);
                        at += end;
                    }
                    None => at = data.len(),
                }
                continue;
            }
            let text = match memchr::memchr(0, rest) {
                Some(nul) => {
                    self.run_start = Some(self.offset + (at + nul) as u64);
                    &rest[..nul]
                }
                None => rest,
            };
            if self.runs > 0 {
                self.count(text); // text before the first NUL is text by definition
            }
            at += text.len();
        }
        self.offset += data.len() as u64;
    }

    fn end_run(&mut self, start: u64, end: u64) {
        self.run_start = None;
        self.runs += 1;
        self.nul_bytes += end - start;
        if self.ranges.len() < RANGES_KEPT {
            self.ranges.push([start, end]);
        }
    }

    fn count(&mut self, text: &[u8]) {
        self.text += text.len() as u64;
        self.control += text.iter().filter(|&&b| is_control(b)).count() as u64;
    }
}

/// Control bytes that text has no use for (tab, newlines, form feed and escape aside).
fn is_control(b: u8) -> bool {
    (b < 0x20 && !matches!(b, b'\t'..=b'\r' | 0x1b)) || b == 0x7f
}

impl<R: Read> Read for NulScan<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            if let Some(start) = self.run_start {
                self.end_run(start, self.offset);
            }
            self.binary = self.judge && self.runs > 0 && self.looks_binary();
            return Ok(0);
        }
        if self.offset == 0 {
            self.utf16 = buf[..n].starts_with(b"\xff\xfe") || buf[..n].starts_with(b"\xfe\xff");
        }
        if self.utf16 {
            self.offset += n as u64;
            return Ok(n);
        }
        self.examine(&buf[..n]);
        if self.judge && self.text >= SAMPLE && self.looks_binary() {
            self.binary = true;
            return Err(io::Error::other("binary file"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Chunks;

    fn scan(input: &[u8], chunk: usize) -> NulScan<impl Read + '_> {
        let mut reader = NulScan::new(Chunks(input, chunk), true);
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
        reader
    }

    fn log_line(n: usize) -> String {
        format!("2026-11-27T00:00:{:02}Z INFO  [orders] request {n} completed\n", n % 60)
    }

    #[test]
    fn a_log_with_holes_is_text_and_its_runs_are_recorded() {
        let head: String = (0..40).map(log_line).collect();
        let tail: String = (40..100).map(log_line).collect();
        let mut input = head.clone().into_bytes();
        input.extend([0; 512]);
        input.extend(tail.as_bytes());
        input.extend([0; 3]);
        for chunk in [1, 7, 512, 1 << 16] {
            let scan = scan(&input, chunk);
            let hole = head.len() as u64;
            assert_eq!(scan.binary_at(), None, "chunk {chunk}");
            assert_eq!(scan.runs, 2);
            assert_eq!(scan.nul_bytes, 515);
            let end = input.len() as u64;
            assert_eq!(scan.ranges, [[hole, hole + 512], [end - 3, end]]);
        }
        // A file of nothing but NULs (space kept for a log never written) is text too.
        assert_eq!(scan(&[0; 1000], 64).binary_at(), None);
    }

    #[test]
    fn binaries_are_told_apart_early_or_at_the_end() {
        // An ELF-like header, then bytes of every value (as compressed data has).
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
        elf.extend((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let scan = scan(&elf, 8192);
        assert_eq!(scan.binary_at(), Some(7));
        assert!(scan.offset < elf.len() as u64, "stopped early: read {}", scan.offset);
        // UTF-16: no control bytes, but a NUL after every letter.
        let utf16: Vec<u8> =
            "ERROR disk full\n".repeat(50).encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(self::scan(&utf16, 100).binary_at(), Some(1));
        // Small: judged at the end.
        assert_eq!(self::scan(b"ab\0\x01\x02\x03\x04", 3).binary_at(), Some(2));
    }

    #[test]
    fn utf16_with_a_bom_is_left_to_the_searcher_to_transcode() {
        let mut utf16 = vec![0xff, 0xfe];
        utf16.extend("ERROR disk full\n".encode_utf16().flat_map(u16::to_le_bytes));
        let scan = scan(&utf16, 64);
        assert_eq!((scan.binary_at(), scan.runs), (None, 0));
    }

    #[test]
    fn text_without_nul_is_never_judged() {
        let scan = scan(b"\x01\x02\x03 control bytes alone are not a NUL\n", 4);
        assert_eq!((scan.binary_at(), scan.runs, scan.text), (None, 0, 0));
    }
}
