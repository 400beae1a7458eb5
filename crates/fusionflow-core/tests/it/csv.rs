use fusionflow_core::csv::{self, AggregateRequest, Metric, OnBadRows, Op, Partial};
use fusionflow_core::{Error, Progress};
use proptest::prelude::*;

use crate::testutil::{gzip, Dir};

fn metric(op: Op, column: &str) -> Metric {
    Metric { op, column: (!column.is_empty()).then(|| column.to_owned()) }
}

fn request(dir: &Dir, group_by: &[&str], metrics: Vec<Metric>) -> AggregateRequest {
    AggregateRequest {
        inputs: vec![dir.input()],
        options: csv::AggregateOptions {
            group_by: group_by.iter().map(|c| (*c).to_owned()).collect(),
            metrics,
            ..Default::default()
        },
        output_dir: dir.output(),
        threads: 2,
        ..Default::default()
    }
}

fn run(dir: &Dir, request: &AggregateRequest) -> (csv::AggregateSummary, String) {
    let summary = csv::run(request, &Progress::new()).unwrap();
    (summary, std::fs::read_to_string(dir.output().join("aggregate.csv")).unwrap())
}

fn sales_metrics() -> Vec<Metric> {
    vec![
        metric(Op::Count, ""),
        metric(Op::Sum, "quantity"),
        metric(Op::Mean, "price"),
        metric(Op::Min, "price"),
        metric(Op::Max, "product"),
        metric(Op::NullCount, "price"),
    ]
}

#[test]
fn groups_and_metrics_across_files_sorted_by_key() {
    let dir = Dir::new();
    dir.write("a.csv", "region,product,quantity,price\nnorth,apple,3,1.5\nsouth,pear,2,\n");
    dir.write("b/c.csv.gz", gzip(b"region,product,quantity,price\nnorth,\"fig, dried\",10,2.5\n"));
    let (summary, text) = run(&dir, &request(&dir, &["region"], sales_metrics()));
    assert_eq!(
        text,
        "region,count,sum_quantity,mean_price,min_price,max_product,null_count_price\n\
         north,2,13,2,1.5,\"fig, dried\",0\n\
         south,1,2,,,pear,1\n"
    );
    assert_eq!((summary.files_total, summary.rows, summary.bad_rows, summary.groups), (2, 3, 0, 2));
}

#[test]
fn numeric_keys_sort_as_numbers_and_nulls_last() {
    let dir = Dir::new();
    dir.write("a.csv", "k,v\n10,1\n9,1\n,1\n9,1\nb,1\n");
    let (_, text) = run(&dir, &request(&dir, &["k"], vec![]));
    assert_eq!(text, "k,count\n9,2\n10,1\nb,1\n,1\n");
}

#[test]
fn bad_rows_are_left_out_counted_and_located() {
    let dir = Dir::new();
    dir.write(
        "dirty.csv",
        "region,quantity\nnorth,1\nnorth,\"2\nsouth,4\nnorth,abc\nsouth,5,extra\nnorth,8\nsouth",
    );
    let (summary, text) = run(&dir, &request(&dir, &["region"], vec![metric(Op::Sum, "quantity")]));
    assert_eq!(text, "region,sum_quantity\nnorth,9\nsouth,4\n");
    assert_eq!((summary.rows, summary.bad_rows), (3, 4));
    let path = dir.input().join("dirty.csv").display().to_string();
    assert_eq!(
        summary.bad_row_samples,
        [
            format!("{path}:3: unclosed quote"),
            format!("{path}:5: not a number in column \"quantity\""),
            format!("{path}:6: expected 2 fields, found 3"),
            format!("{path}:8: expected 2 fields, found 1"),
        ]
    );
}

#[test]
fn fail_policy_stops_at_the_first_bad_row() {
    let dir = Dir::new();
    dir.write("a.csv", "x\n1\n");
    dir.write("b.csv", "x\n1\n2,3\n");
    let mut request = request(&dir, &[], vec![]);
    request.options.on_bad_rows = OnBadRows::Fail;
    let err = csv::run(&request, &Progress::new()).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
    assert!(err.to_string().contains("b.csv:3: expected 1 fields, found 2"), "{err}");
}

