//! Parsing in child processes: a parser that crashes, loops or exhausts
//! memory on a hostile file takes down its worker process, never the job.
//!
//! The parent reads each file (local or S3, counted in the run's progress)
//! and sends its bytes to an idle worker; the worker parses and answers with
//! the text. A worker that does not answer within the time limit is killed
//! and replaced; so is one that dies. The protocol on the worker's stdin and
//! stdout: a JSON line, then the number of raw bytes it announces.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{extract_document, DocFormat, Extracted};
use crate::Progress;

/// The longest header line and answer a worker may send: a confused or
/// compromised worker must not make the parent allocate without bound.
const MAX_LINE: u64 = 64 << 10;
const MAX_TEXT: usize = 1 << 30;

#[derive(Serialize, Deserialize)]
struct Request {
    format: DocFormat,
    len: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Response {
    Ok {
        pages: Option<u32>,
        encoding: Option<String>,
        #[serde(default)]
        notes: Vec<String>,
        len: usize,
    },
    Error {
        error: String,
    },
}

/// Runs `parse`, turning a panic into a per-file error.
pub(super) fn guarded(
    parse: impl FnOnce() -> Result<Extracted, String>,
) -> Result<Extracted, String> {
    crate::catch_panic(parse)
        .unwrap_or_else(|message| Err(format!("the parser crashed: {message}")))
}

/// The worker's side: answers requests from `input` on `output` until the
/// parent closes the pipe.
pub fn serve(input: impl Read, mut output: impl Write) -> io::Result<()> {
    let mut input = BufReader::with_capacity(1 << 20, input);
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let request: Request = serde_json::from_str(&line).map_err(io::Error::other)?;
        let mut data = vec![0; request.len];
        input.read_exact(&mut data)?;
        let (response, text) = match guarded(|| extract_document(request.format, data)) {
            Ok(found) => {
                let response = Response::Ok {
                    pages: found.pages,
                    encoding: found.encoding,
                    notes: found.notes,
                    len: found.text.len(),
                };
                (response, found.text)
            }
            Err(error) => (Response::Error { error }, String::new()),
        };
        serde_json::to_writer(&mut output, &response)?;
        output.write_all(b"\n")?;
        output.write_all(text.as_bytes())?;
        output.flush()?;
    }
}

/// One worker process, idle or busy with one file.
struct Worker {
    child: Arc<Mutex<Child>>,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Whether it ever answered: one that dies before can be a broken setup.
    answered: bool,
}

impl Worker {
    fn spawn(command: &[String]) -> io::Result<Worker> {
        let (program, args) =
            command.split_first().ok_or_else(|| io::Error::other("no worker command"))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()) // parsers' complaints about damaged files
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::with_capacity(1 << 20, child.stdout.take().expect("piped"));
        Ok(Worker { child: Arc::new(Mutex::new(child)), stdin, stdout, answered: false })
    }

    fn call(&mut self, format: DocFormat, data: &[u8]) -> io::Result<Result<Extracted, String>> {
        serde_json::to_writer(&mut self.stdin, &Request { format, len: data.len() })?;
        self.stdin.write_all(b"\n")?;
        self.stdin.write_all(data)?;
        self.stdin.flush()?;
        let mut line = String::new();
        if (&mut self.stdout).take(MAX_LINE).read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match serde_json::from_str(&line).map_err(io::Error::other)? {
            Response::Ok { len, .. } if len > MAX_TEXT => {
                Err(io::Error::other(format!("the parser announced {len} bytes of text")))
            }
            Response::Ok { pages, encoding, notes, len } => {
                let mut text = vec![0; len];
                self.stdout.read_exact(&mut text)?;
                let text = String::from_utf8(text).map_err(io::Error::other)?;
                Ok(Ok(Extracted { text, pages, encoding, notes }))
            }
            Response::Error { error } => Ok(Err(error)),
        }
    }

    fn kill(&self) -> String {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        match child.wait() {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        }
    }
}

/// Worker processes for one run, started as needed and reused.
pub(super) struct Pool {
    command: Vec<String>,
    timeout: Duration,
    idle: Mutex<Vec<Worker>>,
    /// New workers that died before any answer, in a row.
    stillborn: AtomicUsize,
}

/// New workers dying unanswered this many times in a row mean the command
/// is broken (a bad interpreter, an import error), not the files.
const STILLBORN_LIMIT: usize = 3;

/// Why a parse ended without an answer.
enum Stop {
    TimedOut,
    Cancelled,
}

impl Pool {
    pub(super) fn new(command: Vec<String>, timeout: Duration) -> Pool {
        Pool { command, timeout, idle: Mutex::new(Vec::new()), stillborn: AtomicUsize::new(0) }
    }

    /// Parses `data` in a worker, within the time limit. `Err` holds the
    /// per-file error; an `io::Error` means no worker could be started.
    pub(super) fn extract(
        &self,
        format: DocFormat,
        data: &[u8],
        progress: &Progress,
    ) -> io::Result<Result<Extracted, String>> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut worker = match idle {
            Some(worker) => worker,
            None => Worker::spawn(&self.command)?,
        };
        let (done, finished) = mpsc::channel::<()>();
        let child = Arc::clone(&worker.child);
        let timeout = self.timeout;
        let (answer, stop) = std::thread::scope(|scope| {
            let done = done; // dropped here even on a panic: the watcher then stops
                             // Kills the worker when the time is up or the run is cancelled.
            let watcher = scope.spawn(move || {
                let deadline = Instant::now() + timeout;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match finished.recv_timeout(left.min(Duration::from_millis(100))) {
                        Err(RecvTimeoutError::Timeout) if progress.is_cancelled() => {}
                        Err(RecvTimeoutError::Timeout) if !left.is_zero() => continue,
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return None,
                    }
                    let _ = child.lock().unwrap_or_else(PoisonError::into_inner).kill();
                    return Some(if progress.is_cancelled() {
                        Stop::Cancelled
                    } else {
                        Stop::TimedOut
                    });
                }
            });
            let answer = worker.call(format, data);
            let _ = done.send(());
            (answer, watcher.join().unwrap_or(None))
        });
        match (answer, stop) {
            (Ok(answer), None) => {
                worker.answered = true;
                self.stillborn.store(0, Ordering::Relaxed);
                self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(worker);
                Ok(answer)
            }
            (_, Some(Stop::TimedOut)) => {
                worker.kill();
                Ok(Err(format!(
                    "timed out after {} s (the parser was stopped)",
                    timeout.as_secs_f64()
                )))
            }
            (_, Some(Stop::Cancelled)) => {
                worker.kill();
                Err(crate::read::cancelled_error())
            }
            (Err(_), None) => {
                let status = worker.kill();
                let fresh = !worker.answered;
                if fresh && self.stillborn.fetch_add(1, Ordering::Relaxed) + 1 >= STILLBORN_LIMIT {
                    return Err(io::Error::other(format!(
                        "{STILLBORN_LIMIT} new parser processes in a row exited before answering \
                         (the last: {status})"
                    )));
                }
                Ok(Err(format!("the parser crashed ({status})")))
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for worker in self.idle.get_mut().unwrap_or_else(PoisonError::into_inner).drain(..) {
            drop(worker.stdin); // end of input: the worker exits
            let _ = worker.child.lock().unwrap_or_else(PoisonError::into_inner).wait();
        }
    }
}
