//! The Python module `fusionflow._core`: converts arguments, releases the GIL
//! for every run, and maps core errors to Python exceptions. No logic lives here.

use std::ffi::OsString;
use std::path::PathBuf;

use fusionflow_core::csv::{AggregateOptions, AggregateRequest, Metric, OnBadRows, Op};
use fusionflow_core::extract::ExtractRequest;
use fusionflow_core::grep::{
    BinaryPolicy, GrepOptions, GrepRequest, OutputFormat, MAX_SPILL_BYTES,
};
use fusionflow_core::read;
use fusionflow_core::resize::ResizeRequest;
use fusionflow_core::walk::WalkOptions;
use fusionflow_core::{Error, Progress};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyOSError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

mod storage;

// The public module path, so that pickling (and Celery's result backend) can
// find the classes again.
create_exception!(
    fusionflow.errors,
    FusionFlowError,
    PyException,
    "Base class of FusionFlow's errors."
);
create_exception!(fusionflow.errors, InvalidParameter, FusionFlowError, "A parameter is invalid.");
create_exception!(fusionflow.errors, Cancelled, FusionFlowError, "The run was cancelled.");
create_exception!(
    fusionflow.errors,
    TransientError,
    FusionFlowError,
    "A failure that may pass (storage or network trouble): worth retrying."
);

/// Converts a core error into the matching Python exception.
pub(crate) fn to_py(err: &Error) -> PyErr {
    match err {
        Error::InvalidParameter { .. } => InvalidParameter::new_err(err.to_string()),
        Error::NotFound { path } => PyFileNotFoundError::new_err((
            2,
            "No such file or directory",
            path.clone().into_os_string(),
        )),
        Error::Cancelled => Cancelled::new_err("the run was cancelled"),
        Error::Transient { message } => TransientError::new_err(message.clone()),
        // As Python's own OSError, errno kept: Python tells a full disk (worth
        // retrying) from the rest.
        Error::Io { path, source } => match source.raw_os_error() {
            Some(code) => {
                let message = source.to_string();
                let strerror =
                    message.strip_suffix(&format!(" (os error {code})")).unwrap_or(&message);
                PyOSError::new_err((code, strerror.to_owned(), path.clone().into_os_string()))
            }
            None => PyOSError::new_err(err.to_string()),
        },
        _ => PyOSError::new_err(err.to_string()),
    }
}

/// Live counters of a run, and its cancellation switch. Safe to read from any
/// thread while the run goes on.
#[pyclass(name = "Progress", frozen, module = "fusionflow._core")]
struct PyProgress {
    inner: Progress,
}

#[pymethods]
impl PyProgress {
    #[new]
    fn new() -> Self {
        PyProgress { inner: Progress::new() }
    }

