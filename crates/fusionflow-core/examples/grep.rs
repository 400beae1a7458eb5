//! Runs the grep kernel from the command line, without Python: for profiling.
//!
//! `cargo run --release -p fusionflow-core --example grep -- OUTDIR DIR PATTERN...`

use std::path::PathBuf;

use fusionflow_core::grep::{self, GrepOptions, GrepRequest};
use fusionflow_core::walk::WalkOptions;
use fusionflow_core::Progress;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(output_dir), Some(input)) = (args.next(), args.next()) else {
        return Err("usage: grep OUTDIR DIR PATTERN...".into());
    };
    let request = GrepRequest {
        inputs: vec![PathBuf::from(input)],
        walk: WalkOptions { exclude: vec!["*.gz".into(), "*.bz2".into()], ..Default::default() },
        grep: GrepOptions { patterns: args.collect(), ..Default::default() },
        output_dir: PathBuf::from(output_dir),
        ..Default::default()
    };
    let summary = grep::run(&request, &Progress::new())?;
    eprintln!("{} matches in {:.3} s", summary.matches, summary.elapsed_s);
    Ok(())
}
