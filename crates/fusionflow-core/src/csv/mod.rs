//! The `csv-aggregate` kernel: streaming CSV reading and mergeable aggregation.
//!
//! Every file is read once, in parallel, into a partial [`AggregateState`];
//! partial states merge in input order, so the answer is the same bytes
//! whatever the thread count, and shards computed on different machines merge
//! to exactly the single-process answer.

mod accumulate;
mod distinct;
mod parquet;
mod profile;
pub mod records;

use std::cmp::Ordering as CmpOrdering;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use accumulate::as_f64;
pub use accumulate::{parse_number, Accumulator, Number};
pub use profile::{ColumnProfile, ColumnReport};
use records::{Buffers, Record, Records};

use crate::walk::{InputFile, Skipped, WalkOptions};
pub use crate::FileError;
use crate::{read, thread_pool, Error, Progress, Result};

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Rows (no column), or non-null values of a column.
    Count,
    /// Sum of a numeric column.
    Sum,
    /// Mean of a numeric column.
    Mean,
    /// Smallest value (numeric if every value is a number).
    Min,
    /// Largest value (numeric if every value is a number).
    Max,
    /// Empty or missing values.
    NullCount,
    /// Distinct non-null values: exact up to 10,000 per group, then a
    /// HyperLogLog estimate (about 0.8% standard error; the summary says so).
    CountDistinct,
}

impl Op {
    /// The name used in parameters and output column names.
    pub fn name(self) -> &'static str {
        match self {
            Op::Count => "count",
            Op::Sum => "sum",
            Op::Mean => "mean",
            Op::Min => "min",
            Op::Max => "max",
            Op::NullCount => "null_count",
            Op::CountDistinct => "count_distinct",
        }
    }

    fn needs_numbers(self) -> bool {
        matches!(self, Op::Sum | Op::Mean)
    }
}

/// One output column: an operation over a column (or over rows, for `count`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// The function.
    pub op: Op,
    /// The input column; `None` only for `count` of rows.
    pub column: Option<String>,
}

impl Metric {
    /// The output column's name, like `sum_quantity` or `count`.
    pub fn output_name(&self) -> String {
        match &self.column {
            Some(column) => format!("{}_{column}", self.op.name()),
            None => self.op.name().to_owned(),
        }
    }
}

/// What to do with a malformed row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBadRows {
    /// Leave it out of every aggregate, count it and keep a sample.
    #[default]
    Skip,
    /// Fail the run at the first one.
    Fail,
}

/// How to aggregate. Validate with [`AggregateOptions::validate`].
#[derive(Clone, Debug)]
pub struct AggregateOptions {
    /// Columns whose values form the groups (none: one group).
    pub group_by: Vec<String>,
    /// Output metrics (none: just the row count per group).
    pub metrics: Vec<Metric>,
    /// Field separator; `None` detects it per file from the header line
    /// (the most frequent of `,` `;` tab `|` outside quotes).
    pub delimiter: Option<u8>,
    /// Text encoding of the input, e.g. `windows-1252` or `latin1`; `None`
    /// detects it per file: a byte order mark, else UTF-8 if valid, else guessed.
    pub encoding: Option<String>,
    /// See [`OnBadRows`].
    pub on_bad_rows: OnBadRows,
    /// Longer rows are bad rows; bounds memory.
    pub max_row_bytes: usize,
    /// A compressed file decoding to more is a per-file error.
    pub max_decoded_bytes: u64,
    /// How many bad rows to keep as samples.
    pub bad_row_samples: usize,
    /// Also write `aggregate.parquet`.
    pub parquet: bool,
}

impl Default for AggregateOptions {
    fn default() -> Self {
        AggregateOptions {
            group_by: Vec::new(),
            metrics: Vec::new(),
            delimiter: None,
            encoding: None,
            on_bad_rows: OnBadRows::Skip,
            max_row_bytes: 16 << 20,
            max_decoded_bytes: read::MAX_DECODED_BYTES,
            bad_row_samples: 20,
            parquet: false,
        }
    }
}

