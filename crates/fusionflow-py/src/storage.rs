//! `fusionflow._core.storage_*`: object storage operations on `s3://` URLs, with
//! the GIL released. Bytes move between storage and local files in Rust.

// PyO3 extracts arguments as owned values.
#![allow(clippy::needless_pass_by_value)]

use std::path::PathBuf;
use std::time::Duration;

use fusionflow_core::store::{self, S3Config};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::to_py;

/// Sets how S3 is reached (see `fusionflow.storage.configure`).
#[pyfunction]
#[pyo3(signature = (
    *, endpoint=None, region=None, access_key_id=None, secret_access_key=None,
    session_token=None, sse_kms_key_id=None, max_retries=3, virtual_hosted=false,
))]
#[allow(clippy::too_many_arguments)]
fn storage_configure(
    endpoint: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    sse_kms_key_id: Option<String>,
    max_retries: usize,
    virtual_hosted: bool,
) {
    store::configure(S3Config {
        endpoint,
        region,
        access_key_id,
        secret_access_key,
        session_token,
        sse_kms_key_id,
        max_retries,
        virtual_hosted,
    });
}

/// Where `upload://` names point (see `fusionflow.storage.configure`): the uploads
/// folder of FusionFlow's storage, a local path or an `s3://` prefix.
#[pyfunction]
fn storage_name_uploads(root: &str) {
    fusionflow_core::names::set_uploads_root(root);
}

/// `(url, size)` of every object under the prefix `url`, sorted, all pages.
#[pyfunction]
fn storage_list(py: Python<'_>, url: &str) -> PyResult<Vec<(String, u64)>> {
    py.detach(|| store::list(url)).map_err(|e| to_py(&e))
}

/// The size of the object at `url`.
#[pyfunction]
fn storage_size(py: Python<'_>, url: &str) -> PyResult<u64> {
    py.detach(|| store::size(url)).map_err(|e| to_py(&e))
}

/// Uploads a local file to `url` (multipart when large); returns its size.
#[pyfunction]
fn storage_put_file(py: Python<'_>, path: PathBuf, url: &str) -> PyResult<u64> {
    py.detach(|| store::put_file(&path, url)).map_err(|e| to_py(&e))
}

/// Downloads `url` into a local file; returns its size.
#[pyfunction]
fn storage_get_file(py: Python<'_>, url: &str, path: PathBuf) -> PyResult<u64> {
    py.detach(|| store::get_file(url, &path)).map_err(|e| to_py(&e))
}

/// Writes small `data` as the object at `url`.
#[pyfunction]
fn storage_put_bytes(py: Python<'_>, url: &str, data: Vec<u8>) -> PyResult<()> {
    py.detach(|| store::put_bytes(url, data)).map_err(|e| to_py(&e))
}

/// Reads the (small) object at `url` whole.
#[pyfunction]
fn storage_get_bytes<'py>(py: Python<'py>, url: &str) -> PyResult<Bound<'py, PyBytes>> {
    let data = py
        .detach(|| {
            let mut reader = store::open(url)?;
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut data)?;
            Ok::<_, std::io::Error>(data)
        })
        .map_err(|e| to_py(&fusionflow_core::Error::io(url, e)))?;
    Ok(PyBytes::new(py, &data))
}

/// Deletes every object under the prefix `url`; returns how many.
#[pyfunction]
fn storage_delete_prefix(py: Python<'_>, url: &str) -> PyResult<u64> {
    py.detach(|| store::delete_prefix(url)).map_err(|e| to_py(&e))
}

/// A presigned GET link to `url`, valid for `expires_s` seconds.
#[pyfunction]
fn storage_presign(py: Python<'_>, url: &str, expires_s: u64) -> PyResult<String> {
    py.detach(|| store::presigned_url(url, Duration::from_secs(expires_s))).map_err(|e| to_py(&e))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(storage_configure, m)?)?;
    m.add_function(wrap_pyfunction!(storage_name_uploads, m)?)?;
    m.add_function(wrap_pyfunction!(storage_list, m)?)?;
    m.add_function(wrap_pyfunction!(storage_size, m)?)?;
    m.add_function(wrap_pyfunction!(storage_put_file, m)?)?;
    m.add_function(wrap_pyfunction!(storage_get_file, m)?)?;
    m.add_function(wrap_pyfunction!(storage_put_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(storage_get_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(storage_delete_prefix, m)?)?;
    m.add_function(wrap_pyfunction!(storage_presign, m)?)?;
    Ok(())
}
