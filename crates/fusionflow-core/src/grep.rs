//! The grep kernel: search many files in parallel with ripgrep's libraries
//! and write every matching line, in input order, to one output file.
//!
//! Binary files: with [`BinaryPolicy::Auto`] (the default) a file with NUL bytes is
//! searched as text if it is text with holes of NULs (what a crash leaves in a log being
//! written: the lines after the hole explain the crash), and listed in
//! [`GrepSummary::nul_ranges`]; a binary file (other control bytes too, see
//! `nulscan`) has its matches dropped *entirely* and is listed in
//! [`GrepSummary::skipped_binary`] with the offset of its first NUL. Nothing is
//! half-searched in silence. (ripgrep, searching a tree, reports the matches before the
//! first NUL, or none at all when the NUL falls in its first read buffer, so its answer
//! depends on buffer sizes.) Each file gets a fresh searcher for the same reason: what is
//! read, and so the summary, never depends on which thread searched which file before.
//! [`BinaryPolicy::Skip`] skips every file with a NUL byte; [`BinaryPolicy::Text`]
//! searches every byte as text.
//!
//! Lines are bytes: invalid UTF-8 is searched and written as is to the text
//! output, and replaced with U+FFFD in JSON output.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use grep_matcher::Matcher;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{
    BinaryDetection, LineIter, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch,
};
use serde::Serialize;

use crate::linecap::LineCap;
use crate::nulscan::NulScan;
use crate::spill::{Budget, SpillBuffer};
use crate::walk::{InputFile, Skipped, WalkOptions};
pub use crate::FileError;
use crate::{read, thread_pool, Error, Progress, Result};

/// What to do with files that contain NUL bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BinaryPolicy {
    /// Search text with holes of NUL bytes; skip binary files.
    #[default]
    Auto,
    /// Do not report matches from any file with a NUL byte; list it as skipped.
    Skip,
    /// Search the file as text, NUL bytes included.
    Text,
}

/// How matching lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// `matches.txt`: `path:line:text` like `grep -Hn`; context lines as
    /// `path-line-text`, and `--` between non-adjacent groups.
    #[default]
    Text,
    /// `matches.jsonl`: one `{"path","line_number","line","kind"}` per line.
    Jsonl,
}

impl OutputFormat {
    /// The output file's name.
    pub fn file_name(self) -> &'static str {
        match self {
            OutputFormat::Text => "matches.txt",
            OutputFormat::Jsonl => "matches.jsonl",
        }
    }
}

/// What to search for and how. Validate with [`GrepOptions::build`].
#[derive(Clone, Debug)]
#[allow(clippy::struct_excessive_bools)] // they mirror grep's flags
pub struct GrepOptions {
    /// Regular expressions (or literals); a line matches if any matches.
    pub patterns: Vec<String>,
    /// Match case-insensitively.
    pub ignore_case: bool,
    /// Treat patterns as literal strings.
    pub fixed_strings: bool,
    /// Only match whole words.
    pub word: bool,
    /// Select the lines that do *not* match.
    pub invert: bool,
    /// Lines of context before each match.
    pub before_context: usize,
    /// Lines of context after each match.
    pub after_context: usize,
    /// Stop reading a file after this many matching lines.
    pub max_matches_per_file: Option<u64>,
    /// See [`BinaryPolicy`].
    pub binary: BinaryPolicy,
    /// The longest line searched; a longer line is a per-file error. This is
    /// what bounds memory on a file without newlines.
    pub max_line_bytes: usize,
    /// A compressed file decoding to more is a per-file error, searched up
    /// to there: what bounds the time a small bomb takes.
    pub max_decoded_bytes: u64,
}

impl Default for GrepOptions {
    fn default() -> Self {
        GrepOptions {
            patterns: Vec::new(),
            ignore_case: false,
            fixed_strings: false,
            word: false,
            invert: false,
            before_context: 0,
            after_context: 0,
            max_matches_per_file: None,
            binary: BinaryPolicy::Auto,
            max_line_bytes: 64 << 20,
            max_decoded_bytes: read::MAX_DECODED_BYTES,
        }
    }
}

