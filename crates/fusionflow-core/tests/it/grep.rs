use fusionflow_core::grep::{self, BinaryPolicy, OutputFormat};
use fusionflow_core::{Error, Progress};
use proptest::prelude::*;

use crate::testutil::{exists, gzip, Dir};

const LOG: &str = "\
2026-01-01 INFO start
2026-01-01 ERROR disk full
2026-01-01 warn error_count=0
2026-01-01 FATAL out of memory
2026-01-01 INFO ERRORS are counted
";

#[test]
fn finds_every_pattern_and_writes_grep_hn_lines() {
    let dir = Dir::new();
    dir.write("a.log", LOG);
    dir.write("b/c.log", "nothing here\n");
    let (summary, text) = dir.run(&dir.request(&["ERROR", "FATAL"]));
    assert_eq!(
        text,
        "a.log:2:2026-01-01 ERROR disk full\n\
         a.log:4:2026-01-01 FATAL out of memory\n\
         a.log:5:2026-01-01 INFO ERRORS are counted\n"
    );
    assert_eq!((summary.files_total, summary.files_scanned, summary.files_matched), (2, 2, 1));
    assert_eq!(summary.matches, 3);
    assert_eq!(summary.bytes_scanned, (LOG.len() + 13) as u64);
    assert_eq!(summary.per_file.values().copied().collect::<Vec<_>>(), [3]);
}

#[test]
fn counts_matching_lines_per_pattern() {
    let dir = Dir::new();
    dir.write("a.log", LOG);
    dir.write("b.log", "ERROR and FATAL on one line\n");
    let (summary, _) = dir.run(&dir.request(&["ERROR", "FATAL", "absent"]));
    let per_pattern: Vec<(&str, u64)> =
        summary.per_pattern.iter().map(|(p, n)| (p.as_str(), *n)).collect();
    // A line with both patterns counts for both; the lines themselves are counted once.
    assert_eq!(per_pattern, [("ERROR", 3), ("FATAL", 2), ("absent", 0)]);
    assert_eq!(summary.matches, 4);
    let mut inverted = dir.request(&["ERROR"]);
    inverted.grep.invert = true;
    assert!(dir.run(&inverted).0.per_pattern.is_empty(), "invert selects no pattern's lines");
}

#[test]
fn ignore_case_word_fixed_strings_invert_and_max_matches() {
    let dir = Dir::new();
    dir.write("a.log", LOG);
    let count = |f: &dyn Fn(&mut grep::GrepRequest)| {
        let mut request = dir.request(&["error"]);
        f(&mut request);
        dir.run(&request).0.matches
    };
    assert_eq!(count(&|_| {}), 1, "case-sensitive: only error_count");
    assert_eq!(count(&|r| r.grep.ignore_case = true), 3);
    assert_eq!(count(&|r| (r.grep.ignore_case, r.grep.word) = (true, true)), 1);
    assert_eq!(count(&|r| r.grep.invert = true), 4);
    assert_eq!(count(&|r| (r.grep.ignore_case, r.grep.max_matches_per_file) = (true, Some(2))), 2);
    let mut request = dir.request(&["count=0", "of.memory"]);
    request.grep.fixed_strings = true;
    assert_eq!(dir.run(&request).0.matches, 1, "the dot is literal");
}

#[test]
fn context_lines_and_group_separators_like_grep() {
    let dir = Dir::new();
    dir.write("a.log", "1\n2\nERROR 3\n4\n5\n6\n7\nERROR 8\n9\n");
    dir.write("b.log", "ERROR b1\n");
    let mut request = dir.request(&["ERROR"]);
    (request.grep.before_context, request.grep.after_context) = (1, 1);
    let (summary, text) = dir.run(&request);
    assert_eq!(summary.matches, 3);
    assert_eq!(
        text,
        "a.log-2-2\na.log:3:ERROR 3\na.log-4-4\n--\na.log-7-7\na.log:8:ERROR 8\na.log-9-9\n\
         --\nb.log:1:ERROR b1\n"
    );
}

