//! Input discovery: turn the paths a user gave into a sorted list of files.
//!
//! Directory trees are walked in parallel (jwalk on the run's rayon pool).
//! Policies, chosen to be unsurprising and safe on servers:
//! - A file named explicitly is always an input, whatever the filters say.
//! - Hidden entries (names starting with `.`) inside a tree are skipped unless
//!   `hidden` is set.
//! - Symbolic links inside a tree are not followed unless `follow_symlinks` is
//!   set; when followed, a link whose target lies outside the root it was found
//!   under is skipped (it could escape an allowed root), and loops are reported.
//!   Every link not followed is listed, so nothing vanishes silently.
//! - Globs without a `/` match the file name; globs with a `/` match the path
//!   relative to the root. `exclude` also prunes whole directories.
//! - The result is sorted by path and free of duplicates, so runs are
//!   deterministic whatever the thread count.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use globset::{GlobSet, GlobSetBuilder};
use jwalk::{Parallelism, WalkDirGeneric};
use rayon::ThreadPool;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One file to process.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct InputFile {
    /// The path as found (root joined with the path below it).
    pub path: PathBuf,
    /// Size on disk in bytes.
    pub size: u64,
}

/// A path that was left out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The path, lossily converted to UTF-8 for reporting.
    pub path: String,
    /// Why it was left out or could not be listed.
    pub reason: String,
}

/// The outcome of discovery.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Files to process, sorted by path.
    pub files: Vec<InputFile>,
    /// Symbolic links not followed and entries that could not be read.
    pub skipped: Vec<Skipped>,
}

impl Listing {
    /// Total on-disk bytes of all files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// How to find inputs. Build a [`Walker`] from it with [`WalkOptions::build`].
#[derive(Clone, Debug, Default)]
pub struct WalkOptions {
    /// Only files matching one of these globs (when non-empty).
    pub include: Vec<String>,
    /// Files and directories matching any of these globs are left out.
    pub exclude: Vec<String>,
    /// Include hidden files and directories found inside trees.
    pub hidden: bool,
    /// Follow symbolic links found inside trees (never outside their root).
    pub follow_symlinks: bool,
    /// Take the inputs as the exact, already-listed files of a planned shard:
    /// nothing is walked or filtered, and the order is kept.
    pub exact: bool,
}

impl WalkOptions {
    /// Validates the globs and returns a walker.
    pub fn build(&self) -> Result<Walker> {
        Ok(Walker {
            include: Filter::new("include", &self.include)?,
            exclude: Filter::new("exclude", &self.exclude)?,
            hidden: self.hidden,
            follow_symlinks: self.follow_symlinks,
            exact: self.exact,
        })
    }
}

/// Globs split by what they match against: the name or the relative path.
#[derive(Clone, Debug)]
struct Filter {
    by_name: GlobSet,
    by_path: GlobSet,
}

impl Filter {
    fn new(param: &str, globs: &[String]) -> Result<Self> {
        let mut by_name = GlobSetBuilder::new();
        let mut by_path = GlobSetBuilder::new();
        for pattern in globs {
            let glob = globset::GlobBuilder::new(pattern).literal_separator(true).build().map_err(
                |e| Error::invalid(param, format!("bad glob {pattern:?}: {}", e.kind())),
            )?;
            if pattern.contains('/') {
                by_path.add(glob);
            } else {
                by_name.add(glob);
            }
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|e| Error::invalid(param, e));
        Ok(Filter { by_name: build(by_name)?, by_path: build(by_path)? })
    }

    fn is_empty(&self) -> bool {
        self.by_name.is_empty() && self.by_path.is_empty()
    }

    fn matches(&self, relative: &Path) -> bool {
        relative.file_name().is_some_and(|name| self.by_name.is_match(name))
            || self.by_path.is_match(relative)
    }
}

/// Validated discovery settings.
#[derive(Clone, Debug)]
pub struct Walker {
    include: Filter,
    exclude: Filter,
    hidden: bool,
    follow_symlinks: bool,
    exact: bool,
}

impl Walker {
    /// Lists the files under `roots`, walking directories on `pool`.
    ///
    /// A root that does not exist is an error of the whole call; problems
    /// below a root are listed in [`Listing::skipped`].
    pub fn list(&self, roots: &[PathBuf], pool: &Arc<ThreadPool>) -> Result<Listing> {
        if self.exact {
            return Ok(exact_listing(roots));
        }
        let mut listing = Listing::default();
        for name in roots {
            let (files_before, skipped_before) = (listing.files.len(), listing.skipped.len());
            let root = crate::names::resolve(name);
            if let Some(url) = crate::store::remote_url(&root) {
                self.list_remote(url, &mut listing)?;
            } else {
                let meta = std::fs::metadata(&root).map_err(|e| Error::io(name, e))?;
                if meta.is_dir() {
                    self.walk_tree(&root, pool, &mut listing);
                } else if meta.is_file() {
                    listing.files.push(InputFile { path: root.to_path_buf(), size: meta.len() });
                } else {
                    listing.skipped.push(skip(&root, special_kind(&meta)));
                }
            }
            if let Cow::Owned(resolved) = &root {
                // What was found is reported by the name it was found under.
                for file in &mut listing.files[files_before..] {
                    file.path = crate::names::rename(&file.path, resolved, name);
                }
                for skipped in &mut listing.skipped[skipped_before..] {
                    let path = crate::names::rename(Path::new(&skipped.path), resolved, name);
                    skipped.path = path.to_string_lossy().into_owned();
                }
            }
        }
        listing.files.sort();
        listing.files.dedup_by(|a, b| a.path == b.path);
        listing.skipped.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listing)
    }