impl GrepOptions {
    /// Compiles the patterns and checks the options.
    pub fn build(&self) -> Result<Grep> {
        if self.patterns.is_empty() {
            return Err(Error::invalid("patterns", "at least one pattern is required"));
        }
        if self.max_line_bytes < 1024 {
            return Err(Error::invalid("max_line_bytes", "must be at least 1024"));
        }
        let mut builder = RegexMatcherBuilder::new();
        builder
            .case_insensitive(self.ignore_case)
            .fixed_strings(self.fixed_strings)
            .word(self.word)
            // Lets the matcher skip straight to candidate lines.
            .line_terminator(Some(b'\n'));
        let matcher = builder.build_many(&self.patterns).map_err(|e| {
            // Name the culprit in one line; the regex crate's message spans several.
            let culprit = self.patterns.iter().find(|p| builder.build(p).is_err());
            let reason = e.to_string();
            let reason = reason.lines().last().unwrap_or_default().trim_start_matches("error: ");
            match culprit {
                Some(pattern) => Error::invalid("patterns", format!("{pattern:?}: {reason}")),
                None => Error::invalid("patterns", reason),
            }
        })?;
        // Counting lines per pattern needs each pattern alone; only matched lines are
        // tried, so the cost follows the matches, not the bytes. Not with invert: the
        // selected lines match no pattern.
        let each = if self.invert {
            Vec::new()
        } else {
            self.patterns.iter().map(|p| builder.build(p)).collect::<Result<Vec<_>, _>>().map_err(
                |e| Error::invalid("patterns", e.to_string().lines().last().unwrap_or_default()),
            )?
        };
        let binary = match self.binary {
            BinaryPolicy::Skip => BinaryDetection::quit(0),
            // NulScan judges under Auto, reading every byte as the search does.
            BinaryPolicy::Auto | BinaryPolicy::Text => BinaryDetection::none(),
        };
        let mut searcher = SearcherBuilder::new();
        searcher
            .line_number(true)
            .invert_match(self.invert)
            .before_context(self.before_context)
            .after_context(self.after_context)
            .max_matches(self.max_matches_per_file)
            .binary_detection(binary)
            // Lines are cut to max_line_bytes (LineCap); the buffer holding one grows by
            // doubling, with room for some context: memory stays within a few lines.
            .heap_limit(Some(self.max_line_bytes.saturating_mul(3).saturating_add(1 << 16)));
        Ok(Grep { matcher, each, searcher, options: self.clone() })
    }
}

/// A compiled search, reusable across runs.
#[derive(Clone, Debug)]
pub struct Grep {
    matcher: RegexMatcher,
    /// One matcher per pattern, in order, for the per-pattern counts.
    each: Vec<RegexMatcher>,
    // A builder, not a `Searcher`: searchers hold per-thread buffers.
    searcher: SearcherBuilder,
    options: GrepOptions,
}

/// Everything one grep run needs.
#[derive(Clone, Debug)]
pub struct GrepRequest {
    /// Files and directories to search.
    pub inputs: Vec<PathBuf>,
    /// How to discover files under directories.
    pub walk: WalkOptions,
    /// What to search for.
    pub grep: GrepOptions,
    /// Where `matches.txt`/`matches.jsonl` is written (created if missing).
    pub output_dir: PathBuf,
    /// The output format.
    pub format: OutputFormat,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Disk the output waiting to be written in input order may take, in
    /// anonymous files beside the output; past it the file whose output
    /// overflowed is a per-file error.
    pub max_spill_bytes: u64,
}

impl Default for GrepRequest {
    fn default() -> Self {
        GrepRequest {
            inputs: Vec::new(),
            walk: WalkOptions::default(),
            grep: GrepOptions::default(),
            output_dir: PathBuf::new(),
            format: OutputFormat::default(),
            threads: 0,
            max_spill_bytes: MAX_SPILL_BYTES,
        }
    }
}

/// The default of [`GrepRequest::max_spill_bytes`].
pub const MAX_SPILL_BYTES: u64 = 8 << 30;

/// A binary file, skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BinaryFile {
    /// The file.
    pub path: String,
    /// Offset of the first NUL byte in the decoded contents.
    pub offset: u64,
}

