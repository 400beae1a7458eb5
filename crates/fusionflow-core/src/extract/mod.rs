//! The `extract-text` kernel: the text of PDF, DOCX, ODT, HTML and plain text
//! files as UTF-8, one `.txt` per input mirroring the tree, and
//! `documents.jsonl` describing each.
//!
//! Files are read in parallel by the run's threads; parsing happens in worker
//! processes (`worker`), one file at a time each, under a time limit, so that
//! a hostile file costs an entry in `errors`, not the run. With `isolate`
//! off, parsing happens on the run's threads with only panics caught.

mod flatten;
mod html;
mod office;
mod pdf;
mod plain;
mod poppler_layout;
mod rewrite;
mod uncrop;
pub mod worker;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::mirror::output_names;
use crate::walk::{InputFile, Skipped, WalkOptions};
use crate::{read, thread_pool, Error, FileError, Progress, Result};

/// The document formats read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocFormat {
    /// PDF, through poppler.
    Pdf,
    /// Word (Office Open XML).
    Docx,
    /// `OpenDocument` text.
    Odt,
    /// HTML.
    Html,
    /// Plain text, Markdown, CSV and the like, in any encoding.
    Text,
}

impl DocFormat {
    fn name(self) -> &'static str {
        match self {
            DocFormat::Pdf => "pdf",
            DocFormat::Docx => "docx",
            DocFormat::Odt => "odt",
            DocFormat::Html => "html",
            DocFormat::Text => "text",
        }
    }
}

const TEXT_EXTENSIONS: &[&str] =
    &["txt", "text", "md", "markdown", "rst", "csv", "tsv", "log", "json", "xml", "yaml", "yml"];

/// The format of a file from its content, and its name where content cannot
/// tell (HTML, text); `None` for anything else.
pub fn detect(path: &Path, data: &[u8]) -> Option<DocFormat> {
    let head = &data[..data.len().min(1024)];
    // `x.txt.gz` was decompressed by the reader: its name is `x.txt`.
    let name = match read::Compression::from_path(path) {
        read::Compression::None => path.to_path_buf(),
        _ => path.with_extension(""),
    };
    let extension = name.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    // Readers accept junk before the header (up to 1 KiB), or no header at all when the
    // objects follow (poppler: "May not be a PDF file (continuing anyway)"); a text quoting
    // one is still text.
    let pdf_later = extension.as_deref() == Some("pdf")
        && [&b"%PDF-"[..], b" 0 obj"].iter().any(|m| memchr::memmem::find(head, m).is_some());
    if data.starts_with(b"%PDF-") || pdf_later {
        return Some(DocFormat::Pdf);
    }
    if data.starts_with(b"PK\x03\x04") {
        return office::sniff(data).map(|kind| match kind {
            office::Kind::Docx => DocFormat::Docx,
            office::Kind::Odt => DocFormat::Odt,
        });
    }
    let lower = String::from_utf8_lossy(&head[..head.len().min(512)]).to_ascii_lowercase();
    if matches!(extension.as_deref(), Some("html" | "htm" | "xhtml"))
        || lower.trim_start().starts_with("<!doctype html")
        || lower.contains("<html")
    {
        return Some(DocFormat::Html);
    }
    let binary = memchr::memchr(0, &data[..data.len().min(8192)]).is_some()
        && !data.starts_with(b"\xFF\xFE")
        && !data.starts_with(b"\xFE\xFF");
    match extension.as_deref() {
        Some(e) if TEXT_EXTENSIONS.contains(&e) && !binary => Some(DocFormat::Text),
        None if !binary => Some(DocFormat::Text), // README, LICENSE
        _ => None,
    }
}

/// What a parser found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The text, UTF-8; PDF pages end with a form feed.
    pub text: String,
    /// Pages, for formats that have them (PDF).
    pub pages: Option<u32>,
    /// The encoding the text was decoded from (text and HTML).
    pub encoding: Option<String>,
    /// What went wrong in a part while the rest was read (`page 3: ...`).
    pub notes: Vec<String>,
}