    /// Lists the objects under an `s3://` prefix, with the tree rules applied
    /// to keys below the prefix. One object named exactly is always an input.
    fn list_remote(&self, url: &str, listing: &mut Listing) -> Result<()> {
        let prefix = format!("{}/", url.trim_end_matches('/'));
        for (object, size) in crate::store::list(url)? {
            let path = PathBuf::from(&object);
            if let Some(relative) = object.strip_prefix(&prefix).map(Path::new) {
                let hidden = relative.iter().any(|c| c.to_string_lossy().starts_with('.'));
                if (hidden && !self.hidden)
                    || self.exclude.matches(relative)
                    || (!self.include.is_empty() && !self.include.matches(relative))
                {
                    continue;
                }
            }
            listing.files.push(InputFile { path, size });
        }
        Ok(())
    }

    fn walk_tree(&self, root: &Path, pool: &Arc<ThreadPool>, listing: &mut Listing) {
        let skipped = Arc::new(Mutex::new(Vec::new()));
        let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let walk = {
            let exclude = self.exclude.clone();
            let root = root.to_path_buf();
            let skipped = Arc::clone(&skipped);
            let follow = self.follow_symlinks;
            WalkDirGeneric::<(Lineage, bool)>::new(root.clone())
                .skip_hidden(!self.hidden)
                .follow_links(self.follow_symlinks)
                .parallelism(Parallelism::RayonExistingPool {
                    pool: Arc::clone(pool),
                    busy_timeout: None,
                })
                // Prune here, before jwalk descends, so excluded trees cost nothing.
                .process_read_dir(move |_, dir, lineage, children| {
                    if follow {
                        lineage.folders.extend(identity(dir));
                    }
                    children.retain_mut(|child| {
                        let Ok(entry) = child else { return true };
                        let path = entry.path();
                        let relative = path.strip_prefix(&root).unwrap_or(&path);
                        if exclude.matches(relative) {
                            return false;
                        }
                        entry.client_state = lineage.through_link;
                        if !entry.path_is_symlink() {
                            return true;
                        }
                        let reason = if follow {
                            match std::fs::canonicalize(&path) {
                                Ok(target) if !target.starts_with(&canonical_root) => {
                                    "symlink target is outside the input root"
                                }
                                Ok(_)
                                    if identity(&path).is_some_and(|id| {
                                        entry.file_type().is_dir() && lineage.folders.contains(&id)
                                    }) =>
                                {
                                    "directory loop: a link to a folder it is in"
                                }
                                Ok(_) => {
                                    // Followed: what lies below was reached through a link.
                                    entry.client_state = true;
                                    if let Some(children) = entry.read_children.as_mut() {
                                        children.client_read_state = Some(Lineage {
                                            folders: lineage.folders.clone(),
                                            through_link: true,
                                        });
                                    }
                                    return true;
                                }
                                Err(_) => "broken symlink",
                            }
                        } else {
                            "symlink not followed (set follow_symlinks)"
                        };
                        skipped.lock().unwrap().push(skip(&path, reason));
                        false
                    });
                })
        };
        let mut found: Vec<Found> = Vec::new();
        for entry in walk {
            match entry {
                Ok(entry) if !entry.file_type().is_dir() || entry.path_is_symlink() => {
                    let path = entry.path();
                    let relative = path.strip_prefix(root).unwrap_or(&path);
                    if !self.include.is_empty() && !self.include.matches(relative) {
                        continue;
                    }
                    match entry.metadata() {
                        Ok(meta) if meta.is_file() => {
                            let file = InputFile { path, size: meta.len() };
                            found.push((entry.client_state, file, identity_of(&meta)));
                        }
                        Ok(meta) if meta.is_dir() => {}
                        Ok(meta) => listing.skipped.push(skip(&path, special_kind(&meta))),
                        Err(e) => listing.skipped.push(skip(&path, e)),
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let path = e.path().map_or_else(|| root.to_path_buf(), Path::to_path_buf);
                    listing.skipped.push(skip(&path, e));
                }
            }
        }
        if self.follow_symlinks {
            once_each(&mut found, &mut listing.skipped);
        }
        listing.files.extend(found.into_iter().map(|(_, file, _)| file));
        listing.skipped.append(&mut skipped.lock().unwrap());
    }
}

/// A file found, whether a link led to it, and its identity.
type Found = (bool, InputFile, Option<(u64, u64)>);

/// Keeps each file reached twice (through links) once: where no link led to it, else
/// first in path order; the others are listed in `skipped`.
fn once_each(found: &mut Vec<Found>, skipped: &mut Vec<Skipped>) {
    found.sort_by(|a, b| (a.0, &a.1.path).cmp(&(b.0, &b.1.path)));
    let mut seen = std::collections::HashSet::new();
    found.retain(|(_, file, id)| {
        let first = id.is_none_or(|id| seen.insert(id));
        if !first {
            skipped
                .push(skip(&file.path, "the same file as another input (reached through a link)"));
        }
        first
    });
}

/// What the walk knows of the folders above a directory, in jwalk's per-directory state.
#[derive(Clone, Debug, Default)]
struct Lineage {
    /// The identities of the folders it is in (when links are followed).
    folders: Vec<(u64, u64)>,
    /// Whether a link led to it.
    through_link: bool,
}

/// A file's or folder's identity (device, inode), following links; None off Unix.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().and_then(|meta| identity_of(&meta))
}

