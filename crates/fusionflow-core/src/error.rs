//! The one error type of the core crate.

use std::io;
use std::path::PathBuf;

/// Every way a core operation can fail as a whole.
///
/// Problems with a single input file are not errors of the run: they are
/// reported per file in the run's summary, and the run goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is invalid (bad regex, bad glob, contradictory options).
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter {
        /// The parameter's name as users spell it (e.g. `patterns`).
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// An input path given by the caller does not exist.
    #[error("no such file or directory: {}", path.display())]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// Reading an input root or writing an output failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Storage failed in a way that may pass (network trouble, a server
    /// error): the whole run is worth retrying later.
    #[error("{message}")]
    Transient {
        /// What failed, with the URL.
        message: String,
    },
    /// The run was cancelled through its [`crate::Progress`] handle.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// Builds an [`Error::InvalidParameter`].
    pub fn invalid(name: &str, message: impl std::fmt::Display) -> Self {
        Error::InvalidParameter { name: name.to_owned(), message: message.to_string() }
    }

    /// Builds an [`Error::Io`], turning "not found" into [`Error::NotFound`].
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io { path, source }
        }
    }
}

/// The core crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A file that could not be processed, or not to the end: reported in the
/// run's summary while the run goes on. What was read before the error is kept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub error: String,
}