/// Parses `data` as `format`: what runs in a worker process.
pub fn extract_document(format: DocFormat, data: Vec<u8>) -> Result<Extracted, String> {
    match format {
        DocFormat::Pdf => pdf::extract(data),
        DocFormat::Docx => office::extract(&data, office::Kind::Docx),
        DocFormat::Odt => office::extract(&data, office::Kind::Odt),
        DocFormat::Html => {
            let (decoded, encoding) = plain::decode(&data);
            Ok(Extracted { encoding: Some(encoding.name().to_owned()), ..html::extract(&decoded) })
        }
        DocFormat::Text => Ok(plain::extract(&data)),
    }
}

/// The pipeline's parameters, as JSON from Python.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractOptions {
    /// Formats to extract; files of others are listed as skipped. Empty: all.
    pub formats: Vec<DocFormat>,
    /// Time limit for parsing one file, in seconds.
    pub timeout_s: f64,
    /// Larger files are per-file errors, not read.
    pub max_file_bytes: u64,
    /// Parse in worker processes (needs `worker_command`).
    pub isolate: bool,
    /// Detect each document's language.
    pub detect_language: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            formats: Vec::new(),
            timeout_s: 60.0,
            max_file_bytes: 256 << 20,
            isolate: true,
            detect_language: true,
        }
    }
}

/// Everything one run needs.
#[derive(Clone, Debug, Default)]
pub struct ExtractRequest {
    /// Files and directories to read.
    pub inputs: Vec<PathBuf>,
    /// The trees to mirror (a job's inputs, for a shard); empty means `inputs`.
    pub roots: Vec<PathBuf>,
    /// How to discover files under directories.
    pub walk: WalkOptions,
    /// What to extract.
    pub options: ExtractOptions,
    /// Where the `.txt` files and `documents.jsonl` go.
    pub output_dir: PathBuf,
    /// Reading threads, and at most as many worker processes; 0: one per core.
    pub threads: usize,
    /// The command that starts a worker process (it runs [`worker::serve`]
    /// on its stdin and stdout); needed with `isolate`.
    pub worker_command: Vec<String>,
}

/// One input: a line of `documents.jsonl`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// The input file.
    pub path: String,
    /// The text file, relative to the output directory (none on error).
    pub output: Option<String>,
    /// The format found (none if unsupported).
    pub format: Option<DocFormat>,
    /// Pages (PDF).
    pub pages: Option<u32>,
    /// Characters of text.
    pub characters: u64,
    /// ISO 639-3 code of the language, when detected reliably.
    pub language: Option<String>,
    /// The encoding decoded from (text, HTML).
    pub encoding: Option<String>,
    /// Size of the input.
    pub bytes: u64,
    /// Why there is no text.
    pub error: Option<String>,
    /// What went wrong in a part (a page) while the rest was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The result of a run: the contents of `summary.json`.
///
/// `files_total == files_extracted + errors.len() + files_not_selected`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ExtractSummary {
    /// Files found.
    pub files_total: u64,
    /// Documents whose text was written.
    pub files_extracted: u64,
    /// Files of formats left out by `formats` (listed in `skipped`).
    pub files_not_selected: u64,
    /// Pages of the PDFs extracted.
    pub pages: u64,
    /// Characters written.
    pub characters: u64,
    /// Bytes of the inputs read.
    pub bytes_in: u64,
    /// Documents extracted per format.
    pub formats: BTreeMap<DocFormat, u64>,
    /// Documents per detected language.
    pub languages: BTreeMap<String, u64>,
    /// Files that failed, with the reason.
    pub errors: Vec<FileError>,
    /// Paths left out: during discovery, or as formats not selected.
    pub skipped: Vec<Skipped>,
    /// The documents list's name in the output directory.
    pub documents: String,
    /// Whether parsing ran in worker processes.
    pub isolated: bool,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Threads used.
    pub threads: usize,
}

/// The documents list's file name.
pub const DOCUMENTS: &str = "documents.jsonl";

enum Outcome {
    Done(Document),
    NotSelected(DocFormat),
    Cancelled,
    Transient(String),
}

