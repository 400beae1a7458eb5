//! A parser process for `extract::run`, for Rust callers and the tests
//! (Python starts `fusionflow._core.serve_extract_worker` instead).

fn main() -> std::io::Result<()> {
    fusionflow_core::extract::worker::serve(std::io::stdin().lock(), std::io::stdout().lock())
}