impl AggregateOptions {
    /// Checks the options; the metrics to compute (a row count when none given).
    pub fn validate(&self) -> Result<Vec<Metric>> {
        for metric in &self.metrics {
            if metric.column.is_none() && metric.op != Op::Count {
                return Err(Error::invalid(
                    "metrics",
                    format!("{} needs a column", metric.op.name()),
                ));
            }
        }
        if matches!(self.delimiter, Some(b'"' | b'\n' | b'\r')) {
            return Err(Error::invalid("delimiter", "must not be a quote or a line break"));
        }
        if let Some(label) = &self.encoding {
            if encoding_rs::Encoding::for_label(label.as_bytes()).is_none() {
                return Err(Error::invalid("encoding", format!("unknown encoding {label:?}")));
            }
        }
        if self.metrics.is_empty() {
            return Ok(vec![Metric { op: Op::Count, column: None }]);
        }
        Ok(self.metrics.clone())
    }
}

/// A malformed row, located.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRowSample {
    /// The file.
    pub path: String,
    /// The file's position among the run's inputs (orders the samples).
    pub file_index: u64,
    /// Its line (1-based).
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

/// A partial or complete aggregation: mergeable and serializable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregateState {
    /// Accumulators per group, keyed by the encoded group values.
    #[serde(with = "entries")]
    pub groups: FxHashMap<Box<[u8]>, Vec<Accumulator>>,
    /// Files read (including empty ones).
    pub files: u64,
    /// Files with a header row (empty files have none).
    pub files_with_header: u64,
    /// Well-formed rows aggregated.
    pub rows: u64,
    /// Malformed rows left out.
    pub bad_rows: u64,
    /// The first malformed rows, in input order.
    pub bad_row_samples: Vec<BadRowSample>,
    /// For each header column, how many files have it.
    pub columns: BTreeMap<String, u64>,
    /// Per-column profiles (profile mode: no `group_by` and no metrics).
    pub profile: BTreeMap<String, ColumnProfile>,
    /// Files read in each encoding.
    #[serde(default)]
    pub encodings: BTreeMap<String, u64>,
    /// The files not in UTF-8, with the encoding they were read in.
    #[serde(default)]
    pub transcoded: Vec<FileEncoding>,
}

/// A file read in an encoding other than UTF-8.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEncoding {
    /// The file.
    pub path: String,
    /// Its position among the shard's inputs (orders the list before shards merge).
    #[serde(skip_serializing, default)]
    pub file_index: u64,
    /// The encoding (its WHATWG name), and how it was chosen.
    pub encoding: String,
}

impl AggregateState {
    /// Folds `later` (from inputs after this state's) into this one.
    pub fn merge(&mut self, mut later: AggregateState, max_samples: usize) {
        if self.groups.is_empty() {
            // Nothing to fold into: take the map as it is.
            std::mem::swap(&mut self.groups, &mut later.groups);
        }
        for (key, accumulators) in later.groups {
            match self.groups.get_mut(&key) {
                Some(mine) => mine.iter_mut().zip(&accumulators).for_each(|(a, b)| a.merge(b)),
                None => {
                    self.groups.insert(key, accumulators);
                }
            }
        }
        self.files += later.files;
        self.files_with_header += later.files_with_header;
        self.rows += later.rows;
        self.bad_rows += later.bad_rows;
        let room = max_samples.saturating_sub(self.bad_row_samples.len());
        self.bad_row_samples.extend(later.bad_row_samples.into_iter().take(room));
        for (column, files) in later.columns {
            *self.columns.entry(column).or_default() += files;
        }
        for (encoding, files) in later.encodings {
            *self.encodings.entry(encoding).or_default() += files;
        }
        self.transcoded.extend(later.transcoded);
        for (column, profile) in later.profile {
            match self.profile.get_mut(&column) {
                Some(mine) => mine.merge(&profile),
                None => {
                    self.profile.insert(column, profile);
                }
            }
        }
    }