/// Lists the inputs and writes the text of each document and the list.
pub fn run(request: &ExtractRequest, progress: &Progress) -> Result<ExtractSummary> {
    let started = Instant::now();
    let options = &request.options;
    if !(options.timeout_s > 0.0 && options.timeout_s.is_finite()) {
        return Err(Error::invalid("timeout_s", "must be a positive number of seconds"));
    }
    if options.isolate && request.worker_command.is_empty() {
        return Err(Error::invalid("isolate", "isolated parsing needs a worker command"));
    }
    let walker = request.walk.build()?;
    let pool = thread_pool(request.threads)?;
    let listing = walker.list(&request.inputs, &pool)?;
    progress.set_plan(listing.files.len() as u64, listing.total_bytes());
    let roots = if request.roots.is_empty() { &request.inputs } else { &request.roots };
    let workers = options.isolate.then(|| {
        worker::Pool::new(
            request.worker_command.clone(),
            Duration::from_secs_f64(options.timeout_s),
        )
    });

    let names = output_names(&listing.files, roots, |name| {
        let mut name = name.into_os_string();
        name.push(".txt");
        PathBuf::from(name)
    });
    let outcomes: Vec<Outcome> = pool.install(|| {
        listing
            .files
            .par_iter()
            .zip(names)
            .map(|(file, name)| {
                let _reading = progress.start_file(&file.path);
                extract_file(file, name, request, workers.as_ref(), progress)
            })
            .collect()
    });
    drop(workers);

    let mut summary = ExtractSummary {
        files_total: listing.files.len() as u64,
        documents: DOCUMENTS.to_owned(),
        skipped: listing.skipped,
        isolated: options.isolate,
        threads: pool.current_num_threads(),
        ..ExtractSummary::default()
    };
    let mut documents = Vec::new();
    for (file, outcome) in listing.files.iter().zip(outcomes) {
        match outcome {
            Outcome::Done(document) => {
                if let Some(error) = &document.error {
                    summary
                        .errors
                        .push(FileError { path: document.path.clone(), error: error.clone() });
                } else {
                    summary.files_extracted += 1;
                    summary.pages += u64::from(document.pages.unwrap_or(0));
                    summary.characters += document.characters;
                    if let Some(format) = document.format {
                        *summary.formats.entry(format).or_default() += 1;
                    }
                    if let Some(language) = &document.language {
                        *summary.languages.entry(language.clone()).or_default() += 1;
                    }
                }
                summary.bytes_in += document.bytes;
                documents.push(document);
            }
            Outcome::NotSelected(format) => {
                summary.files_not_selected += 1;
                summary.skipped.push(Skipped {
                    path: crate::names::display(&file.path),
                    reason: format!("format {} not selected", format.name()),
                });
            }
            Outcome::Cancelled => return Err(Error::Cancelled),
            Outcome::Transient(message) => return Err(Error::Transient { message }),
        }
    }
    crate::write_atomically(&request.output_dir.join(DOCUMENTS), |out| {
        for document in &documents {
            serde_json::to_writer(&mut *out, document)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })?;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn extract_file(
    file: &InputFile,
    name: Result<PathBuf, String>,
    request: &ExtractRequest,
    workers: Option<&worker::Pool>,
    progress: &Progress,
) -> Outcome {
    let mut document = Document {
        path: crate::names::display(&file.path),
        bytes: file.size,
        ..Document::default()
    };
    if progress.is_cancelled() {
        return Outcome::Cancelled;
    }
    let options = &request.options;
    if file.size > options.max_file_bytes {
        document.error = Some(format!("larger than max_file_bytes ({})", options.max_file_bytes));
        return Outcome::Done(document);
    }
    let name = match name {
        Ok(name) => name,
        Err(error) => {
            document.error = Some(error);
            return Outcome::Done(document);
        }
    };
    let data = match read::read_all(&file.path, progress, options.max_file_bytes) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            document.error = Some(format!(
                "larger than max_file_bytes ({}) once decompressed",
                options.max_file_bytes
            ));
            return Outcome::Done(document);
        }
        Err(e) if read::is_cancelled(&e) => return Outcome::Cancelled,
        Err(e) if read::is_transient(&e) => return Outcome::Transient(e.to_string()),
        Err(e) => {
            document.error = Some(e.to_string());
            return Outcome::Done(document);
        }
    };
    document.bytes = data.len() as u64;
    if data.is_empty() {
        document.error = Some("empty file".into());
        return Outcome::Done(document);
    }
    // Sniffing reads zip directories: guarded like the parsers.
    let Some(format) = crate::catch_panic(|| detect(&file.path, &data)).ok().flatten() else {
        document.error = Some("unsupported format (not PDF, DOCX, ODT, HTML or text)".into());
        return Outcome::Done(document);
    };
    if !options.formats.is_empty() && !options.formats.contains(&format) {
        return Outcome::NotSelected(format);
    }
    document.format = Some(format);
    let parsed = match workers {
        Some(pool) => match pool.extract(format, &data, progress) {
            Ok(parsed) => parsed,
            Err(e) if read::is_cancelled(&e) => return Outcome::Cancelled,
            Err(e) => return Outcome::Transient(format!("cannot start a parser process: {e}")),
        },
        None => worker::guarded(|| extract_document(format, data)),
    };
    let found = match parsed {
        Ok(found) => found,
        Err(error) => {
            document.error = Some(error);
            return Outcome::Done(document);
        }
    };
    let path = request.output_dir.join(&name);
    if let Err(e) = crate::write_atomically(&path, |out| out.write_all(found.text.as_bytes())) {
        document.error = Some(e.to_string());
        return Outcome::Done(document);
    }
    document.output = Some(crate::names::display(&name));
    document.pages = found.pages;
    document.characters = found.text.chars().count() as u64;
    document.encoding = found.encoding;
    document.notes = found.notes;
    if options.detect_language {
        document.language = language(&found.text);
    }
    Outcome::Done(document)
}