    /// The counters now: `bytes_total`, `files_total`, `bytes_done`, `bytes_decoded`,
    /// `files_done`.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.snapshot();
        let dict = PyDict::new(py);
        dict.set_item("bytes_total", s.bytes_total)?;
        dict.set_item("files_total", s.files_total)?;
        dict.set_item("bytes_done", s.bytes_done)?;
        dict.set_item("bytes_decoded", s.bytes_decoded)?;
        dict.set_item("files_done", s.files_done)?;
        Ok(dict)
    }

    /// From now on, notes in the file at `path` each file as it starts (`+`) and
    /// ends (`-`) being read, the path's bytes in hex, before it is touched: what a
    /// process killed mid-run leaves to say what it was reading.
    #[allow(clippy::needless_pass_by_value)] // PyO3 passes owned values
    fn journal_to(&self, path: PathBuf) -> PyResult<()> {
        Ok(self.inner.journal_to(&path)?)
    }

    /// Asks the run to stop; it then raises `Cancelled`.
    fn cancel(&self) {
        self.inner.cancel();
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

/// Maps a string option onto its core enum, naming the parameter when it is not a choice.
fn parse_choice<T: Copy>(name: &str, value: &str, choices: &[(&str, T)]) -> PyResult<T> {
    if let Some((_, parsed)) = choices.iter().find(|(label, _)| *label == value) {
        return Ok(*parsed);
    }
    let labels: Vec<String> = choices.iter().map(|(label, _)| format!("{label:?}")).collect();
    Err(InvalidParameter::new_err(format!(
        "invalid parameter `{name}`: {value:?} is not one of {}",
        labels.join(", ")
    )))
}

/// Searches `inputs` and writes the matches into `output_dir`; returns the
/// summary as a JSON string. See `fusionflow.pipelines.grep` for the meaning
/// of each option.
#[pyfunction]
#[pyo3(signature = (
    inputs, output_dir, patterns, *, ignore_case=false, fixed_strings=false, word=false,
    invert=false, before_context=0, after_context=0, max_matches_per_file=None,
    binary="auto", max_line_bytes=64 << 20, max_decoded_bytes=read::MAX_DECODED_BYTES,
    max_spill_bytes=MAX_SPILL_BYTES, include=vec![], exclude=vec![], hidden=false,
    follow_symlinks=false, exact=false, format="text", threads=0, progress=None,
))]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
fn grep(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    output_dir: PathBuf,
    patterns: Vec<String>,
    ignore_case: bool,
    fixed_strings: bool,
    word: bool,
    invert: bool,
    before_context: usize,
    after_context: usize,
    max_matches_per_file: Option<u64>,
    binary: &str,
    max_line_bytes: usize,
    max_decoded_bytes: u64,
    max_spill_bytes: u64,
    include: Vec<String>,
    exclude: Vec<String>,
    hidden: bool,
    follow_symlinks: bool,
    exact: bool,
    format: &str,
    threads: usize,
    progress: Option<&PyProgress>,
) -> PyResult<String> {
    let request = GrepRequest {
        inputs,
        walk: WalkOptions { include, exclude, hidden, follow_symlinks, exact },
        grep: GrepOptions {
            patterns,
            ignore_case,
            fixed_strings,
            word,
            invert,
            before_context,
            after_context,
            max_matches_per_file,
            binary: parse_choice(
                "binary",
                binary,
                &[
                    ("auto", BinaryPolicy::Auto),
                    ("skip", BinaryPolicy::Skip),
                    ("text", BinaryPolicy::Text),
                ],
            )?,
            max_line_bytes,
            max_decoded_bytes,
        },
        output_dir,
        format: parse_choice(
            "format",
            format,
            &[("text", OutputFormat::Text), ("jsonl", OutputFormat::Jsonl)],
        )?,
        threads,
        max_spill_bytes,
    };
    run_detached(py, progress, |progress| fusionflow_core::grep::run(&request, progress))
}

/// Compiles `patterns` as `grep` would, raising `InvalidParameter` naming the
/// first that does not compile: the check a job's submission makes.
#[pyfunction]
#[pyo3(signature = (patterns, *, ignore_case=false, fixed_strings=false, word=false))]
fn check_grep_patterns(
    py: Python<'_>,
    patterns: Vec<String>,
    ignore_case: bool,
    fixed_strings: bool,
    word: bool,
) -> PyResult<()> {
    let options =
        GrepOptions { patterns, ignore_case, fixed_strings, word, ..GrepOptions::default() };
    py.detach(|| options.build().map(drop)).map_err(|e| to_py(&e))
}