    /// Rows of the result: decoded group values then metric values, sorted by
    /// the group values (numerically where both are numbers, nulls last).
    pub fn result_rows(&self) -> Vec<ResultRow<'_>> {
        // Decode and parse every key once, not once per comparison.
        let mut rows: Vec<(Vec<SortValue>, &[Accumulator])> = self
            .groups
            .iter()
            .map(|(key, accs)| {
                (decode_key(key).into_iter().map(SortValue::new).collect(), &accs[..])
            })
            .collect();
        // Keys are unique, so an unstable sort is still deterministic.
        rows.sort_unstable_by(|a, b| compare_keys(&a.0, &b.0));
        rows.into_iter()
            .map(|(key, accs)| (key.into_iter().map(|v| v.bytes).collect(), accs))
            .collect()
    }
}

/// A group value with its number parse, for sorting.
struct SortValue {
    bytes: Option<Vec<u8>>,
    number: Option<f64>,
}

impl SortValue {
    fn new(bytes: Option<Vec<u8>>) -> Self {
        let number = bytes.as_deref().and_then(parse_number).map(as_f64);
        SortValue { bytes, number }
    }
}

/// One row of the result: the group's values (`None` for null) and its metrics.
pub type ResultRow<'a> = (Vec<Option<Vec<u8>>>, &'a [Accumulator]);

/// Group keys: per column, `0` for null or `1`, a u32 length and the bytes.
fn encode_key(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
    }
}

fn decode_key(mut key: &[u8]) -> Vec<Option<Vec<u8>>> {
    let mut values = Vec::new();
    while let Some((&tag, rest)) = key.split_first() {
        if tag == 0 {
            values.push(None);
            key = rest;
        } else {
            let (len, rest) = rest.split_at(4);
            let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
            values.push(Some(rest[..len].to_vec()));
            key = &rest[len..];
        }
    }
    values
}

fn compare_keys(left: &[SortValue], right: &[SortValue]) -> CmpOrdering {
    for (mine, theirs) in left.iter().zip(right) {
        let order = match (&mine.bytes, &theirs.bytes) {
            (None, None) => CmpOrdering::Equal,
            (None, Some(_)) => CmpOrdering::Greater,
            (Some(_), None) => CmpOrdering::Less,
            (Some(a), Some(b)) => match (mine.number, theirs.number) {
                (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
                _ => a.cmp(b),
            },
        };
        if order != CmpOrdering::Equal {
            return order;
        }
    }
    CmpOrdering::Equal
}

/// Serializes the group map as a sorted list, so that JSON can hold it and
/// the bytes are deterministic.
mod entries {
    use rustc_hash::FxHashMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Accumulator;

    type Groups = FxHashMap<Box<[u8]>, Vec<Accumulator>>;

    pub fn serialize<S: Serializer>(groups: &Groups, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<_> = groups.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Groups, D::Error> {
        let entries = Vec::<(Box<[u8]>, Vec<Accumulator>)>::deserialize(deserializer)?;
        Ok(entries.into_iter().collect())
    }
}

/// Everything one aggregation run needs.
#[derive(Clone, Debug, Default)]
pub struct AggregateRequest {
    /// Files and directories to read.
    pub inputs: Vec<PathBuf>,
    /// How to discover files under directories.
    pub walk: WalkOptions,
    /// What to compute.
    pub options: AggregateOptions,
    /// Where `aggregate.csv` is written (created if missing).
    pub output_dir: PathBuf,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
}

/// The result of a run: the contents of `summary.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AggregateSummary {
    /// Files found.
    pub files_total: u64,
    /// Files read to the end.
    pub files_read: u64,
    /// Well-formed rows aggregated.
    pub rows: u64,
    /// Malformed rows left out.
    pub bad_rows: u64,
    /// The first malformed rows as `path:line: reason`.
    pub bad_row_samples: Vec<String>,
    /// Groups in the result.
    pub groups: u64,
    /// Whether any `count_distinct` value is a HyperLogLog estimate.
    pub distinct_counts_estimated: bool,
    /// Per-column profile of the whole data set (when neither `group_by` nor
    /// metrics are given; then `aggregate.csv` holds this table too).
    pub profile: Vec<ColumnReport>,
    /// For each header column, how many files have it.
    pub columns: BTreeMap<String, u64>,
    /// Files read in each encoding (`UTF-8` unless detected or given otherwise).
    pub encodings: BTreeMap<String, u64>,
    /// The files not in UTF-8, in input order, with the encoding they were read in.
    pub transcoded: Vec<FileEncoding>,
    /// Columns that some files (with a header) lack (their values count as nulls there).
    pub columns_missing_in_some_files: Vec<String>,
    /// Files that failed.
    pub errors: Vec<FileError>,
    /// Paths left out during discovery.
    pub skipped: Vec<Skipped>,
    /// The output file's name.
    pub output: String,
    /// `aggregate.parquet` when it was asked for.
    pub parquet_output: Option<String>,
    /// Wall time in seconds.
    pub elapsed_s: f64,
}

/// One shard's work: the merged state of some inputs, and what went wrong.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Partial {
    /// The aggregation state.
    pub state: AggregateState,
    /// Files found.
    pub files_total: u64,
    /// Files that failed.
    pub errors: Vec<FileError>,
    /// Paths left out during discovery.
    pub skipped: Vec<Skipped>,
}

