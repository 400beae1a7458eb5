//! Opening inputs for streaming reads, with transparent decompression.
//!
//! Compression is chosen by file extension (`.gz`, `.zst`/`.zstd`, `.bz2`), as
//! `rg -z` does, and decoded in-process: no external programs, no temporary
//! files. Gzip files with several members (`cat a.gz b.gz`) are read to the end,
//! as `zcat` does. Memory stays bounded: every decoder streams.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::Progress;

/// How an input's bytes are encoded on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain bytes.
    None,
    /// gzip (RFC 1952), possibly multi-member.
    Gzip,
    /// Zstandard, possibly multi-frame.
    Zstd,
    /// bzip2, possibly multi-stream.
    Bzip2,
}

impl Compression {
    /// Detects the compression of `path` from its extension.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("gz") => Compression::Gzip,
            Some(ext) if ext.eq_ignore_ascii_case("zst") || ext.eq_ignore_ascii_case("zstd") => {
                Compression::Zstd
            }
            Some(ext) if ext.eq_ignore_ascii_case("bz2") => Compression::Bzip2,
            _ => Compression::None,
        }
    }
}

/// The size of reads from disk. Large enough that per-read bookkeeping
/// (a progress add, a cancellation check) costs nothing measurable.
const READ_CHUNK: usize = 256 * 1024;

/// The default limit on what one compressed file may decode to.
pub const MAX_DECODED_BYTES: u64 = 16 << 30;

/// Opens `path` and returns a reader of its decoded contents.
///
/// Every on-disk byte read is added to `progress`, and every decoded byte to
/// its `bytes_decoded`. Once the run is cancelled the reader fails with
/// [`cancelled_error`] at its next read of either side, so that searches stop
/// promptly even inside a small compressed file that holds gigabytes. A
/// compressed file that decodes to more than `max_decoded` bytes fails with
/// [`io::ErrorKind::FileTooLarge`] there (plain files are as large as they are).
pub fn open(
    path: &Path,
    progress: &Progress,
    max_decoded: u64,
) -> io::Result<Box<dyn Read + Send>> {
    let resolved = crate::names::resolve(path);
    let source: Box<dyn Read + Send> = match crate::store::remote_url(&resolved) {
        Some(url) => crate::store::open(url)?,
        None => Box::new(File::open(&resolved)?),
    };
    let raw = Tracked { inner: source, progress: progress.clone() };
    let (decoder, left): (Box<dyn Read + Send>, u64) = match Compression::from_path(path) {
        // Unbuffered: the searcher's reads go straight to the file.
        Compression::None => (Box::new(raw), u64::MAX),
        codec => (decode(codec, BufReader::with_capacity(READ_CHUNK, raw))?, max_decoded),
    };
    Ok(Box::new(Decoded { inner: decoder, progress: progress.clone(), left, limit: max_decoded }))
}

fn decode<R: io::BufRead + Send + 'static>(
    codec: Compression,
    compressed: R,
) -> io::Result<Box<dyn Read + Send>> {
    Ok(match codec {
        Compression::None => Box::new(compressed),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(compressed)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(compressed)?),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(compressed)),
    })
}

/// Reads a whole file (local or an object URL, decompressed) through [`open`],
/// failing with [`io::ErrorKind::FileTooLarge`] past `limit` bytes: a small
/// compressed file can hold gigabytes.
pub fn read_all(path: &Path, progress: &Progress, limit: u64) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    open(path, progress, u64::MAX)?.take(limit.saturating_add(1)).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("more than {limit} bytes"),
        ));
    }
    Ok(data)
}

/// The error a reader returns once its run is cancelled.
pub fn cancelled_error() -> io::Error {
    io::Error::other(Cancelled)
}

/// Whether `err` is the error of a cancelled read.
pub fn is_cancelled(err: &io::Error) -> bool {
    err.get_ref().is_some_and(<dyn std::error::Error + Send + Sync>::is::<Cancelled>)
}

#[derive(Debug)]
struct Cancelled;

/// The error of a read that failed for a reason that may pass (storage
/// trouble): the run stops as [`crate::Error::Transient`] rather than
/// reporting the file as bad.
pub fn transient_error(message: String) -> io::Error {
    io::Error::other(Transient(message))
}

/// Whether `err` came from [`transient_error`].
pub fn is_transient(err: &io::Error) -> bool {
    err.get_ref().is_some_and(<dyn std::error::Error + Send + Sync>::is::<Transient>)
}

#[derive(Debug)]
struct Transient(String);

impl std::fmt::Display for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Transient {}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Counts on-disk bytes into the progress and honours cancellation.
struct Tracked<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.progress.is_cancelled() {
            return Err(cancelled_error());
        }
        let n = self.inner.read(buf)?;
        self.progress.add_bytes(n as u64);
        Ok(n)
    }
}