/// Aggregates the CSV files under `inputs` and writes `aggregate.csv` into
/// `output_dir`; returns the summary as a JSON string. `metrics` holds
/// `(op, column)` pairs. See `fusionflow.pipelines.csv_aggregate`.
#[pyfunction]
#[pyo3(signature = (
    inputs, output_dir, *, group_by=vec![], metrics=vec![], delimiter=None, encoding=None,
    on_bad_rows="skip", max_row_bytes=16 << 20, max_decoded_bytes=read::MAX_DECODED_BYTES,
    bad_row_samples=20, parquet=false, include=vec![],
    exclude=vec![], hidden=false, follow_symlinks=false, exact=false, save_partial_to=None,
    partials=None, threads=0, progress=None,
))]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
fn csv_aggregate(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    output_dir: PathBuf,
    group_by: Vec<String>,
    metrics: Vec<(String, Option<String>)>,
    delimiter: Option<char>,
    encoding: Option<String>,
    on_bad_rows: &str,
    max_row_bytes: usize,
    max_decoded_bytes: u64,
    bad_row_samples: usize,
    parquet: bool,
    include: Vec<String>,
    exclude: Vec<String>,
    hidden: bool,
    follow_symlinks: bool,
    exact: bool,
    save_partial_to: Option<PathBuf>,
    partials: Option<Vec<PathBuf>>,
    threads: usize,
    progress: Option<&PyProgress>,
) -> PyResult<String> {
    let ops = [
        ("count", Op::Count),
        ("sum", Op::Sum),
        ("mean", Op::Mean),
        ("min", Op::Min),
        ("max", Op::Max),
        ("null_count", Op::NullCount),
        ("count_distinct", Op::CountDistinct),
    ];
    let metrics = metrics
        .into_iter()
        .map(|(op, column)| Ok(Metric { op: parse_choice("metrics", &op, &ops)?, column }))
        .collect::<PyResult<Vec<_>>>()?;
    let delimiter = match delimiter {
        Some(c) if c.is_ascii() => Some(c as u8),
        Some(c) => {
            return Err(InvalidParameter::new_err(format!(
                "invalid parameter `delimiter`: {c:?} is not a single ASCII character"
            )))
        }
        None => None,
    };
    let request = AggregateRequest {
        inputs,
        walk: WalkOptions { include, exclude, hidden, follow_symlinks, exact },
        options: AggregateOptions {
            group_by,
            metrics,
            delimiter,
            encoding,
            on_bad_rows: parse_choice(
                "on_bad_rows",
                on_bad_rows,
                &[("skip", OnBadRows::Skip), ("fail", OnBadRows::Fail)],
            )?,
            max_row_bytes,
            max_decoded_bytes,
            bad_row_samples,
            parquet,
        },
        output_dir,
        threads,
    };
    // A shard saves its partial state; finalizing merges saved partials; else one whole run.
    match (save_partial_to, partials) {
        (Some(path), _) => run_detached(py, progress, |progress| {
            fusionflow_core::csv::save_partial(&request, progress, &path)
        }),
        (None, Some(paths)) => {
            run_detached(py, progress, |_| fusionflow_core::csv::finish_saved(&request, &paths))
        }
        (None, None) => {
            run_detached(py, progress, |progress| fusionflow_core::csv::run(&request, progress))
        }
    }
}

/// Lists the files under `inputs` as a run would: `(files, skipped)`, where
/// `files` holds `(path, size)` sorted by path and `skipped` `(path, reason)`.
/// Paths come back as `str` (not `pathlib.Path`, which would turn `s3://` into `s3:/`).
#[pyfunction]
#[pyo3(signature = (
    inputs, *, include=vec![], exclude=vec![], hidden=false, follow_symlinks=false, threads=0,
))]
#[allow(clippy::type_complexity, clippy::needless_pass_by_value)] // PyO3 passes owned values
fn list_files(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    include: Vec<String>,
    exclude: Vec<String>,
    hidden: bool,
    follow_symlinks: bool,
    threads: usize,
) -> PyResult<(Vec<(OsString, u64)>, Vec<(String, String)>)> {
    let options = WalkOptions { include, exclude, hidden, follow_symlinks, exact: false };
    let listing = py
        .detach(|| fusionflow_core::walk::discover(&inputs, &options, threads))
        .map_err(|e| to_py(&e))?;
    Ok((
        listing.files.into_iter().map(|f| (f.path.into_os_string(), f.size)).collect(),
        listing.skipped.into_iter().map(|s| (s.path, s.reason)).collect(),
    ))
}

/// The indices of those of `files` that lie under none of `roots`, links resolved (see
/// `fusionflow_core::confine::outside`).
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // PyO3 passes owned values
fn outside_roots(py: Python<'_>, files: Vec<PathBuf>, roots: Vec<PathBuf>) -> Vec<usize> {
    py.detach(|| fusionflow_core::confine::outside(&files, &roots))
}

/// Concatenates consecutive shards' match files into `output` (see
/// `fusionflow_core::grep::concat_parts`); returns the bytes written.
#[pyfunction]
#[pyo3(signature = (parts, output, *, separate_groups=false))]
#[allow(clippy::needless_pass_by_value)] // PyO3 passes owned values
fn concat_parts(
    py: Python<'_>,
    parts: Vec<PathBuf>,
    output: PathBuf,
    separate_groups: bool,
) -> PyResult<u64> {
    py.detach(|| fusionflow_core::grep::concat_parts(&parts, &output, separate_groups))
        .map_err(|e| to_py(&e))
}