#[test]
fn jsonl_records_are_valid_json_even_for_invalid_utf8() {
    let dir = Dir::new();
    dir.write("a.log", b"ok\nERROR caf\xe9 \"quoted\"\n");
    let mut request = dir.request(&["ERROR"]);
    request.format = OutputFormat::Jsonl;
    let (summary, text) = dir.run(&request);
    assert_eq!(summary.output, "matches.jsonl");
    let record: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(record["line_number"], 2);
    assert_eq!(record["line"], "ERROR caf\u{fffd} \"quoted\"");
    assert_eq!(record["kind"], "match");
    assert!(record["path"].as_str().unwrap().ends_with("a.log"));
}

#[test]
fn invalid_utf8_is_searched_and_written_byte_for_byte() {
    let dir = Dir::new();
    dir.write("latin1.log", b"\xe9t\xe9 \xff garbage\nERROR \xe9t\xe9\n");
    let summary = grep::run(&dir.request(&["ERROR"]), &Progress::new()).unwrap();
    assert_eq!(summary.matches, 1);
    let bytes = std::fs::read(dir.output().join("matches.txt")).unwrap();
    assert!(bytes.ends_with(b":2:ERROR \xe9t\xe9\n"));
}

#[test]
fn utf16_files_with_a_bom_are_transcoded_like_ripgrep_does() {
    let dir = Dir::new();
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend("ok\nERROR wide\n".encode_utf16().flat_map(u16::to_le_bytes));
    dir.write("windows.log", utf16);
    let (summary, text) = dir.run(&dir.request(&["ERROR"]));
    assert_eq!(summary.matches, 1);
    assert_eq!(text, "windows.log:2:ERROR wide\n");
}

#[test]
fn compressed_inputs_are_searched_transparently() {
    let dir = Dir::new();
    let mut multi = gzip(b"ERROR one\n");
    multi.extend(gzip(b"ERROR two\n"));
    dir.write("multi.log.gz", multi);
    dir.write("a.log.zst", zstd::encode_all(LOG.as_bytes(), 3).unwrap());
    let (summary, text) = dir.run(&dir.request(&["ERROR"]));
    assert_eq!(summary.matches, 2 + 2);
    assert!(text.contains("multi.log.gz:2:ERROR two"), "{text}");
    assert_eq!(summary.bytes_searched, (20 + LOG.len()) as u64);
}

#[test]
fn logs_with_nul_holes_are_searched_and_binaries_skipped_whole() {
    let dir = Dir::new();
    // A log with a NUL hole from a crash: matches on both sides of it.
    let mut crashed = b"ERROR before\n".to_vec();
    crashed.extend([0u8; 4096]);
    crashed.extend(b"\nERROR after\n");
    dir.write("crashed.log", &crashed);
    dir.write("clean.log", "ERROR clean\n");
    // A binary: a NUL, then bytes of every value.
    let mut binary = b"ERROR in a header\0".to_vec();
    binary.extend((0..=255u8).cycle().take(64 << 10));
    dir.write("core.bin", &binary);

    let (summary, text) = dir.run(&dir.request(&["ERROR"]));
    assert_eq!(summary.matches, 3, "{text}");
    assert!(text.contains("crashed.log:3:ERROR after"), "{text}");
    assert_eq!(summary.nul_ranges.len(), 1);
    assert!(summary.nul_ranges[0].path.ends_with("crashed.log"));
    assert_eq!(summary.nul_ranges[0].ranges, [[13, 13 + 4096]]);
    assert_eq!(summary.skipped_binary.len(), 1, "no half-searched file");
    assert!(summary.skipped_binary[0].path.ends_with("core.bin"));
    assert_eq!(summary.skipped_binary[0].offset, 17);
    assert_eq!(summary.files_scanned + summary.skipped_binary.len() as u64, summary.files_total);

    let mut request = dir.request(&["ERROR"]);
    request.grep.binary = BinaryPolicy::Skip;
    let (summary, text) = dir.run(&request);
    assert_eq!(text, "clean.log:1:ERROR clean\n", "no half-searched file");
    assert_eq!(summary.skipped_binary.len(), 2);
    assert_eq!(summary.skipped_binary[1].offset, 13);
    assert!(summary.nul_ranges.is_empty());

    request.grep.binary = BinaryPolicy::Text;
    let (summary, text) = dir.run(&request);
    assert_eq!(summary.matches, 4, "{text}");
    assert!(summary.skipped_binary.is_empty());
    assert_eq!(summary.nul_ranges.len(), 2);
}

