//! `FusionFlow`'s engine: input discovery, transparent decompression and the
//! pipeline kernels, in pure Rust (no Python).
//!
//! Every run takes a [`Progress`] handle that it updates as it reads, and that
//! another thread may poll or use to cancel the run.
//!
//! ```
//! use fusionflow_core::grep::{self, GrepOptions, GrepRequest};
//! use fusionflow_core::Progress;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("app.log"), "ok\nERROR disk full\nok\n")?;
//! let request = GrepRequest {
//!     inputs: vec![dir.path().join("app.log")],
//!     grep: GrepOptions { patterns: vec!["ERROR|FATAL".into()], ..Default::default() },
//!     output_dir: dir.path().join("out"),
//!     ..Default::default()
//! };
//! let summary = grep::run(&request, &Progress::new())?;
//! assert_eq!(summary.matches, 1);
//! let text = std::fs::read_to_string(dir.path().join("out/matches.txt"))?;
//! assert!(text.ends_with(":2:ERROR disk full\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod confine;
pub mod csv;
mod error;
pub mod extract;
pub mod grep;
mod linecap;
pub mod mirror;
pub mod names;
mod nulscan;
mod progress;
pub mod read;
pub mod resize;
mod spill;
pub mod store;
#[cfg(test)]
mod testing;
pub mod walk;

pub use error::{Error, FileError, Result};
pub use progress::{Progress, Snapshot};

use std::sync::Arc;

/// Builds the rayon pool for one run.
///
/// A pool per run, never rayon's global pool: a process that forks (Celery's
/// prefork workers) must not inherit a pool whose threads did not survive.
pub(crate) fn thread_pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("fusionflow-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| Error::invalid("threads", e))
}

/// Writes `path` whole or not at all: into a temporary file beside it, then
/// renamed over it. Readers never see a half-written file, and a rerun (a
/// redelivered shard) simply replaces the earlier output.
pub(crate) fn write_atomically(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(".".as_ref());
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, temp.as_file());
    write(&mut out).and_then(|()| out.flush()).map_err(|e| Error::io(path, e))?;
    drop(out);
    temp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Runs `work`, turning a panic (a third-party decoder or parser failing on a
/// hostile file) into its message, so that it costs one file, not the run.
pub(crate) fn catch_panic<T>(work: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into())
    })
}