/// A file with lines longer than `max_line_bytes`: each was searched in its first
/// `max_line_bytes` bytes only (a match past them is not found), and the rest of the
/// file as usual.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LongLines {
    /// The file.
    pub path: String,
    /// Lines cut.
    pub lines: u64,
    /// Bytes of them not searched.
    pub bytes_not_searched: u64,
}

/// A file with NUL bytes searched as text: a log with holes (under
/// [`BinaryPolicy::Auto`]) or any file under [`BinaryPolicy::Text`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NulRanges {
    /// The file.
    pub path: String,
    /// Runs of NUL bytes.
    pub runs: u64,
    /// NUL bytes in them.
    pub bytes: u64,
    /// The first runs, as `[start, end)` offsets in the decoded contents.
    pub ranges: Vec<[u64; 2]>,
}

impl NulRanges {
    fn of<R>(path: &Path, scan: &NulScan<R>) -> Self {
        NulRanges {
            path: crate::names::display(path),
            runs: scan.runs,
            bytes: scan.nul_bytes,
            ranges: scan.ranges.clone(),
        }
    }
}

/// The result of a run, the contents of `summary.json`.
///
/// Every listed file is accounted for exactly once:
/// `files_total == files_scanned + skipped_binary.len() + errors.len()`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GrepSummary {
    /// Files found to search.
    pub files_total: u64,
    /// Files searched to the end as text.
    pub files_scanned: u64,
    /// Files with at least one selected line.
    pub files_matched: u64,
    /// Selected lines (matching lines, or non-matching ones with `invert`).
    pub matches: u64,
    /// Bytes read from disk (compressed size for compressed files).
    pub bytes_scanned: u64,
    /// Bytes searched after decompression.
    pub bytes_searched: u64,
    /// Wall time of the run in seconds.
    pub elapsed_s: f64,
    /// Selected lines per file, for files with any.
    pub per_file: BTreeMap<String, u64>,
    /// Matching lines per pattern (a line matching two patterns counts for both);
    /// empty with `invert`.
    pub per_pattern: BTreeMap<String, u64>,
    /// Files that failed, with the reason.
    pub errors: Vec<FileError>,
    /// Files not searched because they are binary.
    pub skipped_binary: Vec<BinaryFile>,
    /// Files with NUL bytes searched as text, and where the NULs are.
    pub nul_ranges: Vec<NulRanges>,
    /// Files with lines longer than `max_line_bytes`, searched in their first bytes.
    pub long_lines: Vec<LongLines>,
    /// Paths left out during discovery (symlinks not followed, unreadable dirs).
    pub skipped: Vec<Skipped>,
    /// The output file's name inside the output directory.
    pub output: String,
    /// Worker threads used.
    pub threads: usize,
}

