use std::time::Duration;

use fusionflow_core::extract::{self, Document, ExtractOptions, ExtractRequest};
use fusionflow_core::{Error, Progress};

use crate::testutil::Dir;

/// A minimal PDF whose pages show `pages`' lines in Helvetica.
fn pdf(pages: &[&[&str]]) -> Vec<u8> {
    let n = pages.len();
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        format!(
            "<< /Type /Pages /Count {n} /Kids [{}] >>",
            (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect::<Vec<_>>().join(" ")
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
    ];
    for (i, lines) in pages.iter().enumerate() {
        let shown: String = lines.iter().map(|line| format!("({line}) Tj T*\n")).collect();
        let stream = format!("BT /F1 12 Tf 14 TL 72 720 Td\n{shown}ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()));
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn request(dir: &Dir, isolate: bool) -> ExtractRequest {
    ExtractRequest {
        inputs: vec![dir.input()],
        options: ExtractOptions { isolate, ..Default::default() },
        output_dir: dir.output(),
        threads: 2,
        worker_command: vec![env!("CARGO_BIN_EXE_fusionflow-extract-worker").into()],
        ..Default::default()
    }
}

fn documents(dir: &Dir) -> Vec<Document> {
    std::fs::read_to_string(dir.output().join(extract::DOCUMENTS))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn pdf_pages_and_text_in_worker_processes_and_in_process() {
    for isolate in [true, false] {
        let dir = Dir::new();
        dir.write("docs/a.pdf", pdf(&[&["Hello PDF world", "second line"], &["page two"]]));
        dir.write("docs/b.html", "<p>Hello &amp; goodbye</p>");
        dir.write("docs/broken.pdf", b"%PDF-1.4\nnothing here");
        let summary = extract::run(&request(&dir, isolate), &Progress::new()).unwrap();
        assert_eq!((summary.files_total, summary.files_extracted, summary.pages), (3, 2, 2));
        assert_eq!(summary.isolated, isolate);
        let text = std::fs::read_to_string(dir.output().join("docs/a.pdf.txt")).unwrap();
        assert_eq!(text, "Hello PDF world\nsecond line\n\u{c}page two\n\u{c}");
        let html = std::fs::read_to_string(dir.output().join("docs/b.html.txt")).unwrap();
        assert_eq!(html, "Hello & goodbye\n");
        let listed = documents(&dir);
        assert_eq!(listed.iter().map(|d| d.pages).collect::<Vec<_>>(), [Some(2), None, None]);
        assert!(listed[2].error.as_deref().unwrap().starts_with("corrupt PDF"), "{listed:?}");
        assert_eq!(summary.errors.len(), 1);
    }
}

#[test]
fn hanging_and_crashing_parsers_cost_one_file_each() {
    let dir = Dir::new();
    dir.write("a.txt", "one");
    dir.write("b.txt", "two");
    let mut hangs = request(&dir, true);
    hangs.worker_command = vec!["sleep".into(), "30".into()];
    hangs.options.timeout_s = 0.3;
    let started = std::time::Instant::now();
    let summary = extract::run(&hangs, &Progress::new()).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(summary.errors.len(), 2);
    assert!(summary.errors.iter().all(|e| e.error.starts_with("timed out after 0.3 s")));
    let mut crashes = request(&dir, true);
    crashes.worker_command = vec!["false".into()];
    let summary = extract::run(&crashes, &Progress::new()).unwrap();
    assert!(
        summary.errors.iter().all(|e| e.error.starts_with("the parser crashed")),
        "{summary:?}"
    );
    // Dying before any answer, again and again, is a broken command, not bad files.
    dir.write("c.txt", "three");
    dir.write("d.txt", "four");
    crashes.threads = 1;
    let err = extract::run(&crashes, &Progress::new()).unwrap_err();
    assert!(err.to_string().contains("3 new parser processes in a row exited"), "{err}");
}

#[test]
fn a_missing_worker_program_fails_the_run_as_transient_and_options_are_checked() {
    let dir = Dir::new();
    dir.write("a.txt", "one");
    let mut missing = request(&dir, true);
    missing.worker_command = vec!["/nonexistent/worker".into()];
    let err = extract::run(&missing, &Progress::new()).unwrap_err();
    assert!(matches!(err, Error::Transient { .. }), "{err}");
    let mut bad = request(&dir, true);
    bad.options.timeout_s = 0.0;
    assert!(matches!(extract::run(&bad, &Progress::new()), Err(Error::InvalidParameter { .. })));
}