/// Writes a thumbnail of every image under `inputs` into `output_dir`, the
/// input trees mirrored, and `manifest.jsonl`; returns the summary as JSON.
/// `options` is the JSON of `fusionflow.pipelines.resize_images`' parameters
/// (without the file selection); `roots` names the trees to mirror when
/// `inputs` are a shard's exact files.
#[pyfunction]
#[pyo3(signature = (
    inputs, output_dir, options, *, roots=vec![], include=vec![], exclude=vec![], hidden=false,
    follow_symlinks=false, exact=false, threads=0, progress=None,
))]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
fn resize_images(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    output_dir: PathBuf,
    options: &str,
    roots: Vec<PathBuf>,
    include: Vec<String>,
    exclude: Vec<String>,
    hidden: bool,
    follow_symlinks: bool,
    exact: bool,
    threads: usize,
    progress: Option<&PyProgress>,
) -> PyResult<String> {
    let request = ResizeRequest {
        inputs,
        roots,
        walk: WalkOptions { include, exclude, hidden, follow_symlinks, exact },
        options: parse_options(options)?,
        output_dir,
        threads,
    };
    run_detached(py, progress, |progress| fusionflow_core::resize::run(&request, progress))
}

/// Writes the text of every document under `inputs` into `output_dir` (one
/// `.txt` per input, the trees mirrored) and `documents.jsonl`; returns the
/// summary as JSON. `options` is the JSON of
/// `fusionflow.pipelines.extract_text`' parameters; `worker_command` starts a
/// parser process (`serve_extract_worker`).
#[pyfunction]
#[pyo3(signature = (
    inputs, output_dir, options, *, roots=vec![], include=vec![], exclude=vec![], hidden=false,
    follow_symlinks=false, exact=false, threads=0, worker_command=vec![], progress=None,
))]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
fn extract_text(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    output_dir: PathBuf,
    options: &str,
    roots: Vec<PathBuf>,
    include: Vec<String>,
    exclude: Vec<String>,
    hidden: bool,
    follow_symlinks: bool,
    exact: bool,
    threads: usize,
    worker_command: Vec<String>,
    progress: Option<&PyProgress>,
) -> PyResult<String> {
    let request = ExtractRequest {
        inputs,
        roots,
        walk: WalkOptions { include, exclude, hidden, follow_symlinks, exact },
        options: parse_options(options)?,
        output_dir,
        threads,
        worker_command,
    };
    run_detached(py, progress, |progress| fusionflow_core::extract::run(&request, progress))
}

/// The parser process of `extract_text`: answers on stdout what stdin asks,
/// until stdin closes.
#[pyfunction]
fn serve_extract_worker(py: Python<'_>) -> PyResult<()> {
    py.detach(|| {
        fusionflow_core::extract::worker::serve(std::io::stdin().lock(), std::io::stdout().lock())
    })
    .map_err(|e| PyOSError::new_err(e.to_string()))
}

/// Parses a kernel's options from the JSON of its validated parameters.
fn parse_options<T: serde::de::DeserializeOwned>(json: &str) -> PyResult<T> {
    serde_json::from_str(json)
        .map_err(|e| InvalidParameter::new_err(format!("invalid parameter `params`: {e}")))
}

/// Runs `work` with the GIL released and returns its summary as JSON.
fn run_detached<T: serde::Serialize + Send>(
    py: Python<'_>,
    progress: Option<&PyProgress>,
    work: impl FnOnce(&Progress) -> fusionflow_core::Result<T> + Send,
) -> PyResult<String> {
    let progress = progress.map_or_else(Progress::new, |p| p.inner.clone());
    let summary = py.detach(|| work(&progress)).map_err(|e| to_py(&e))?;
    serde_json::to_string(&summary).map_err(|e| PyOSError::new_err(e.to_string()))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("FusionFlowError", py.get_type::<FusionFlowError>())?;
    m.add("InvalidParameter", py.get_type::<InvalidParameter>())?;
    m.add("Cancelled", py.get_type::<Cancelled>())?;
    m.add("TransientError", py.get_type::<TransientError>())?;
    m.add_class::<PyProgress>()?;
    m.add_function(wrap_pyfunction!(grep, m)?)?;
    m.add_function(wrap_pyfunction!(check_grep_patterns, m)?)?;
    m.add_function(wrap_pyfunction!(csv_aggregate, m)?)?;
    m.add_function(wrap_pyfunction!(list_files, m)?)?;
    m.add_function(wrap_pyfunction!(outside_roots, m)?)?;
    m.add_function(wrap_pyfunction!(concat_parts, m)?)?;
    m.add_function(wrap_pyfunction!(resize_images, m)?)?;
    m.add_function(wrap_pyfunction!(extract_text, m)?)?;
    m.add_function(wrap_pyfunction!(serve_extract_worker, m)?)?;
    storage::register(m)?;
    Ok(())
}
