//! `aggregate.parquet`: the result table, with a type per column.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Writes `rows` (fields as in `aggregate.csv`, empty for null) as Parquet.
/// A column is Int64 if every value is an integer, Float64 if every value is
/// a number, text otherwise.
pub fn write(path: &Path, header: &[String], rows: &[Vec<Vec<u8>>]) -> io::Result<()> {
    let texts = |i: usize| {
        rows.iter().map(move |row| {
            Some(row[i].as_slice()).filter(|f| !f.is_empty()).map(String::from_utf8_lossy)
        })
    };
    let mut fields = Vec::with_capacity(header.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(header.len());
    for (i, name) in header.iter().enumerate() {
        let ints: Option<Vec<Option<i64>>> = texts(i)
            .map(|t| t.map_or(Ok(None), |t| t.parse::<i64>().map(Some)))
            .collect::<Result<_, _>>()
            .ok();
        let floats: Option<Vec<Option<f64>>> = texts(i)
            .map(|t| t.map_or(Ok(None), |t| t.parse::<f64>().map(Some)))
            .collect::<Result<_, _>>()
            .ok();
        let (data_type, column): (DataType, ArrayRef) = match (ints, floats) {
            (Some(ints), _) => (DataType::Int64, Arc::new(Int64Array::from(ints))),
            (None, Some(floats)) => (DataType::Float64, Arc::new(Float64Array::from(floats))),
            (None, None) => (DataType::Utf8, Arc::new(texts(i).collect::<StringArray>())),
        };
        fields.push(Field::new(name, data_type, true));
        columns.push(column);
    }
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(io::Error::other)?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(File::create(path)?, batch.schema(), Some(properties))
        .map_err(io::Error::other)?;
    writer.write(&batch).map_err(io::Error::other)?;
    writer.close().map_err(io::Error::other)?;
    Ok(())
}