#[test]
fn huge_lines_match_and_over_long_lines_are_searched_in_their_first_bytes() {
    let dir = Dir::new();
    let mut long = format!("ERROR at the start {}", "x".repeat(5 << 20));
    long.push_str(" ERROR at the end\nERROR after it\n");
    dir.write("long.log", &long);
    dir.write("ok.log", "ERROR fine\n");
    let (summary, _) = dir.run(&dir.request(&["ERROR"]));
    assert_eq!(summary.matches, 3);
    assert!(summary.long_lines.is_empty());

    // Over max_line_bytes, a line is searched in its first max_line_bytes (rg would
    // search all of it), and the file goes on: the line after it is found.
    let mut request = dir.request(&["ERROR"]);
    request.grep.max_line_bytes = 1 << 20;
    let (summary, text) = dir.run(&request);
    let lines: Vec<&str> = text.lines().map(|l| &l[..l.len().min(40)]).collect();
    assert_eq!(
        lines,
        [
            "long.log:1:ERROR at the start xxxxxxxxxx",
            "long.log:2:ERROR after it",
            "ok.log:1:ERROR fine"
        ]
    );
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!(summary.long_lines.len(), 1);
    assert!(summary.long_lines[0].path.ends_with("long.log"));
    assert_eq!(summary.long_lines[0].lines, 1);
    assert_eq!(
        summary.long_lines[0].bytes_not_searched,
        long.find('\n').unwrap() as u64 - (1 << 20)
    );
    assert_eq!(summary.files_scanned, summary.files_total);
}

#[test]
fn a_corrupt_file_is_a_per_file_error_and_the_run_goes_on() {
    let dir = Dir::new();
    dir.write("bad.log.gz", "not gzip");
    dir.write("good.log", "ERROR ok\n");
    let (summary, text) = dir.run(&dir.request(&["ERROR"]));
    assert_eq!(text, "good.log:1:ERROR ok\n");
    assert_eq!(summary.errors.len(), 1);
    assert!(summary.errors[0].path.ends_with("bad.log.gz"));
}

#[test]
fn output_is_identical_whatever_the_thread_count() {
    let dir = Dir::new();
    for i in 0..200 {
        let level = |j: usize| if (i + j) % 7 == 0 { "ERROR" } else { "ok" };
        let body = (0..50).map(|j| format!("line {j} {}\n", level(j))).collect::<Vec<_>>().concat();
        dir.write(&format!("d{}/f{i}.log", i % 5), body);
    }
    let mut outputs = Vec::new();
    for threads in [1, 2, 4] {
        let mut request = dir.request(&["ERROR"]);
        request.threads = threads;
        outputs.push(dir.run(&request).1);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
    assert!(outputs[0].lines().count() > 1000);
}

#[test]
fn bad_regex_is_an_invalid_parameter_naming_it() {
    let dir = Dir::new();
    dir.write("a.log", LOG);
    let err = grep::run(&dir.request(&["ERROR", "(unclosed"]), &Progress::new()).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { ref name, .. } if name == "patterns"), "{err}");
    assert_eq!(err.to_string(), "invalid parameter `patterns`: \"(unclosed\": unclosed group");
    let err = grep::run(&dir.request(&[]), &Progress::new()).unwrap_err();
    assert!(err.to_string().contains("at least one pattern"), "{err}");
}

#[test]
fn cancelled_run_fails_and_leaves_no_output() {
    let dir = Dir::new();
    dir.write("a.log", LOG);
    let progress = Progress::new();
    progress.cancel();
    let err = grep::run(&dir.request(&["ERROR"]), &progress).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(!exists(&dir.output().join("matches.txt")));
    assert!(!exists(&dir.output().join("matches.txt.partial")));
}