#[test]
fn missing_columns_are_nulls_and_reported_and_odd_files_are_fine() {
    let dir = Dir::new();
    dir.write("a.csv", "region,price\nnorth,1\n");
    dir.write("b.csv", "price,extra\n5,x\n");
    dir.write("empty.csv", "");
    dir.write("header-only.csv", "region,price\r\n");
    dir.write("bom.csv", "\u{feff}region,price\r\nnorth,2\r\n");
    let (summary, text) = run(&dir, &request(&dir, &["region"], vec![metric(Op::Sum, "price")]));
    assert_eq!(text, "region,sum_price\nnorth,3\n,5\n");
    assert_eq!(summary.columns_missing_in_some_files, ["extra", "region"]);
    assert_eq!(summary.files_total, 5);
    assert!(summary.errors.is_empty());
}

#[test]
fn output_is_identical_whatever_the_thread_count() {
    let dir = Dir::new();
    for f in 0..60 {
        let rows: String = (0..200)
            .map(|r| format!("g{},{}.{}\n", (f * 7 + r) % 13, r, f))
            .collect::<Vec<_>>()
            .concat();
        dir.write(&format!("part-{f:03}.csv"), format!("g,v\n{rows}"));
    }
    let mut outputs = Vec::new();
    for threads in [1, 2, 4] {
        let mut request = request(&dir, &["g"], vec![metric(Op::Sum, "v"), metric(Op::Mean, "v")]);
        request.threads = threads;
        outputs.push(run(&dir, &request).1);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
}

#[test]
fn invalid_metrics_are_rejected() {
    let dir = Dir::new();
    let err =
        csv::run(&request(&dir, &[], vec![metric(Op::Sum, "")]), &Progress::new()).unwrap_err();
    assert!(err.to_string().contains("sum needs a column"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random tables split into random files, aggregated whole or in shards
    /// merged afterwards, equal a direct computation.
    #[test]
    fn shards_merge_to_the_reference(
        rows in prop::collection::vec((0u8..4, -1000i64..1000), 0..200),
        cuts in prop::collection::vec(0usize..200, 0..6),
    ) {
        let dir = Dir::new();
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(rows.len())).collect();
        bounds.extend([0, rows.len()]);
        bounds.sort_unstable();
        for (i, pair) in bounds.windows(2).enumerate() {
            let body: String = rows[pair[0]..pair[1]].iter().map(|(k, v)| format!("k{k},{v}\n")).collect();
            dir.write(&format!("f{i:02}.csv"), format!("key,value\n{body}"));
        }
        let metrics = vec![metric(Op::Count, ""), metric(Op::Sum, "value"), metric(Op::Max, "value")];
        let whole = request(&dir, &["key"], metrics.clone());
        let (_, text) = run(&dir, &whole);

        let mut expected = std::collections::BTreeMap::<u8, (u64, i64, i64)>::new();
        for &(k, v) in &rows {
            let entry = expected.entry(k).or_insert((0, 0, i64::MIN));
            *entry = (entry.0 + 1, entry.1 + v, entry.2.max(v));
        }
        let reference: String = expected
            .iter()
            .map(|(k, (n, s, m))| format!("k{k},{n},{s},{m}\n"))
            .collect();
        prop_assert_eq!(&text, &format!("key,count,sum_value,max_value\n{reference}"));

        // The same files as shards, one per file, merged in order after a JSON round trip.
        let mut merged = Partial::default();
        let mut files: Vec<_> = std::fs::read_dir(dir.input()).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            let shard = AggregateRequest { inputs: vec![file], ..whole.clone() };
            let partial = csv::aggregate(&shard, &Progress::new()).unwrap();
            let partial: Partial = serde_json::from_str(&serde_json::to_string(&partial).unwrap()).unwrap();
            merged.merge(partial, 20);
        }
        csv::finish(&whole, merged).unwrap();
        let sharded = std::fs::read_to_string(dir.output().join("aggregate.csv")).unwrap();
        prop_assert_eq!(sharded, text);
    }
}

#[test]
fn delimiters_are_detected_per_file_and_latin1_is_transcoded() {
    let dir = Dir::new();
    dir.write("semi.csv", "city;amount\n\"Lyon; centre\";2\n");
    dir.write("tab.tsv", "city\tamount\nLyon\t3\n");
    dir.write("latin1.csv", b"city,amount\nZ\xfcrich,4\n");
    let mut request = request(&dir, &["city"], vec![metric(Op::Sum, "amount")]);
    request.options.encoding = Some("windows-1252".into());
    let (summary, text) = run(&dir, &request);
    assert_eq!(text, "city,sum_amount\nLyon,3\nLyon; centre,2\nZürich,4\n");
    assert_eq!(summary.bad_rows, 0);

    request.options.encoding = Some("klingon".into());
    let err = csv::run(&request, &Progress::new()).unwrap_err();
    assert!(err.to_string().contains("unknown encoding"), "{err}");
}

#[test]
fn without_groups_or_metrics_every_column_is_profiled() {
    let dir = Dir::new();
    dir.write(
        "a.csv",
        "id,price,day,ok,name\n1,2.5,2024-01-02,true,ann\n2,,2024-01-03,false,bob\n",
    );
    dir.write("b.csv", "id,name\n3,cy\n");
    let (summary, text) = run(&dir, &request(&dir, &[], vec![]));
    assert_eq!(
        text,
        "column,type,rows,nulls,min,max,mean,distinct\n\
         day,date,3,1,2024-01-02,2024-01-03,,2\n\
         id,int,3,0,1,3,2,3\n\
         name,string,3,0,ann,cy,,3\n\
         ok,bool,3,1,false,true,,2\n\
         price,float,3,2,2.5,2.5,2.5,1\n"
    );
    assert_eq!(summary.profile.len(), 5);
    assert_eq!(summary.profile[1].inferred_type, "int");
}

#[test]
fn a_100_mb_line_is_one_bad_row_read_in_bounded_memory() {
    let dir = Dir::new();
    let mut body = b"k,v\na,1\n".to_vec();
    body.extend(std::iter::repeat_n(b'x', 100 << 20));
    body.extend(b",2\na,3\n");
    dir.write("huge.csv", body);
    let (summary, text) = run(&dir, &request(&dir, &["k"], vec![metric(Op::Sum, "v")]));
    assert_eq!(text, "k,sum_v\na,4\n");
    assert_eq!(summary.bad_rows, 1);
    assert!(summary.bad_row_samples[0].ends_with(":3: row longer than 16777216 bytes"));
}

#[test]
fn parquet_output_has_typed_columns() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let dir = Dir::new();
    dir.write("a.csv", "region,quantity,price\nnorth,3,1.5\nsouth,2,\n");
    let mut request =
        request(&dir, &["region"], vec![metric(Op::Sum, "quantity"), metric(Op::Mean, "price")]);
    request.options.parquet = true;
    let (summary, _) = run(&dir, &request);
    assert_eq!(summary.parquet_output.as_deref(), Some("aggregate.parquet"));
    let file = std::fs::File::open(dir.output().join("aggregate.parquet")).unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let types: Vec<String> =
        batch.schema().fields().iter().map(|f| format!("{}:{}", f.name(), f.data_type())).collect();
    assert_eq!(types, ["region:Utf8", "sum_quantity:Int64", "mean_price:Float64"]);
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(batch.column(2).null_count(), 1, "south has no price");
}