#[cfg(unix)]
#[allow(clippy::unnecessary_wraps)] // None elsewhere
fn identity_of(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity_of(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Why a path that is neither a file nor a folder is not read: reading a FIFO or a
/// device could block forever or never end.
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_fifo() {
            return "a named pipe (FIFO), not a file: not read";
        }
        if kind.is_socket() {
            return "a socket, not a file: not read";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device, not a file: not read";
        }
    }
    let _ = meta;
    "not a regular file: not read"
}

fn skip(path: &Path, reason: impl std::fmt::Display) -> Skipped {
    Skipped { path: crate::names::display(path), reason: reason.to_string() }
}

/// Lists the files under `roots` on a pool of `threads` (0: one per core):
/// what a job plans before splitting the files into shards.
pub fn discover(roots: &[PathBuf], options: &WalkOptions, threads: usize) -> Result<Listing> {
    let walker = options.build()?;
    walker.list(roots, &crate::thread_pool(threads)?)
}

/// The files of a planned shard, as given. A file that vanished since it was
/// planned is still listed (size 0): opening it fails, which makes it a
/// per-file error of the run rather than an error of the whole shard.
fn exact_listing(paths: &[PathBuf]) -> Listing {
    let files = paths
        .iter()
        .map(|path| {
            let resolved = crate::names::resolve(path);
            let size = match crate::store::remote_url(&resolved) {
                Some(url) => crate::store::size(url).unwrap_or(0),
                None => std::fs::metadata(&resolved).map_or(0, |m| m.len()),
            };
            InputFile { path: path.clone(), size }
        })
        .collect();
    Listing { files, skipped: Vec::new() }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn pool() -> Arc<ThreadPool> {
        Arc::new(rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap())
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("b.log", "bb"),
            ("a.log", "a"),
            ("sub/c.log.gz", "ccc"),
            ("sub/deep/d.txt", "dddd"),
            (".hidden/e.log", "e"),
            (".f.log", "f"),
            ("skip/g.log", "g"),
        ] {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, body).unwrap();
        }
        dir
    }

    fn names(listing: &Listing, root: &Path) -> Vec<String> {
        let relative = |f: &InputFile| f.path.strip_prefix(root).unwrap().display().to_string();
        listing.files.iter().map(relative).collect()
    }

    fn list(options: &WalkOptions, root: &Path) -> Listing {
        options.build().unwrap().list(&[root.to_path_buf()], &pool()).unwrap()
    }

    #[test]
    fn walks_sorted_skipping_hidden_with_sizes() {
        let dir = tree();
        let listing = list(&WalkOptions::default(), dir.path());
        assert_eq!(
            names(&listing, dir.path()),
            ["a.log", "b.log", "skip/g.log", "sub/c.log.gz", "sub/deep/d.txt"]
        );
        assert_eq!(listing.total_bytes(), 1 + 2 + 1 + 3 + 4);
    }

    #[test]
    fn hidden_when_asked() {
        let dir = tree();
        let listing = list(&WalkOptions { hidden: true, ..Default::default() }, dir.path());
        assert_eq!(names(&listing, dir.path()).len(), 7);
    }

    #[test]
    fn include_and_exclude_by_name_and_by_path() {
        let dir = tree();
        let options = WalkOptions {
            include: vec!["*.log".into(), "sub/deep/*".into()],
            exclude: vec!["skip".into()],
            ..Default::default()
        };
        assert_eq!(
            names(&list(&options, dir.path()), dir.path()),
            ["a.log", "b.log", "sub/deep/d.txt"]
        );
    }

    #[test]
    fn explicit_files_are_kept_and_duplicates_removed() {
        let dir = tree();
        let options = WalkOptions { exclude: vec!["*.log".into()], ..Default::default() };
        let a = dir.path().join("a.log");
        let listing = options.build().unwrap().list(&[a.clone(), a.clone()], &pool()).unwrap();
        assert_eq!(listing.files, [InputFile { path: a, size: 1 }]);
    }

    #[test]
    fn missing_root_is_not_found_and_bad_glob_is_invalid() {
        let err = WalkOptions::default()
            .build()
            .unwrap()
            .list(&[PathBuf::from("/no/such/dir")], &pool())
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        let err =
            WalkOptions { include: vec!["a[".into()], ..Default::default() }.build().unwrap_err();
        assert!(err.to_string().contains("include"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_listed_not_followed_and_never_escape_the_root() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.log"), "x").unwrap();
        let dir = tree();
        symlink(outside.path(), dir.path().join("escape")).unwrap();
        symlink(dir.path().join("sub"), dir.path().join("loop")).unwrap();
        symlink(dir.path(), dir.path().join("sub/up")).unwrap();

        let listing = list(&WalkOptions::default(), dir.path());
        assert_eq!(names(&listing, dir.path()).len(), 5);
        assert_eq!(listing.skipped.len(), 3, "{:?}", listing.skipped);

        let listing =
            list(&WalkOptions { follow_symlinks: true, ..Default::default() }, dir.path());
        let found = names(&listing, dir.path());
        assert!(!found.iter().any(|n| n.contains("secret")), "{found:?}");
        assert!(
            listing.skipped.iter().any(|s| s.reason.contains("outside")),
            "{:?}",
            listing.skipped
        );
        assert!(listing.skipped.iter().any(|s| s.reason.contains("loop")), "{:?}", listing.skipped);
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_loop_is_skipped_and_a_file_reached_twice_is_read_once() {
        use std::os::unix::fs::symlink;
        let dir = tree();
        symlink(".", dir.path().join("dirloop")).unwrap(); // relative: jwalk's check misses it
        symlink("..", dir.path().join("sub/deep/up")).unwrap();
        symlink("sub", dir.path().join("again")).unwrap(); // sub's files, by a second way
        let follow = WalkOptions { follow_symlinks: true, ..Default::default() };
        let listing = list(&follow, dir.path());
        // Each file once, by the path no link leads through.
        assert_eq!(
            names(&listing, dir.path()),
            ["a.log", "b.log", "skip/g.log", "sub/c.log.gz", "sub/deep/d.txt"]
        );
        let reasons: Vec<(String, &str)> = listing
            .skipped
            .iter()
            .map(|s| {
                let path = Path::new(&s.path).strip_prefix(dir.path()).unwrap();
                (path.display().to_string(), s.reason.as_str())
            })
            .collect();
        let loop_reason = "directory loop: a link to a folder it is in";
        let twice = "the same file as another input (reached through a link)";
        assert_eq!(
            reasons,
            [
                ("again/c.log.gz".to_string(), twice),
                ("again/deep/d.txt".to_string(), twice),
                ("again/deep/up".to_string(), loop_reason),
                ("dirloop".to_string(), loop_reason),
                ("sub/deep/up".to_string(), loop_reason),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn pipes_are_listed_as_skipped_and_never_opened() {
        let dir = tree();
        let fifo = dir.path().join("sub/pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let listing = list(&WalkOptions::default(), dir.path());
        assert!(!names(&listing, dir.path()).contains(&"sub/pipe".to_string()));
        let reason = "a named pipe (FIFO), not a file: not read";
        assert!(listing
            .skipped
            .iter()
            .any(|s| s.path == fifo.to_str().unwrap() && s.reason == reason));
        // Named directly, too: listed as skipped, not opened (which would block).
        let direct = list(&WalkOptions::default(), &fifo);
        assert!(direct.files.is_empty());
        assert_eq!(direct.skipped.len(), 1);
        assert_eq!(direct.skipped[0].reason, reason);
    }
}
