//! Temporary trees and small helpers shared by the tests.

use std::io::Write;
use std::path::{Path, PathBuf};

use fusionflow_core::grep::{self, GrepOptions, GrepRequest, GrepSummary};
use fusionflow_core::Progress;

/// A temporary directory that holds inputs under `in/` and outputs under `out/`.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Dir { tmp: tempfile::tempdir().unwrap() }
    }

    pub fn input(&self) -> PathBuf {
        self.tmp.path().join("in")
    }

    pub fn output(&self) -> PathBuf {
        self.tmp.path().join("out")
    }

    /// Writes `bytes` to `in/<name>`, creating parent directories.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.input().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn request(&self, patterns: &[&str]) -> GrepRequest {
        GrepRequest {
            inputs: vec![self.input()],
            grep: GrepOptions {
                patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
                ..Default::default()
            },
            output_dir: self.output(),
            threads: 2,
            ..Default::default()
        }
    }

    pub fn run(&self, request: &GrepRequest) -> (GrepSummary, String) {
        let summary = grep::run(request, &Progress::new()).unwrap();
        let bytes = std::fs::read(self.output().join(&summary.output)).unwrap();
        // Paths in the output are absolute; make them relative for readable asserts.
        let prefix = format!("{}/", self.input().display());
        (summary, String::from_utf8_lossy(&bytes).replace(&prefix, ""))
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn exists(path: &Path) -> bool {
    path.try_exists().unwrap()
}