/// The language of `text` (ISO 639-3), from its first 20,000 bytes, when the
/// detector is confident.
fn language(text: &str) -> Option<String> {
    let mut end = text.len().min(20_000);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let info = whatlang::detect(&text[..end])?;
    info.is_reliable().then(|| info.lang().code().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_content_then_by_name() {
        let p = Path::new;
        assert_eq!(detect(p("x.bin"), b"%PDF-1.7\n..."), Some(DocFormat::Pdf));
        // No header, objects at once (bug1606566.pdf of pdf.js; pdftotext reads it).
        assert_eq!(detect(p("x.pdf"), b"%\xe2\xe3\xcf\xd3\n1 0 obj\n<<"), Some(DocFormat::Pdf));
        assert_eq!(detect(p("x.txt"), b"%\xe2\xe3\xcf\xd3\n1 0 obj\n<<"), Some(DocFormat::Text));
        assert_eq!(detect(p("page.htm"), b"hello"), Some(DocFormat::Html));
        assert_eq!(detect(p("x.dat"), b"<!DOCTYPE html><p>hi"), Some(DocFormat::Html));
        assert_eq!(detect(p("notes.md"), b"# title"), Some(DocFormat::Text));
        assert_eq!(detect(p("README"), b"plain words"), Some(DocFormat::Text));
        assert_eq!(detect(p("notes.txt"), b"\xFF\xFEh\0i\0"), Some(DocFormat::Text));
        assert_eq!(detect(p("photo.jpg"), b"\xFF\xD8\xFF\xE0\0\x10JFIF"), None);
        assert_eq!(detect(p("a.txt"), b"bin\0ary"), None);
        assert_eq!(detect(p("archive.zip"), b"PK\x03\x04garbage"), None);
    }

    #[test]
    fn languages_are_named_when_clear() {
        let english = "The quick brown fox jumps over the lazy dog while the farmer watches \
                       from the porch and thinks about the harvest that is coming soon.";
        assert_eq!(language(english).as_deref(), Some("eng"));
        assert_eq!(language("42"), None);
    }
}