/// Counts decoded bytes into the progress, honours cancellation per decoded
/// block and stops a compressed file at its limit.
struct Decoded<R> {
    inner: R,
    progress: Progress,
    /// Decoded bytes this file may still yield.
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.progress.is_cancelled() {
            return Err(cancelled_error());
        }
        if self.left == 0 {
            // One byte more tells a file of exactly `limit` bytes from a larger one.
            if self.inner.read(&mut [0u8])? == 0 {
                return Ok(0);
            }
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("decompresses to more than {} bytes; read up to there", self.limit),
            ));
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        self.progress.add_decoded(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const TEXT: &[u8] = b"first line\nERROR second\nthird\n";

    fn read_all(path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        open(path, &Progress::new(), u64::MAX).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn detects_compression_by_extension() {
        assert_eq!(Compression::from_path(Path::new("a.log.GZ")), Compression::Gzip);
        assert_eq!(Compression::from_path(Path::new("a.zst")), Compression::Zstd);
        assert_eq!(Compression::from_path(Path::new("a.bz2")), Compression::Bzip2);
        assert_eq!(Compression::from_path(Path::new("a.log")), Compression::None);
        assert_eq!(Compression::from_path(Path::new("gz")), Compression::None);
    }

    #[test]
    fn round_trips_every_codec() {
        let dir = tempfile::tempdir().unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("plain.log", TEXT.to_vec()),
            ("a.log.gz", gzip(TEXT)),
            ("a.log.zst", zstd::encode_all(TEXT, 3).unwrap()),
            ("a.log.bz2", {
                let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                enc.write_all(TEXT).unwrap();
                enc.finish().unwrap()
            }),
        ];
        for (name, bytes) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(read_all(&path), TEXT, "{name}");
        }
    }

    #[test]
    fn reads_every_gzip_member_like_zcat() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("multi.gz");
        let mut bytes = gzip(b"one\n");
        bytes.extend(gzip(b"two\n"));
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read_all(&path), b"one\ntwo\n");
    }

    #[test]
    fn counts_on_disk_bytes_and_stops_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log.gz");
        let compressed = gzip(&TEXT.repeat(1000));
        std::fs::write(&path, &compressed).unwrap();
        let progress = Progress::new();
        let mut out = Vec::new();
        open(&path, &progress, u64::MAX).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(progress.snapshot().bytes_done, compressed.len() as u64);
        assert_eq!(progress.snapshot().bytes_decoded, out.len() as u64);

        progress.cancel();
        let err = open(&path, &progress, u64::MAX).unwrap().read_to_end(&mut out).unwrap_err();
        assert!(is_cancelled(&err), "{err}");
    }

    #[test]
    fn a_bomb_stops_at_the_decoded_limit_and_cancels_between_decoded_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.log.zst");
        // 64 MiB of one line repeated compresses to a few kilobytes: one on-disk read.
        let plain = b"all work and no play\n".repeat(3 << 20);
        std::fs::write(&path, zstd::encode_all(&plain[..], 19).unwrap()).unwrap();

        let mut out = Vec::new();
        let err =
            open(&path, &Progress::new(), 1 << 20).unwrap().read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge, "{err}");
        assert_eq!(out.len(), 1 << 20, "read up to the limit");
        let mut exact = Vec::new();
        open(&path, &Progress::new(), plain.len() as u64).unwrap().read_to_end(&mut exact).unwrap();
        assert_eq!(exact, plain, "a file of exactly the limit is whole");

        let progress = Progress::new();
        let mut reader = open(&path, &progress, u64::MAX).unwrap();
        let mut block = vec![0u8; 64 << 10];
        reader.read_exact(&mut block).unwrap();
        let disk_reads = progress.snapshot().bytes_done;
        progress.cancel();
        let err = reader.read(&mut block).unwrap_err();
        assert!(is_cancelled(&err), "cancelled with the compressed input still buffered: {err}");
        assert_eq!(progress.snapshot().bytes_done, disk_reads);
    }

    #[test]
    fn plain_files_have_no_decoded_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        std::fs::write(&path, TEXT.repeat(100)).unwrap();
        let mut out = Vec::new();
        open(&path, &Progress::new(), 10).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), TEXT.len() * 100);
    }

    #[test]
    fn corrupt_gzip_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.gz");
        std::fs::write(&path, b"this is not gzip at all").unwrap();
        let mut out = Vec::new();
        assert!(open(&path, &Progress::new(), u64::MAX).unwrap().read_to_end(&mut out).is_err());
    }
}
