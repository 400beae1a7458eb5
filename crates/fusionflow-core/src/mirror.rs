//! Where the outputs of an input file go: the input trees mirrored under the
//! output directory.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::walk::InputFile;

/// The path of `file`'s output relative to the output directory.
///
/// A file found under a directory input keeps its path below that directory;
/// with several inputs, that path is put under the directory's own name, so
/// that `a/x.jpg` and `b/x.jpg` stay apart. A file given directly keeps its
/// name. Names that could leave the output directory (`..` in an object key)
/// are refused.
pub fn relative_output(file: &Path, roots: &[PathBuf]) -> Result<PathBuf, String> {
    let root = roots
        .iter()
        .filter(|root| file.starts_with(root))
        .max_by_key(|root| root.components().count());
    let relative = match root {
        Some(root) if root.as_path() != file => {
            let below = file.strip_prefix(root).unwrap_or(file);
            match root.file_name().filter(|_| roots.len() > 1) {
                Some(name) => Path::new(name).join(below),
                None => below.to_path_buf(),
            }
        }
        _ => file.file_name().map(PathBuf::from).unwrap_or_default(),
    };
    let safe = relative.components().all(|c| matches!(c, Component::Normal(_)));
    if relative.as_os_str().is_empty() || !safe {
        return Err(format!("cannot name an output for {}", file.display()));
    }
    Ok(relative)
}

/// Each file's output path: its mirrored path turned into the output's by
/// `name`, or why it has none. Two inputs bound for one output (two roots of
/// one name, `a.png` and `a.PNG` written as JPEG) are caught here, before
/// any reading: the first keeps the name, the others are per-file errors.
pub fn output_names(
    files: &[InputFile],
    roots: &[PathBuf],
    name: impl Fn(PathBuf) -> PathBuf,
) -> Vec<Result<PathBuf, String>> {
    let mut taken: HashMap<PathBuf, &Path> = HashMap::new();
    files
        .iter()
        .map(|file| {
            let output = name(relative_output(&file.path, roots)?);
            if let Some(first) = taken.get(&output) {
                return Err(format!(
                    "output {} is already written for {}",
                    output.display(),
                    first.display()
                ));
            }
            taken.insert(output.clone(), &file.path);
            Ok(output)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(file: &str, roots: &[&str]) -> Result<PathBuf, String> {
        let roots: Vec<PathBuf> = roots.iter().map(PathBuf::from).collect();
        relative_output(Path::new(file), &roots)
    }

    #[test]
    fn one_directory_is_mirrored_below_the_output() {
        assert_eq!(rel("/p/2024/a.jpg", &["/p"]).unwrap(), Path::new("2024/a.jpg"));
        assert_eq!(rel("/p/2024/a.jpg", &["/p/"]).unwrap(), Path::new("2024/a.jpg"));
    }

    #[test]
    fn several_inputs_keep_their_names_apart() {
        assert_eq!(rel("/x/a/1.jpg", &["/x/a", "/y/b"]).unwrap(), Path::new("a/1.jpg"));
        assert_eq!(rel("/y/b/1.jpg", &["/x/a", "/y/b"]).unwrap(), Path::new("b/1.jpg"));
        assert_eq!(rel("/z/one.png", &["/x/a", "/z/one.png"]).unwrap(), Path::new("one.png"));
    }

    #[test]
    fn the_deepest_root_names_the_file() {
        assert_eq!(rel("/x/a/b/1.jpg", &["/x/a", "/x/a/b"]).unwrap(), Path::new("b/1.jpg"));
    }

    #[test]
    fn object_urls_are_mirrored_like_paths() {
        assert_eq!(
            rel("s3://bucket/in/d/k.jpg", &["s3://bucket/in"]).unwrap(),
            Path::new("d/k.jpg")
        );
    }

    #[test]
    fn names_leaving_the_output_are_refused() {
        assert!(rel("s3://bucket/in/../../etc/passwd", &["s3://bucket/in"]).is_err());
        assert!(rel("/", &["/"]).is_err());
    }
}