impl Partial {
    /// Folds `later` (a shard of later inputs) into this one.
    pub fn merge(&mut self, later: Partial, max_samples: usize) {
        self.state.merge(later.state, max_samples);
        self.files_total += later.files_total;
        self.errors.extend(later.errors);
        self.skipped.extend(later.skipped);
    }
}

/// Lists the inputs and aggregates them in parallel, writing nothing.
pub fn aggregate(request: &AggregateRequest, progress: &Progress) -> Result<Partial> {
    let metrics = request.options.validate()?;
    let walker = request.walk.build()?;
    let pool = thread_pool(request.threads)?;
    let listing = walker.list(&request.inputs, &pool)?;
    progress.set_plan(listing.files.len() as u64, listing.total_bytes());
    let plan = Plan { options: &request.options, metrics: &metrics };
    let (state, errors) = plan.aggregate_all(&listing.files, &pool, progress)?;
    Ok(Partial { state, files_total: listing.files.len() as u64, errors, skipped: listing.skipped })
}

/// Writes `aggregate.csv` for a (merged) partial and returns the summary.
pub fn finish(request: &AggregateRequest, partial: Partial) -> Result<AggregateSummary> {
    let metrics = request.options.validate()?;
    let plan = Plan { options: &request.options, metrics: &metrics };
    fs::create_dir_all(&request.output_dir).map_err(|e| Error::io(&request.output_dir, e))?;
    write_result(&request.output_dir, &plan, &partial.state)?;
    let Partial { state, files_total, errors, skipped } = partial;
    let profile = if plan.profiling() { profile_reports(&state) } else { Vec::new() };
    Ok(AggregateSummary {
        files_total,
        files_read: files_total - errors.len() as u64,
        rows: state.rows,
        bad_rows: state.bad_rows,
        bad_row_samples: state
            .bad_row_samples
            .iter()
            .map(|s| format!("{}:{}: {}", s.path, s.line, s.reason))
            .collect(),
        groups: state.groups.len() as u64,
        distinct_counts_estimated: state
            .groups
            .values()
            .flatten()
            .any(|a| matches!(a, Accumulator::CountDistinct(d) if d.is_estimate())),
        columns_missing_in_some_files: state
            .columns
            .iter()
            .filter(|(_, &n)| n < state.files_with_header)
            .map(|(c, _)| c.clone())
            .collect(),
        profile,
        columns: state.columns,
        encodings: state.encodings,
        transcoded: state.transcoded,
        errors,
        skipped,
        output: "aggregate.csv".to_owned(),
        parquet_output: request.options.parquet.then(|| "aggregate.parquet".to_owned()),
        elapsed_s: 0.0,
    })
}

/// What a shard reports after saving its partial state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PartialSummary {
    /// Files in the shard.
    pub files_total: u64,
    /// Well-formed rows aggregated.
    pub rows: u64,
    /// Malformed rows left out.
    pub bad_rows: u64,
    /// Files that failed.
    pub errors: u64,
    /// Wall time in seconds.
    pub elapsed_s: f64,
}

