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

/// Opens `path` and returns a reader of its decoded contents.
///
/// Every on-disk byte read is added to `progress`, and once the run is
/// cancelled the reader fails with [`cancelled_error`], so that searches stop
/// promptly even inside huge files.
pub fn open(path: &Path, progress: &Progress) -> io::Result<Box<dyn Read + Send>> {
    let source: Box<dyn Read + Send> = match crate::store::remote_url(path) {
        Some(url) => crate::store::open(url)?,
        None => Box::new(File::open(path)?),
    };
    let raw = Tracked { inner: source, progress: progress.clone() };
    Ok(match Compression::from_path(path) {
        Compression::None => Box::new(raw),
        Compression::Gzip => {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(READ_CHUNK, raw)))
        }
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(
            BufReader::with_capacity(READ_CHUNK, raw),
        )?),
        Compression::Bzip2 => {
            Box::new(bzip2::read::MultiBzDecoder::new(BufReader::with_capacity(READ_CHUNK, raw)))
        }
    })
}

/// Reads a whole file (local or an object URL, decompressed) through [`open`],
/// failing with [`io::ErrorKind::FileTooLarge`] past `limit` bytes: a small
/// compressed file can hold gigabytes.
pub fn read_all(path: &Path, progress: &Progress, limit: u64) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    open(path, progress)?.take(limit.saturating_add(1)).read_to_end(&mut data)?;
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const TEXT: &[u8] = b"first line\nERROR second\nthird\n";

    fn read_all(path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        open(path, &Progress::new()).unwrap().read_to_end(&mut out).unwrap();
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
        open(&path, &progress).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(progress.snapshot().bytes_done, compressed.len() as u64);

        progress.cancel();
        let err = open(&path, &progress).unwrap().read_to_end(&mut out).unwrap_err();
        assert!(is_cancelled(&err), "{err}");
    }

    #[test]
    fn corrupt_gzip_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.gz");
        std::fs::write(&path, b"this is not gzip at all").unwrap();
        let mut out = Vec::new();
        assert!(open(&path, &Progress::new()).unwrap().read_to_end(&mut out).is_err());
    }
}
