//! Names users give for places the server keeps: `upload://<user>/<batch>/<name>` stands
//! for a file under the uploads folder of FusionFlow's storage (a local folder or an
//! `s3://` prefix), set once per process with [`set_uploads_root`].
//!
//! Runs carry these names everywhere and resolve them only where bytes are read or a
//! folder is listed, so every path a run reports (matches, manifests, errors, skipped
//! files) is the user's own name for it, never the server's layout.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

/// The scheme of names of uploaded files.
pub const UPLOADS: &str = "upload://";

static UPLOADS_ROOT: RwLock<Option<String>> = RwLock::new(None);

/// Where `upload://` names point from now on: `root` joined with the rest of the name.
pub fn set_uploads_root(root: &str) {
    let root = root.trim_end_matches('/').to_owned();
    *UPLOADS_ROOT.write().unwrap_or_else(PoisonError::into_inner) = Some(root);
}

/// Where `path` is read from: itself, unless it is an `upload://` name and the uploads
/// root is set.
pub fn resolve(path: &Path) -> Cow<'_, Path> {
    let Some(rest) = path.to_str().and_then(|s| s.strip_prefix(UPLOADS)) else {
        return Cow::Borrowed(path);
    };
    match UPLOADS_ROOT.read().unwrap_or_else(PoisonError::into_inner).as_deref() {
        Some(root) => Cow::Owned(PathBuf::from(format!("{root}/{rest}"))),
        None => Cow::Borrowed(path),
    }
}

/// `path` as reports write it: as it is when it is UTF-8 without a backslash; else each
/// byte that is not UTF-8 as `\xNN` and each backslash as `\\`. Lossless, so two files
/// never share a name in a report (lossy decoding made `n\xff\xfe.log` and
/// `n\xfe\xff.log` one), and the bytes can be recovered.
pub fn display(path: &Path) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    if let Ok(text) = std::str::from_utf8(bytes) {
        if !text.contains('\\') {
            return text.to_owned();
        }
    }
    let mut shown = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                shown.push('\\');
            }
            shown.push(c);
        }
        for byte in chunk.invalid() {
            let _ = write!(shown, "\\x{byte:02x}");
        }
    }
    shown
}

/// The name of `found`, a path under `resolved` (what `name` resolves to), by `name`.
pub fn rename(found: &Path, resolved: &Path, name: &Path) -> PathBuf {
    let (Some(found_text), Some(resolved_text), Some(name_text)) =
        (found.to_str(), resolved.to_str(), name.to_str())
    else {
        return found.to_path_buf(); // not valid UTF-8: then not under an upload:// name
    };
    match found_text.strip_prefix(resolved_text.trim_end_matches('/')) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(format!("{}{rest}", name_text.trim_end_matches('/')))
        }
        _ => found.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::walk::{discover, WalkOptions};

    #[cfg(unix)]
    #[test]
    fn paths_are_displayed_losslessly() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let path = |bytes: &[u8]| PathBuf::from(OsStr::from_bytes(bytes));
        assert_eq!(display(Path::new("logs/app.log")), "logs/app.log");
        assert_eq!(display(&path(b"n\xff\xfe.log")), "n\\xff\\xfe.log");
        assert_eq!(display(&path(b"n\xfe\xff.log")), "n\\xfe\\xff.log");
        // A backslash is doubled, so a name spelling `\xff` is not the byte.
        assert_eq!(display(Path::new("n\\xff.log")), "n\\\\xff.log");
        assert_eq!(display(&path(b"\xc3\xa9\xff")), "é\\xff");
    }

    // One test: the uploads root is the process's, and tests run side by side.
    #[test]
    fn names_are_read_and_listed_where_they_point_and_reported_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let batch = dir.path().join("3/0123456789abcdef");
        std::fs::create_dir_all(batch.join("logs")).unwrap();
        std::fs::write(batch.join("logs/app.log"), "ERROR x\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", batch.join("logs/link")).unwrap();
        set_uploads_root(&format!("{}/", dir.path().display()));

        let name = Path::new("upload://3/0123456789abcdef");
        assert_eq!(resolve(name), batch);
        assert_eq!(resolve(Path::new("/var/log/app.log")), Path::new("/var/log/app.log"));
        // A sibling that only shares the prefix is not under it.
        let sibling = dir.path().join("3/0123456789abcdef0/x");
        assert_eq!(rename(&sibling, &batch, name), sibling);

        let listing = discover(&[name.to_path_buf()], &WalkOptions::default(), 1).unwrap();
        let file = Path::new("upload://3/0123456789abcdef/logs/app.log");
        assert_eq!(listing.files.iter().map(|f| f.path.as_path()).collect::<Vec<_>>(), [file]);
        assert_eq!(listing.files[0].size, 8);
        let skipped: Vec<&str> = listing.skipped.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(skipped, ["upload://3/0123456789abcdef/logs/link"]);

        let mut text = String::new();
        let progress = crate::Progress::new();
        crate::read::open(file, &progress, u64::MAX).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "ERROR x\n");
        let missing = discover(&[name.join("gone")], &WalkOptions::default(), 1).unwrap_err();
        assert!(missing.to_string().contains("upload://3/0123456789abcdef/gone"), "{missing}");
        assert!(!missing.to_string().contains(&dir.path().display().to_string()), "{missing}");
    }
}
