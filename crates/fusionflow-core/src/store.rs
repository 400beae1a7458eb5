//! Object storage: inputs and outputs named `s3://bucket/key`, for S3 and
//! S3-compatible servers (MinIO), through the `object_store` crate.
//!
//! The kernels read objects as streams and never see the difference from a
//! local file; writes go up whole files at a time (multipart above a few MiB),
//! each one asking for server-side encryption. Failures are sorted in two:
//! [`Error::Transient`] (network trouble, server errors after the client's own
//! retries) is worth retrying later; anything else (no such object, access
//! denied) is not.
//!
//! The async client runs on one tokio runtime per process, made on first use
//! and made again in a forked child, whose copy of the parent's threads is dead.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use tokio::io::AsyncWriteExt;

use crate::{Error, Result};

const SCHEME: &str = "s3://";

/// How to reach S3 and what to ask of it. Unset fields fall back to the
/// standard `AWS_*` environment variables.
#[derive(Clone, Debug, Default)]
pub struct S3Config {
    /// The server's URL for MinIO and other S3-compatible servers
    /// (`http://` is allowed then); `None` for AWS.
    pub endpoint: Option<String>,
    /// The region (`us-east-1` when unset and not in the environment).
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// SSE-KMS with this key; `None` asks for SSE-S3 (AES256).
    pub sse_kms_key_id: Option<String>,
    /// Retries of one request inside the client (server errors, timeouts)
    /// before it fails as [`Error::Transient`].
    pub max_retries: usize,
    /// Address buckets by host name (AWS) instead of by path (MinIO's default).
    pub virtual_hosted: bool,
}

/// The process's S3 settings, clients and runtime.
struct State {
    config: Option<S3Config>,
    pid: u32,
    runtime: Option<Arc<tokio::runtime::Runtime>>,
    clients: HashMap<String, Arc<AmazonS3>>,
}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(|| {
    Mutex::new(State { config: None, pid: 0, runtime: None, clients: HashMap::new() })
});

/// Sets how S3 is reached from now on (clients made before are dropped).
pub fn configure(config: S3Config) {
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    state.config = Some(config);
    state.clients.clear();
}

/// The `s3://` URL `path` holds, if it holds one.
pub fn remote_url(path: &Path) -> Option<&str> {
    path.to_str().filter(|s| s.starts_with(SCHEME))
}

/// An object's location: its bucket's client and its key.
struct Location {
    url: String,
    bucket: String,
    key: ObjectPath,
}

fn locate(url: &str) -> Result<Location> {
    let rest = url
        .strip_prefix(SCHEME)
        .ok_or_else(|| Error::invalid("url", format!("{url:?} is not an s3:// URL")))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::invalid("url", format!("{url:?} names no bucket")));
    }
    Ok(Location {
        url: url.to_owned(),
        bucket: bucket.to_owned(),
        key: ObjectPath::from(key.trim_end_matches('/')),
    })
}

/// The runtime and the bucket's client, made on first use in this process.
fn client(bucket: &str) -> Result<(Arc<tokio::runtime::Runtime>, Arc<AmazonS3>)> {
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    if state.pid != std::process::id() {
        // A forked child: the parent's runtime threads do not exist here.
        state.pid = std::process::id();
        state.runtime = None;
        state.clients.clear();
    }
    let runtime = if let Some(runtime) = &state.runtime {
        Arc::clone(runtime)
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fusionflow-io")
            .enable_all()
            .build()
            .map(Arc::new)
            .map_err(|e| Error::io("tokio runtime", e))?;
        state.runtime = Some(Arc::clone(&runtime));
        runtime
    };
    if let Some(client) = state.clients.get(bucket) {
        return Ok((runtime, Arc::clone(client)));
    }
    let config =
        state.config.clone().unwrap_or_else(|| S3Config { max_retries: 3, ..Default::default() });
    let client = Arc::new(build_client(bucket, &config)?);
    state.clients.insert(bucket.to_owned(), Arc::clone(&client));
    Ok((runtime, client))
}

fn build_client(bucket: &str, config: &S3Config) -> Result<AmazonS3> {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(config.virtual_hosted)
        .with_retry(RetryConfig {
            max_retries: config.max_retries,
            retry_timeout: Duration::from_secs(60),
            ..RetryConfig::default()
        })
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(10))
                .with_timeout(Duration::from_secs(300)),
        );
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    let set = |b: AmazonS3Builder, key: AmazonS3ConfigKey, value: &Option<String>| match value {
        Some(v) => b.with_config(key, v),
        None => b,
    };
    builder = set(builder, AmazonS3ConfigKey::Region, &config.region);
    builder = set(builder, AmazonS3ConfigKey::AccessKeyId, &config.access_key_id);
    builder = set(builder, AmazonS3ConfigKey::SecretAccessKey, &config.secret_access_key);
    builder = set(builder, AmazonS3ConfigKey::Token, &config.session_token);
    // Every write asks for server-side encryption.
    builder = match &config.sse_kms_key_id {
        Some(key) => builder.with_sse_kms_encryption(key),
        None => builder.with_config(sse_key(), "AES256"),
    };
    builder.build().map_err(|e| Error::invalid("storage", e))
}

/// The configuration key of the server-side encryption type (not exported by name).
fn sse_key() -> AmazonS3ConfigKey {
    "aws_server_side_encryption".parse().expect("a key object_store knows")
}

/// Maps a client error: missing objects, transient trouble, or a plain failure.
fn error(url: &str, err: object_store::Error) -> Error {
    match err {
        object_store::Error::NotFound { .. } => Error::NotFound { path: url.into() },
        // Network errors and server errors left after the client's retries.
        object_store::Error::Generic { .. } => {
            Error::Transient { message: format!("{url}: {}", one_line(&err)) }
        }
        other => Error::io(url, io::Error::other(one_line(&other))),
    }
}