#[test]
fn progress_reaches_the_plan() {
    let dir = Dir::new();
    dir.write("a.log", LOG);
    dir.write("b.log.gz", gzip(LOG.as_bytes()));
    let progress = Progress::new();
    grep::run(&dir.request(&["ERROR"]), &progress).unwrap();
    let snapshot = progress.snapshot();
    assert_eq!(snapshot.files_done, snapshot.files_total);
    assert_eq!(snapshot.bytes_done, snapshot.bytes_total);
    assert_eq!(snapshot.files_total, 2);
}

/// The reference: which lines contain any of the literals, under the options.
fn reference(lines: &[String], literals: &[String], ignore_case: bool, invert: bool) -> Vec<usize> {
    let fold = |s: &str| if ignore_case { s.to_lowercase() } else { s.to_owned() };
    (0..lines.len())
        .filter(|&i| literals.iter().any(|l| fold(&lines[i]).contains(&fold(l))) != invert)
        .map(|i| i + 1)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn agrees_with_a_reference_matcher(
        lines in prop::collection::vec("[abAB .*]{0,12}", 0..40),
        literals in prop::collection::vec("[abAB.*]{1,3}", 1..3),
        ignore_case: bool,
        invert: bool,
    ) {
        let dir = Dir::new();
        let body = lines.iter().map(|l| l.clone() + "\n").collect::<String>();
        dir.write("p.txt", &body);
        let mut request = dir.request(&[]);
        request.grep.patterns.clone_from(&literals);
        (request.grep.fixed_strings, request.grep.ignore_case, request.grep.invert) = (true, ignore_case, invert);
        let (summary, text) = dir.run(&request);
        let found: Vec<usize> = text.lines().map(|l| l.split(':').nth(1).unwrap().parse().unwrap()).collect();
        let expected = reference(&lines, &literals, ignore_case, invert);
        prop_assert_eq!(summary.matches as usize, expected.len());
        prop_assert_eq!(found, expected);
    }
}

/// Splits the listed inputs into consecutive shards, runs each on its exact
/// files, and concatenates: the bytes equal one whole run's.
#[test]
fn shards_concatenated_equal_one_run_with_context_separators() {
    let dir = Dir::new();
    for (name, text) in [("a.log", "1\nERROR a\n3\n"), ("b.log", "none\n"), ("c.log", "ERROR c\n")]
    {
        dir.write(name, text);
    }
    dir.write("d.log", "x\nERROR d\n");
    let mut whole = dir.request(&["ERROR"]);
    (whole.grep.before_context, whole.grep.after_context) = (1, 1);
    let (_, expected) = dir.run(&whole);

    let files = fusionflow_core::walk::discover(&whole.inputs, &whole.walk, 1).unwrap().files;
    let mut parts = Vec::new();
    for (i, shard) in files.chunks(2).enumerate() {
        let mut request = whole.clone();
        request.inputs = shard.iter().map(|f| f.path.clone()).collect();
        request.walk.exact = true;
        request.output_dir = dir.tmp.path().join(format!("part{i}"));
        grep::run(&request, &Progress::new()).unwrap();
        parts.push(request.output_dir.join("matches.txt"));
    }
    let joined = dir.tmp.path().join("joined.txt");
    let written = grep::concat_parts(&parts, &joined, true).unwrap();
    let text = std::fs::read_to_string(&joined).unwrap();
    assert_eq!(written, text.len() as u64);
    let prefix = format!("{}/", dir.input().display());
    assert_eq!(text.replace(&prefix, ""), expected);
    assert!(expected.contains("--\n"), "the test covers a separator at a shard boundary");
}

#[test]
fn exact_inputs_are_not_walked_and_a_vanished_file_is_a_per_file_error() {
    let dir = Dir::new();
    let kept = dir.write("a.log", "ERROR a\n");
    let mut request = dir.request(&["ERROR"]);
    request.inputs = vec![kept, dir.input().join("gone.log")];
    request.walk.exact = true;
    let (summary, text) = dir.run(&request);
    assert_eq!(text, "a.log:1:ERROR a\n");
    assert_eq!(summary.files_total, 2);
    assert_eq!(summary.errors.len(), 1);
    assert!(summary.errors[0].path.ends_with("gone.log"));
}