/// Lists the inputs, searches them in parallel and writes the output file.
///
/// The output is written under a temporary name and renamed when complete,
/// so a cancelled or failed run never leaves a truncated `matches.txt`.
pub fn run(request: &GrepRequest, progress: &Progress) -> Result<GrepSummary> {
    let started = Instant::now();
    let grep = request.grep.build()?;
    let walker = request.walk.build()?;
    let pool = thread_pool(request.threads)?;
    let listing = walker.list(&request.inputs, &pool)?;
    progress.set_plan(listing.files.len() as u64, listing.total_bytes());
    let bytes_before = progress.snapshot().bytes_done;

    fs::create_dir_all(&request.output_dir).map_err(|e| Error::io(&request.output_dir, e))?;
    let name = request.format.file_name();
    let final_path = request.output_dir.join(name);
    let partial_path = request.output_dir.join(format!("{name}.partial"));
    let file = File::create(&partial_path).map_err(|e| Error::io(&partial_path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);

    let outcome = grep.search_all(&listing.files, request, &pool, progress, &mut out);
    // A failed write is the output's (a full disk), not the input's being written.
    let outcome = outcome.map_err(|e| match e {
        Error::Io { source, .. } => Error::io(&partial_path, source),
        other => other,
    });
    let outcome = outcome.and_then(|summary| {
        out.flush().map_err(|e| Error::io(&partial_path, e))?;
        fs::rename(&partial_path, &final_path).map_err(|e| Error::io(&final_path, e))?;
        Ok(summary)
    });
    let mut summary = outcome.inspect_err(|_| {
        let _ = fs::remove_file(&partial_path);
    })?;
    summary.bytes_scanned = progress.snapshot().bytes_done - bytes_before;
    summary.skipped = listing.skipped;
    name.clone_into(&mut summary.output);
    summary.threads = pool.current_num_threads();
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Concatenates the match files of consecutive shards into `output`, in the
/// order given, exactly as one run over all their inputs would have written it.
/// `separate_groups`: put `--` between non-empty parts, as a run with context
/// lines does between files. Returns the bytes written.
pub fn concat_parts(parts: &[PathBuf], output: &Path, separate_groups: bool) -> Result<u64> {
    let mut written = 0u64;
    crate::write_atomically(output, |out| {
        for part in parts {
            let mut file = File::open(part)?;
            if separate_groups && written > 0 && file.metadata()?.len() > 0 {
                out.write_all(b"--\n")?;
                written += 3;
            }
            written += io::copy(&mut file, out)?;
        }
        Ok(())
    })?;
    Ok(written)
}

/// What searching one file produced.
struct FileResult {
    output: SpillBuffer,
    matches: u64,
    per_pattern: Vec<u64>,
    bytes_searched: u64,
    /// Lines cut to `max_line_bytes` (`LineCap`), and the bytes left out of them.
    cut: (u64, u64),
    /// The NUL runs of a file searched as text.
    nuls: Option<NulRanges>,
    status: Status,
}

enum Status {
    Searched,
    Binary(u64),
    Failed(String),
    Cancelled,
    /// Storage trouble that may pass: the run stops, to be retried whole.
    Transient(String),
}

impl Grep {
    /// Searches `files` on `pool` and writes their output to `out` in order.
    ///
    /// Workers write too: whoever finishes a file hands it to the shared
    /// writer, which writes every result that is next in order. No writer
    /// thread competes with the searchers for a core, and none is woken per file.
    fn search_all(
        &self,
        files: &[InputFile],
        request: &GrepRequest,
        pool: &rayon::ThreadPool,
        progress: &Progress,
        out: &mut (impl Write + Send),
    ) -> Result<GrepSummary> {
        let budget = Budget::new(64 << 20, request.max_spill_bytes, request.output_dir.clone());
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let writer = Mutex::new(OrderedWriter::new(files, request, out));

        pool.in_place_scope(|scope| {
            for _ in 0..pool.current_num_threads() {
                let (next, stop, budget, writer) = (&next, &stop, &budget, &writer);
                scope.spawn(move |_| {
                    // A matcher per worker: a clone gets its own regex cache pool,
                    // so threads never contend for caches.
                    let matcher = self.matcher.clone();
                    // Each worker claims the next file in input order, so results
                    // arrive nearly in order and the reorder buffer stays small.
                    while !stop.load(Ordering::Relaxed) {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(index) else { break };
                        let reading = progress.start_file(&file.path);
                        let result =
                            self.search_file(&matcher, file, request.format, budget, progress);
                        drop(reading);
                        let stop_run =
                            matches!(result.status, Status::Cancelled | Status::Transient(_));
                        let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
                        if writer.accept(index, result).is_err() || stop_run {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        writer.into_inner().unwrap_or_else(PoisonError::into_inner).finish()
    }

    fn search_file(
        &self,
        matcher: &RegexMatcher,
        file: &InputFile,
        format: OutputFormat,
        budget: &Arc<Budget>,
        progress: &Progress,
    ) -> FileResult {
        let mut sink = FileSink::new(&file.path, format, SpillBuffer::new(budget), &self.each);
        let policy = self.options.binary;
        let (mut cut, mut nuls, mut binary) = ((0, 0), None, None);
        let outcome =
            read::open(&file.path, progress, self.options.max_decoded_bytes).and_then(|reader| {
                let scan = NulScan::new(reader, policy == BinaryPolicy::Auto);
                let mut capped = LineCap::new(scan, self.options.max_line_bytes);
                let searched = self.searcher.build().search_reader(matcher, &mut capped, &mut sink);
                cut = (capped.lines_cut, capped.bytes_cut);
                let scan = capped.get_ref();
                binary = scan.binary_at();
                nuls = (scan.runs > 0).then(|| NulRanges::of(&file.path, scan));
                searched
            });
        if policy == BinaryPolicy::Skip {
            binary = sink.binary_offset;
        }
        let status = match (outcome, binary) {
            _ if progress.is_cancelled() => Status::Cancelled,
            (Err(e), _) if read::is_cancelled(&e) => Status::Cancelled,
            (_, Some(offset)) => {
                sink.output.clear();
                sink.matches = 0;
                sink.per_pattern.fill(0);
                nuls = None;
                Status::Binary(offset)
            }
            (Err(e), None) if read::is_transient(&e) => Status::Transient(e.to_string()),
            (Err(e), None) => Status::Failed(describe_error(&e, self.options.max_line_bytes)),
            (Ok(()), None) => Status::Searched,
        };
        FileResult {
            output: sink.output,
            matches: sink.matches,
            per_pattern: sink.per_pattern,
            bytes_searched: sink.bytes_searched,
            cut,
            nuls,
            status,
        }
    }
}

fn describe_error(err: &io::Error, max_line_bytes: usize) -> String {
    // grep-searcher reports an over-long line as a failed allocation.
    if err.to_string().contains("allocation limit") {
        format!("a line is longer than max_line_bytes ({max_line_bytes} bytes); searched up to it")
    } else {
        err.to_string()
    }
}

/// Writes results in input order and tallies the summary.
struct OrderedWriter<'a, W> {
    files: &'a [InputFile],
    patterns: &'a [String],
    out: &'a mut W,
    pending: BTreeMap<usize, FileResult>,
    next: usize,
    separate_files: bool,
    wrote_any: bool,
    cancelled: bool,
    failure: Option<Error>,
    summary: GrepSummary,
}

impl<'a, W: Write> OrderedWriter<'a, W> {
    fn new(files: &'a [InputFile], request: &'a GrepRequest, out: &'a mut W) -> Self {
        let options = &request.grep;
        let has_context = options.before_context > 0 || options.after_context > 0;
        OrderedWriter {
            files,
            patterns: &options.patterns,
            out,
            pending: BTreeMap::new(),
            next: 0,
            separate_files: has_context && request.format == OutputFormat::Text,
            wrote_any: false,
            cancelled: false,
            failure: None,
            summary: GrepSummary { files_total: files.len() as u64, ..GrepSummary::default() },
        }
    }

    /// Takes one file's result and writes every result that is next in order.
    /// After a write error, records it and refuses everything else.
    fn accept(&mut self, index: usize, result: FileResult) -> Result<(), ()> {
        if self.failure.is_some() {
            return Err(());
        }
        if let Status::Transient(message) = &result.status {
            self.failure = Some(Error::Transient { message: message.clone() });
            return Err(());
        }
        self.pending.insert(index, result);
        while let Some(result) = self.pending.remove(&self.next) {
            let path = &self.files[self.next].path;
            self.next += 1;
            if let Err(e) = self.write(path, result) {
                self.failure = Some(Error::io(path, e));
                return Err(());
            }
        }
        Ok(())
    }

    fn write(&mut self, path: &Path, result: FileResult) -> io::Result<()> {
        let name = || crate::names::display(path);
        let summary = &mut self.summary;
        summary.bytes_searched += result.bytes_searched;
        match result.status {
            Status::Searched => summary.files_scanned += 1,
            Status::Binary(offset) => {
                summary.skipped_binary.push(BinaryFile { path: name(), offset });
            }
            Status::Failed(error) => summary.errors.push(FileError { path: name(), error }),
            Status::Cancelled => self.cancelled = true,
            Status::Transient(_) => {} // stopped the run in `accept`
        }
        if let (lines @ 1.., bytes_not_searched) = result.cut {
            summary.long_lines.push(LongLines { path: name(), lines, bytes_not_searched });
        }
        summary.nul_ranges.extend(result.nuls);
        if result.matches > 0 {
            summary.files_matched += 1;
            summary.matches += result.matches;
            summary.per_file.insert(name(), result.matches);
        }
        for (pattern, count) in self.patterns.iter().zip(&result.per_pattern) {
            *summary.per_pattern.entry(pattern.clone()).or_default() += count;
        }
        if result.output.is_empty() {
            return Ok(());
        }
        // Like grep -C, groups from different files are separated too.
        if self.separate_files && self.wrote_any {
            self.out.write_all(b"--\n")?;
        }
        self.wrote_any = true;
        result.output.drain_into(self.out)
    }

    fn finish(self) -> Result<GrepSummary> {
        if let Some(e) = self.failure {
            return Err(e);
        }
        if self.cancelled || self.next < self.files.len() {
            return Err(Error::Cancelled);
        }
        Ok(self.summary)
    }
}

/// Receives one file's search results.
struct FileSink<'m> {
    output: SpillBuffer,
    /// Each pattern's matcher, and how many matched lines each matched.
    each: &'m [RegexMatcher],
    per_pattern: Vec<u64>,
    /// Scratch space for one output record.
    record: Vec<u8>,
    path_bytes: Vec<u8>,
    path_text: String,
    format: OutputFormat,
    matches: u64,
    bytes_searched: u64,
    binary_offset: Option<u64>,
}

impl<'m> FileSink<'m> {
    fn new(
        path: &Path,
        format: OutputFormat,
        output: SpillBuffer,
        each: &'m [RegexMatcher],
    ) -> Self {
        FileSink {
            output,
            each,
            per_pattern: vec![0; each.len()],
            record: Vec::new(),
            path_bytes: path_bytes(path),
            path_text: crate::names::display(path),
            format,
            matches: 0,
            bytes_searched: 0,
            binary_offset: None,
        }
    }

    fn write_lines(
        &mut self,
        bytes: &[u8],
        first_line: Option<u64>,
        kind: Kind,
    ) -> io::Result<u64> {
        let mut count = 0;
        for (i, line) in LineIter::new(b'\n', bytes).enumerate() {
            let number = first_line.unwrap_or(0) + i as u64;
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            if kind == Kind::Match {
                for (matcher, count) in self.each.iter().zip(&mut self.per_pattern) {
                    // A matcher that fails on a line counts nothing for it.
                    *count += u64::from(matcher.is_match(line).unwrap_or(false));
                }
            }
            match self.format {
                OutputFormat::Text => {
                    // One write per record: the output buffer's bookkeeping is per write.
                    let separator = if kind == Kind::Match { b':' } else { b'-' };
                    let record = &mut self.record;
                    record.clear();
                    record.extend_from_slice(&self.path_bytes);
                    record.push(separator);
                    record.extend_from_slice(itoa::Buffer::new().format(number).as_bytes());
                    record.push(separator);
                    record.extend_from_slice(line);
                    record.push(b'\n');
                    self.output.write_all(record)?;
                }
                OutputFormat::Jsonl => {
                    let record = Record {
                        path: &self.path_text,
                        line_number: number,
                        line: &String::from_utf8_lossy(line),
                        kind,
                    };
                    serde_json::to_writer(&mut self.output, &record)?;
                    self.output.write_all(b"\n")?;
                }
            }
            count += 1;
        }
        Ok(count)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Match,
    Context,
}

#[derive(Serialize)]
struct Record<'a> {
    path: &'a str,
    line_number: u64,
    line: &'a str,
    kind: Kind,
}

impl Sink for FileSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> io::Result<bool> {
        self.matches += self.write_lines(mat.bytes(), mat.line_number(), Kind::Match)?;
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, context: &SinkContext<'_>) -> io::Result<bool> {
        self.write_lines(context.bytes(), context.line_number(), Kind::Context)?;
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> io::Result<bool> {
        if self.format == OutputFormat::Text {
            self.output.write_all(b"--\n")?;
        }
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, offset: u64) -> io::Result<bool> {
        self.binary_offset.get_or_insert(offset);
        Ok(true)
    }

    fn finish(&mut self, _: &Searcher, finish: &grep_searcher::SinkFinish) -> io::Result<()> {
        self.bytes_searched = finish.byte_count();
        if let Some(offset) = finish.binary_byte_offset() {
            self.binary_offset.get_or_insert(offset);
        }
        Ok(())
    }
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}