/// Aggregates one shard's inputs and saves the partial state as JSON to `path`.
///
/// The file is written whole under a temporary name and then renamed, so a
/// redelivered shard replaces its earlier partial and a killed one leaves none.
pub fn save_partial(
    request: &AggregateRequest,
    progress: &Progress,
    path: &Path,
) -> Result<PartialSummary> {
    let started = Instant::now();
    let partial = aggregate(request, progress)?;
    let summary = PartialSummary {
        files_total: partial.files_total,
        rows: partial.state.rows,
        bad_rows: partial.state.bad_rows,
        errors: partial.errors.len() as u64,
        elapsed_s: 0.0,
    };
    crate::write_atomically(path, |out| {
        serde_json::to_writer(out, &partial).map_err(io::Error::other)
    })?;
    Ok(PartialSummary { elapsed_s: started.elapsed().as_secs_f64(), ..summary })
}

/// Loads saved partials, merges them in the order given and writes the outputs,
/// exactly as a single run over all their inputs would.
pub fn finish_saved(request: &AggregateRequest, paths: &[PathBuf]) -> Result<AggregateSummary> {
    let started = Instant::now();
    let mut merged = Partial::default();
    for path in paths {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let partial: Partial = serde_json::from_reader(io::BufReader::new(file))
            .map_err(|e| Error::io(path, io::Error::new(io::ErrorKind::InvalidData, e)))?;
        merged.merge(partial, request.options.bad_row_samples);
    }
    let mut summary = finish(request, merged)?;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Lists the inputs, aggregates them in parallel and writes `aggregate.csv`.
pub fn run(request: &AggregateRequest, progress: &Progress) -> Result<AggregateSummary> {
    let started = Instant::now();
    let partial = aggregate(request, progress)?;
    let mut summary = finish(request, partial)?;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Validated options, shared by the workers.
struct Plan<'a> {
    options: &'a AggregateOptions,
    metrics: &'a [Metric],
}

fn profile_reports(state: &AggregateState) -> Vec<ColumnReport> {
    state.profile.iter().map(|(column, profile)| profile.report(column, state.rows)).collect()
}

impl Plan<'_> {
    /// Neither groups nor metrics asked for: profile every column instead.
    fn profiling(&self) -> bool {
        self.options.group_by.is_empty() && self.options.metrics.is_empty()
    }

    /// Each worker folds the files it claims into its own state; the
    /// workers' states are merged at the end. Every aggregate is independent
    /// of the order rows arrive in (sums are exact decimals), so the answer is
    /// the same bytes whichever worker read which file.
    fn aggregate_all(
        &self,
        files: &[InputFile],
        pool: &rayon::ThreadPool,
        progress: &Progress,
    ) -> Result<(AggregateState, Vec<FileError>)> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let results = Mutex::new(Vec::new());
        let transient = Mutex::new(None);
        pool.in_place_scope(|scope| {
            for _ in 0..pool.current_num_threads() {
                let (next, stop, results, transient) = (&next, &stop, &results, &transient);
                scope.spawn(move |_| {
                    let mut state = AggregateState::default();
                    let mut errors = Vec::new();
                    let mut buffers = Buffers::default();
                    while !stop.load(Ordering::Relaxed) && !progress.is_cancelled() {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(index) else { break };
                        let bad_before = state.bad_rows;
                        state.files += 1;
                        let reading = progress.start_file(&file.path);
                        let outcome =
                            read::open(&file.path, progress, self.options.max_decoded_bytes)
                                .and_then(|reader| {
                                    self.read_rows(reader, (file, index), &mut state, &mut buffers)
                                });
                        drop(reading);
                        if let Err(e) = outcome {
                            if read::is_transient(&e) {
                                // Storage trouble: stop, so that the run is retried whole.
                                transient
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .replace(e.to_string());
                                stop.store(true, Ordering::Relaxed);
                                break;
                            }
                            let path = crate::names::display(&file.path);
                            errors.push((index, FileError { path, error: e.to_string() }));
                        }
                        if self.options.on_bad_rows == OnBadRows::Fail
                            && state.bad_rows > bad_before
                        {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    results.lock().unwrap_or_else(PoisonError::into_inner).push((state, errors));
                });
            }
        });
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if let Some(message) = transient.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(Error::Transient { message });
        }
        let mut total = AggregateState::default();
        let mut errors = Vec::new();
        for (state, worker_errors) in results.into_inner().unwrap_or_else(PoisonError::into_inner) {
            total.merge(state, usize::MAX);
            errors.extend(worker_errors);
        }
        // Each worker kept its first samples; the first overall are among them.
        total.bad_row_samples.sort_by_key(|s| (s.file_index, s.line));
        total.bad_row_samples.truncate(self.options.bad_row_samples);
        total.transcoded.sort_by_key(|f| f.file_index); // shards then follow in order
        errors.sort_by_key(|(index, _)| *index);
        if self.options.on_bad_rows == OnBadRows::Fail {
            if let Some(first) = total.bad_row_samples.first() {
                return Err(Error::invalid(
                    "on_bad_rows",
                    format!("bad row at {}:{}: {}", first.path, first.line, first.reason),
                ));
            }
        }
        Ok((total, errors.into_iter().map(|(_, e)| e).collect()))
    }

    fn read_rows(
        &self,
        reader: impl io::Read,
        (file, file_index): (&InputFile, usize),
        state: &mut AggregateState,
        buffers: &mut Buffers,
    ) -> io::Result<()> {
        let options = self.options;
        let mut reader = io::BufReader::with_capacity(ENCODING_SAMPLE, reader);
        let (encoding, how) = match options.encoding.as_deref() {
            Some(label) => (
                encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or(encoding_rs::UTF_8),
                "as given",
            ),
            None => detect_encoding(reader.fill_buf()?),
        };
        *state.encodings.entry(encoding.name().to_owned()).or_default() += 1;
        if encoding != encoding_rs::UTF_8 {
            state.transcoded.push(FileEncoding {
                path: crate::names::display(&file.path),
                file_index: file_index as u64,
                encoding: format!("{} ({how})", encoding.name()),
            });
        }
        // Transcodes to UTF-8 (and strips a BOM) on the fly; UTF-8 passes as it is.
        let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding((encoding != encoding_rs::UTF_8).then_some(encoding))
            .utf8_passthru(true)
            .strip_bom(true)
            .build(reader);
        let mut records = Records::new(
            decoded,
            options.delimiter,
            options.max_row_bytes,
            std::mem::take(buffers),
        );
        let outcome = self.read_records(&mut records, file, file_index, state);
        *buffers = records.into_buffers();
        outcome
    }

    fn read_records(
        &self,
        records: &mut Records<impl io::Read>,
        file: &InputFile,
        file_index: usize,
        state: &mut AggregateState,
    ) -> io::Result<()> {
        let options = self.options;
        let path = crate::names::display(&file.path);
        // The header names the columns of this file.
        let header: Vec<String> = loop {
            match records.next_record()? {
                None => return Ok(()),
                Some(Record::Row { fields, .. }) => {
                    break distinct_names(
                        fields.iter().map(|f| String::from_utf8_lossy(f).trim().to_owned()),
                    )
                }
                Some(Record::Bad { line, reason }) => {
                    self.bad(state, (&path, file_index, line), reason.to_string());
                }
            }
        };
        state.files_with_header += 1;
        for name in &header {
            *state.columns.entry(name.clone()).or_default() += 1;
        }
        let position = |name: &str| header.iter().position(|h| h == name);
        let key_positions: Vec<Option<usize>> =
            options.group_by.iter().map(|c| position(c)).collect();
        let metric_positions: Vec<Option<usize>> =
            self.metrics.iter().map(|m| m.column.as_deref().and_then(position)).collect();
        records.expect_fields(header.len());
        if self.profiling() {
            return self.profile_rows(records, &header, (&path, file_index), state);
        }

        // Metrics over the same column share one parse of its values.
        let first_with_position: Vec<usize> = (0..self.metrics.len())
            .map(|i| metric_positions.iter().position(|p| *p == metric_positions[i]).unwrap_or(i))
            .collect();
        let mut key = Vec::new();
        let mut numbers: Vec<Option<Number>> = vec![None; self.metrics.len()];
        while let Some(record) = records.next_record()? {
            let (line, fields) = match record {
                Record::Row { line, fields } => (line, fields),
                Record::Bad { line, reason } => {
                    self.bad(state, (&path, file_index, line), reason.to_string());
                    continue;
                }
            };
            let value = |position: Option<usize>| {
                position.and_then(|p| fields.get(p)).filter(|f| !is_blank(f))
            };
            // Validate every value first, so that a bad row changes no aggregate.
            let mut bad_value = None;
            for (i, metric) in self.metrics.iter().enumerate() {
                let field = value(metric_positions[i]);
                let first = first_with_position[i];
                numbers[i] = if first < i { numbers[first] } else { field.and_then(parse_number) };
                if metric.op.needs_numbers() && field.is_some() && numbers[i].is_none() {
                    bad_value.clone_from(&metric.column);
                    break;
                }
            }
            if let Some(column) = bad_value {
                let reason = format!("not a number in column {column:?}");
                self.bad(state, (&path, file_index, line), reason);
                continue;
            }
            key.clear();
            for &position in &key_positions {
                encode_key(&mut key, value(position));
            }
            let accumulators = match state.groups.get_mut(key.as_slice()) {
                Some(accumulators) => accumulators,
                None => state.groups.entry(key.clone().into_boxed_slice()).or_insert_with(|| {
                    self.metrics.iter().map(|m| Accumulator::new(m.op)).collect()
                }),
            };
            for (i, accumulator) in accumulators.iter_mut().enumerate() {
                let counts_rows = self.metrics[i].column.is_none();
                accumulator.add(value(metric_positions[i]), numbers[i], counts_rows);
            }
            state.rows += 1;
        }
        Ok(())
    }

    /// Profile mode: every column of every well-formed row.
    fn profile_rows(
        &self,
        records: &mut Records<impl io::Read>,
        header: &[String],
        (path, file_index): (&str, usize),
        state: &mut AggregateState,
    ) -> io::Result<()> {
        let mut profiles = vec![ColumnProfile::default(); header.len()];
        while let Some(record) = records.next_record()? {
            match record {
                Record::Row { fields, .. } => {
                    for (profile, field) in profiles.iter_mut().zip(fields.iter()) {
                        if !is_blank(field) {
                            profile.add(field);
                        }
                    }
                    state.rows += 1;
                }
                Record::Bad { line, reason } => {
                    self.bad(state, (path, file_index, line), reason.to_string());
                }
            }
        }
        for (name, profile) in header.iter().zip(profiles) {
            state.profile.entry(name.clone()).or_default().merge(&profile);
        }
        Ok(())
    }

    fn bad(&self, state: &mut AggregateState, at: (&str, usize, u64), reason: String) {
        let (path, file_index, line) = at;
        state.bad_rows += 1;
        if state.bad_row_samples.len() < self.options.bad_row_samples {
            let (path, file_index) = (path.to_owned(), file_index as u64);
            state.bad_row_samples.push(BadRowSample { path, file_index, line, reason });
        }
    }
}

