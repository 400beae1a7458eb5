//! Which of a job's files lie under its inputs once symbolic links are resolved. A shard
//! reads only those: a plan changed after its inputs were checked, or a folder swapped
//! for a link since it was listed, must not widen what a job reads.
//!
//! The roots are compared as written: the job's inputs were resolved when they were
//! checked, so a root that resolves elsewhere now was swapped for a link since, and
//! covers nothing it leads to. Files are compared resolved, each folder once (a shard
//! holds thousands of files from a few folders): a file is its resolved folder joined
//! with its name, or, when it is itself a link, wherever the link leads; what does not
//! resolve (a loop, a dangling link, a folder gone) is outside. `upload://` and `s3://`
//! names are compared as written (they are canonical), and one with a `.` or `..` part
//! is outside.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::names::UPLOADS;

const S3: &str = "s3://";

/// The indices of those of `files` that lie under none of `roots` (a root covers itself
/// and everything below it; `s3://b/logs` covers `s3://b/logs/x`, not `s3://b/logs-old`).
pub fn outside(files: &[PathBuf], roots: &[PathBuf]) -> Vec<usize> {
    let roots: Vec<Place> = roots.iter().map(|root| Place::of_root(root)).collect();
    let mut folders = HashMap::new();
    files
        .iter()
        .enumerate()
        .filter(|(_, file)| {
            let place = Place::of_file(file, &mut folders);
            !roots.iter().any(|root| place.is_under(root))
        })
        .map(|(index, _)| index)
        .collect()
}

/// Where a file or root is, in the form that is compared.
enum Place {
    Named(String),
    Local(PathBuf),
    Nowhere,
}

impl Place {
    fn of_root(root: &Path) -> Self {
        match named(root) {
            Some(name) => Self::Named(name.trim_end_matches('/').to_owned()),
            None if plain(root) => Self::Local(root.components().collect()),
            None => Self::Nowhere,
        }
    }

    fn of_file(file: &Path, folders: &mut HashMap<PathBuf, Option<PathBuf>>) -> Self {
        if let Some(name) = named(file) {
            let plain = !name.split('/').skip(3).any(|part| part == "." || part == "..");
            return if plain { Self::Named(name.to_owned()) } else { Self::Nowhere };
        }
        let (Some(parent), Some(name)) = (file.parent(), file.file_name()) else {
            return canonical(file).map_or(Self::Nowhere, Self::Local);
        };
        if parent.as_os_str().is_empty() {
            return canonical(file).map_or(Self::Nowhere, Self::Local);
        }
        if !folders.contains_key(parent) {
            folders.insert(parent.to_path_buf(), canonical(parent));
        }
        let Some(real_parent) = &folders[parent] else { return Self::Nowhere };
        let full = real_parent.join(name);
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                canonical(&full).map_or(Self::Nowhere, Self::Local)
            }
            _ => Self::Local(full),
        }
    }

    fn is_under(&self, root: &Self) -> bool {
        match (self, root) {
            (Self::Named(place), Self::Named(root)) => {
                let place = place.trim_end_matches('/');
                place == root
                    || place.strip_prefix(root.as_str()).is_some_and(|r| r.starts_with('/'))
            }
            (Self::Local(place), Self::Local(root)) => place.starts_with(root),
            _ => false,
        }
    }
}

fn named(path: &Path) -> Option<&str> {
    path.to_str().filter(|text| text.starts_with(UPLOADS) || text.starts_with(S3))
}

/// `path` with its links resolved; None when that fails.
fn canonical(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// Absolute, without `.` or `..` parts.
fn plain(path: &Path) -> bool {
    path.is_absolute()
        && path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn files_are_compared_with_their_links_resolved() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for folder in ["in/sub", "out", "in-old"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
        }
        std::fs::write(root.join("out/secret"), "x").unwrap();
        std::fs::write(root.join("in/sub/a.log"), "x").unwrap();
        symlink(root.join("out"), root.join("in/swapped")).unwrap();
        symlink(root.join("out/secret"), root.join("in/sub/link.log")).unwrap();
        symlink(root.join("in/sub/a.log"), root.join("in/sub/inside.log")).unwrap();
        let files: Vec<PathBuf> = [
            "in/sub/a.log",             // 0: under
            "in/swapped/secret",        // 1: a folder that is a link out
            "in/sub/link.log",          // 2: a file that is a link out
            "in/sub/inside.log",        // 3: a link that stays inside
            "in/sub/../../out/secret",  // 4: dot-dot out
            "in-old/x",                 // 5: a sibling starting with the root's name
            "in/sub/missing.log",       // 6: missing, but under
            "in/nope/../../out/secret", // 7: a missing folder and dot-dot
        ]
        .iter()
        .map(|p| root.join(p))
        .collect();
        assert_eq!(outside(&files, &[root.join("in")]), [1, 2, 4, 5, 7]);
        // A root that is a link now (swapped since the inputs were resolved) covers
        // nothing it leads to.
        symlink(root.join("in"), root.join("alias")).unwrap();
        assert_eq!(outside(&files, &[root.join("alias/")]), [0, 1, 2, 3, 4, 5, 6, 7]);
        let through_alias = [root.join("alias/sub/a.log")];
        assert_eq!(outside(&through_alias, &[root.join("alias")]), [0]);
        assert_eq!(outside(&through_alias, &[root.join("in")]), [] as [usize; 0]);
        // Links that loop, or lead nowhere, resolve nowhere.
        symlink(root.join("in/loop"), root.join("in/loop")).unwrap();
        symlink(root.join("gone/x"), root.join("in/dangling.log")).unwrap();
        let odd = [root.join("in/loop/../sub/a.log"), root.join("in/dangling.log")];
        assert_eq!(outside(&odd, &[root.join("in")]), [0, 1]);
        assert_eq!(outside(&files, &[]), [0, 1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn names_are_compared_as_written() {
        let files: Vec<PathBuf> = [
            "s3://b/logs/2026/x.log",
            "s3://b/logs-old/x.log",
            "s3://b/logs/../secret/x",
            "s3://b/logs",
            "upload://2/0123456789abcdef/app.log",
            "upload://3/0123456789abcdef/app.log",
            "upload://2/0123456789abcdef/./app.log",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let roots = [PathBuf::from("s3://b/logs/"), PathBuf::from("upload://2/0123456789abcdef")];
        assert_eq!(outside(&files, &roots), [1, 2, 5, 6]);
        // A local root covers no name, nor a name a local path.
        assert_eq!(outside(&files[..1], &[PathBuf::from("/")]), [0]);
        assert_eq!(outside(&[PathBuf::from("/etc/passwd")], &roots), [0]);
    }
}