fn one_line(err: &dyn std::fmt::Display) -> String {
    err.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every object under the prefix `url` names, as `(url, size)` sorted by key,
/// read to the last page; or the one object `url` names.
pub fn list(url: &str) -> Result<Vec<(String, u64)>> {
    let location = locate(url)?;
    let (runtime, client) = client(&location.bucket)?;
    runtime.block_on(async {
        let prefix = (!location.key.as_ref().is_empty()).then_some(&location.key);
        let mut objects: Vec<(String, u64)> = client
            .list(prefix)
            .map_ok(|meta| (format!("{SCHEME}{}/{}", location.bucket, meta.location), meta.size))
            .try_collect()
            .await
            .map_err(|e| error(url, e))?;
        if objects.is_empty() && prefix.is_some() {
            let meta = client.head(&location.key).await.map_err(|e| error(url, e))?;
            objects.push((location.url.clone(), meta.size));
        }
        objects.sort();
        Ok(objects)
    })
}

/// The size of the object at `url`.
pub fn size(url: &str) -> Result<u64> {
    let location = locate(url)?;
    let (runtime, client) = client(&location.bucket)?;
    runtime.block_on(client.head(&location.key)).map(|m| m.size).map_err(|e| error(url, e))
}

/// A blocking reader of the object at `url`, streamed as it downloads.
pub fn open(url: &str) -> io::Result<Box<dyn Read + Send>> {
    let location = locate(url).map_err(io::Error::other)?;
    let (runtime, client) = client(&location.bucket).map_err(io::Error::other)?;
    let stream = runtime
        .block_on(async {
            client.get(&location.key).await.map(object_store::GetResult::into_stream)
        })
        .map_err(|e| into_io(error(url, e)))?;
    Ok(Box::new(ObjectReader { url: location.url, runtime, stream, chunk: bytes::Bytes::new() }))
}

/// An [`Error`] inside an [`io::Error`], so that readers can carry it; see
/// [`crate::read::is_transient`].
fn into_io(err: Error) -> io::Error {
    match err {
        Error::NotFound { path } => {
            io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
        }
        Error::Transient { message } => crate::read::transient_error(message),
        other => io::Error::other(other.to_string()),
    }
}

struct ObjectReader {
    url: String,
    runtime: Arc<tokio::runtime::Runtime>,
    stream: BoxStream<'static, object_store::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(into_io(error(&self.url, e))),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}

/// Uploads the local file `from` to `url` (multipart above 8 MiB); returns its size.
pub fn put_file(from: &Path, url: &str) -> Result<u64> {
    let location = locate(url)?;
    let (runtime, client) = client(&location.bucket)?;
    runtime.block_on(async {
        let mut file = tokio::fs::File::open(from).await.map_err(|e| Error::io(from, e))?;
        let store: Arc<dyn ObjectStore> = client;
        let mut writer = BufWriter::with_capacity(store, location.key.clone(), 8 << 20);
        let copied = tokio::io::copy(&mut file, &mut writer).await;
        let outcome = match copied {
            Ok(n) => writer.shutdown().await.map(|()| n),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        };
        outcome.map_err(|e| match e.into_inner() {
            Some(inner) => match inner.downcast::<object_store::Error>() {
                Ok(store_error) => error(url, *store_error),
                Err(other) => Error::io(url, io::Error::other(other)),
            },
            None => Error::io(url, io::Error::other("upload failed")),
        })
    })
}

/// Writes `bytes` as the object at `url`.
pub fn put_bytes(url: &str, bytes: Vec<u8>) -> Result<()> {
    let location = locate(url)?;
    let (runtime, client) = client(&location.bucket)?;
    runtime.block_on(client.put(&location.key, bytes.into())).map(|_| ()).map_err(|e| error(url, e))
}

/// Downloads the object at `url` into the local file `to`; returns its size.
pub fn get_file(url: &str, to: &Path) -> Result<u64> {
    let mut reader = open(url).map_err(|e| io_to_error(url, e))?;
    crate::write_atomically(to, |out| io::copy(&mut reader, out).map(|_| ())).map_err(
        |e| match e {
            Error::Io { source, .. } => io_to_error(url, source),
            other => other,
        },
    )?;
    std::fs::metadata(to).map(|m| m.len()).map_err(|e| Error::io(to, e))
}

fn io_to_error(url: &str, err: io::Error) -> Error {
    if crate::read::is_transient(&err) {
        Error::Transient { message: err.to_string() }
    } else {
        Error::io(url, err)
    }
}

/// Deletes every object under the prefix `url`; returns how many there were.
pub fn delete_prefix(url: &str) -> Result<u64> {
    let location = locate(url)?;
    let (runtime, client) = client(&location.bucket)?;
    runtime.block_on(async {
        let prefix = (!location.key.as_ref().is_empty()).then_some(&location.key);
        let keys = client.list(prefix).map_ok(|meta| meta.location).boxed();
        let deleted: Vec<ObjectPath> =
            client.delete_stream(keys).try_collect().await.map_err(|e| error(url, e))?;
        Ok(deleted.len() as u64)
    })
}

/// A link that lets whoever holds it download the object at `url` for
/// `expires`, without credentials.
pub fn presigned_url(url: &str, expires: Duration) -> Result<String> {
    let location = locate(url)?;
    let (runtime, client) = client(&location.bucket)?;
    runtime
        .block_on(client.signed_url(object_store::signer::Method::GET, &location.key, expires))
        .map(|u| u.to_string())
        .map_err(|e| error(url, e))
}