/// Writes the sorted result as CSV.
/// How much of a file decides its encoding.
const ENCODING_SAMPLE: usize = 64 << 10;

/// The encoding of a file that starts with `sample`, and how it was found: a byte order
/// mark says; else UTF-8 if the sample is (a character cut at its end aside); else
/// chardetng's guess (Firefox's detector), as extract-text does.
fn detect_encoding(sample: &[u8]) -> (&'static encoding_rs::Encoding, &'static str) {
    if let Some((encoding, _)) = encoding_rs::Encoding::for_bom(sample) {
        return (encoding, "byte order mark");
    }
    match std::str::from_utf8(sample) {
        Ok(_) => return (encoding_rs::UTF_8, "valid"),
        Err(e) if e.error_len().is_none() => return (encoding_rs::UTF_8, "valid"),
        Err(_) => {}
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(sample, sample.len() < ENCODING_SAMPLE);
    (detector.guess(None, chardetng::Utf8Detection::Deny), "detected: not UTF-8")
}

/// A header's names, each once: a repeated name gets the first free `_1`, `_2`… suffix
/// (`Male`, `Female`, `Male_1`, `Female_1`), as DuckDB names them, so that two columns
/// never merge. A group or metric naming a repeated column takes the first.
fn distinct_names(names: impl Iterator<Item = String>) -> Vec<String> {
    let names: Vec<String> = names.collect();
    // At most 2n names are taken (n given, n made): among 2n + 1 suffixes one is free.
    let suffixes = 1..=2 * names.len() + 1;
    let mut taken: std::collections::HashSet<String> = names.iter().cloned().collect();
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .map(|name| {
            if seen.insert(name.clone()) {
                return name;
            }
            let free = suffixes
                .clone()
                .map(|n| format!("{name}_{n}"))
                .find(|candidate| !taken.contains(candidate))
                .unwrap_or_default();
            taken.insert(free.clone());
            free
        })
        .collect()
}

/// An empty value, or one of only spaces (a number column padded for print): null.
fn is_blank(field: &[u8]) -> bool {
    field.iter().all(u8::is_ascii_whitespace)
}

fn write_result(dir: &std::path::Path, plan: &Plan<'_>, state: &AggregateState) -> Result<()> {
    let (header, rows) = result_table(plan, state);
    let path = dir.join("aggregate.csv");
    let write_csv = || {
        let mut out = BufWriter::new(File::create(&path)?);
        write_csv_row(&mut out, header.iter().map(|h| h.clone().into_bytes()))?;
        for row in &rows {
            write_csv_row(&mut out, row.iter().cloned())?;
        }
        out.flush()
    };
    write_csv().map_err(|e| Error::io(&path, e))?;
    if plan.options.parquet {
        let path = dir.join("aggregate.parquet");
        parquet::write(&path, &header, &rows).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// The result as a table of CSV fields: the profile, or one row per group.
fn result_table(plan: &Plan<'_>, state: &AggregateState) -> (Vec<String>, Vec<Vec<Vec<u8>>>) {
    if plan.profiling() {
        let header = ColumnReport::HEADER.iter().map(|h| (*h).to_owned()).collect();
        return (header, profile_reports(state).iter().map(ColumnReport::fields).collect());
    }
    let header =
        plan.options.group_by.iter().cloned().chain(plan.metrics.iter().map(Metric::output_name));
    let rows = state
        .result_rows()
        .into_iter()
        .map(|(key, accumulators)| {
            key.into_iter()
                .map(Option::unwrap_or_default)
                .chain(accumulators.iter().map(Accumulator::render))
                .collect()
        })
        .collect();
    (header.collect(), rows)
}

fn write_csv_row(out: &mut impl Write, fields: impl Iterator<Item = Vec<u8>>) -> io::Result<()> {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let text = String::from_utf8_lossy(&field);
        if text.contains([',', '"', '\n', '\r']) {
            write!(out, "\"{}\"", text.replace('"', "\"\""))?;
        } else {
            out.write_all(text.as_bytes())?;
        }
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_get_the_first_free_suffix() {
        let names = |given: &[&str]| distinct_names(given.iter().map(|s| (*s).to_owned()));
        assert_eq!(
            names(&["Decade", "Male", "Female", "Male", "Female"]),
            ["Decade", "Male", "Female", "Male_1", "Female_1"]
        );
        assert_eq!(names(&["a", "a", "a_1", "a"]), ["a", "a_2", "a_1", "a_3"]);
        assert_eq!(names(&["", ""]), ["", "_1"]);
    }

    #[test]
    fn the_encoding_is_a_bom_else_utf8_if_valid_else_guessed() {
        let (utf16, how) = detect_encoding(b"\xff\xfea\x00,\x00");
        assert_eq!((utf16.name(), how), ("UTF-16LE", "byte order mark"));
        // A character cut by the end of the sample is still UTF-8.
        assert_eq!(detect_encoding("naïve,".as_bytes()).0, encoding_rs::UTF_8);
        assert_eq!(detect_encoding(&"naïve".as_bytes()[..3]).0, encoding_rs::UTF_8);
        let (guess, how) = detect_encoding(b"caf\xe9,cr\xe8me br\xfbl\xe9e\n");
        assert_ne!(guess, encoding_rs::UTF_8);
        assert_eq!(how, "detected: not UTF-8");
    }

    #[test]
    fn a_blank_is_only_spaces() {
        assert!(is_blank(b""));
        assert!(is_blank(b" \t "));
        assert!(!is_blank(b" 1 "));
    }
}