#[test]
fn saved_partials_of_shards_finish_to_the_single_run() {
    let dir = Dir::new();
    for i in 0..5 {
        let rows: String = (0..20).map(|j| format!("{},{},{}.25\n", j % 3, i * j, j)).collect();
        dir.write(&format!("f{i}.csv"), format!("product,quantity,price\n{rows}"));
    }
    dir.write("f2b.csv", "product,quantity,price\n1,\"unclosed,2\n");
    let whole = request(&dir, &["product"], sales_metrics());
    let (expected_summary, expected) = run(&dir, &whole);

    let files = fusionflow_core::walk::discover(&whole.inputs, &whole.walk, 1).unwrap().files;
    let mut saved = Vec::new();
    for (i, shard) in files.chunks(2).enumerate() {
        let mut shard_request = whole.clone();
        shard_request.inputs = shard.iter().map(|f| f.path.clone()).collect();
        shard_request.walk.exact = true;
        let path = dir.tmp.path().join(format!("parts/{i}.json"));
        let summary = csv::save_partial(&shard_request, &Progress::new(), &path).unwrap();
        assert_eq!(summary.files_total, shard.len() as u64);
        saved.push(path);
    }
    let mut finish = whole.clone();
    finish.output_dir = dir.tmp.path().join("merged");
    let summary = csv::finish_saved(&finish, &saved).unwrap();
    let merged = std::fs::read_to_string(finish.output_dir.join("aggregate.csv")).unwrap();
    assert_eq!(merged, expected);
    assert_eq!(
        (summary.rows, summary.bad_rows),
        (expected_summary.rows, expected_summary.bad_rows)
    );
    assert_eq!(summary.bad_row_samples, expected_summary.bad_row_samples);
    assert_eq!(summary.files_total, expected_summary.files_total);
}
