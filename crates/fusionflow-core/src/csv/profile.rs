//! Per-column profiles, for a data set nobody has looked at yet.

use serde::{Deserialize, Serialize};

use crate::csv::accumulate::{parse_number, render_float, Extreme, Number, Sum};
use crate::csv::distinct::Distinct;

/// What the values of a column look like, so far. Mergeable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    /// Non-null values.
    pub values: u64,
    /// Values that are not integers.
    pub not_int: u64,
    /// Values that are not numbers.
    pub not_number: u64,
    /// Values that are not `true`/`false`.
    pub not_bool: u64,
    /// Values that are not `YYYY-MM-DD` dates.
    pub not_date: u64,
    /// Smallest value.
    pub min: Extreme,
    /// Largest value.
    pub max: Extreme,
    /// Sum of the numeric values.
    pub sum: Sum,
    /// Distinct values.
    pub distinct: Distinct,
}

/// A finished profile, as written to `summary.json` and `aggregate.csv`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColumnReport {
    /// Column name.
    pub column: String,
    /// `int`, `float`, `bool`, `date` or `string` (`string` when all null).
    pub inferred_type: &'static str,
    /// Rows in the data set (files lacking the column count as nulls).
    pub rows: u64,
    /// Null (empty or missing) values.
    pub nulls: u64,
    /// Smallest value.
    pub min: String,
    /// Largest value.
    pub max: String,
    /// Mean, for numeric columns.
    pub mean: Option<f64>,
    /// Distinct non-null values.
    pub distinct: u64,
    /// Whether `distinct` is an estimate.
    pub distinct_estimated: bool,
}

impl ColumnProfile {
    /// Adds one non-null value.
    pub fn add(&mut self, field: &[u8]) {
        self.values += 1;
        let number = parse_number(field);
        match number {
            Some(Number::Int(_)) => {}
            Some(Number::Decimal { .. } | Number::Float(_)) => self.not_int += 1,
            None => {
                self.not_int += 1;
                self.not_number += 1;
            }
        }
        let trimmed = field.trim_ascii();
        if !(trimmed.eq_ignore_ascii_case(b"true") || trimmed.eq_ignore_ascii_case(b"false")) {
            self.not_bool += 1;
        }
        if !is_date(trimmed) {
            self.not_date += 1;
        }
        self.min.add(field, number, false);
        self.max.add(field, number, true);
        if let Some(number) = number {
            self.sum.add(number);
        }
        self.distinct.add(field);
    }

    /// Folds `other` into this one.
    pub fn merge(&mut self, other: &ColumnProfile) {
        self.values += other.values;
        self.not_int += other.not_int;
        self.not_number += other.not_number;
        self.not_bool += other.not_bool;
        self.not_date += other.not_date;
        self.min.merge(&other.min, false);
        self.max.merge(&other.max, true);
        self.sum.merge(&other.sum);
        self.distinct.merge(&other.distinct);
    }

    /// The report, given the number of rows in the whole data set.
    pub fn report(&self, column: &str, rows: u64) -> ColumnReport {
        let inferred_type = match self {
            p if p.values == 0 => "string",
            p if p.not_bool == 0 => "bool",
            p if p.not_int == 0 => "int",
            p if p.not_number == 0 => "float",
            p if p.not_date == 0 => "date",
            _ => "string",
        };
        let numeric = matches!(inferred_type, "int" | "float");
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        ColumnReport {
            column: column.to_owned(),
            inferred_type,
            rows,
            // Never more values than rows (names are distinct); saturating all the same,
            // as a wrapped count would be a number silently wrong.
            nulls: rows.saturating_sub(self.values),
            min: text(self.min.render(false)),
            max: text(self.max.render(true)),
            mean: (numeric && self.sum.count > 0).then(|| self.sum.total() / self.sum.count as f64),
            distinct: self.distinct.count(),
            distinct_estimated: self.distinct.is_estimate(),
        }
    }
}

impl ColumnReport {
    /// The report as CSV fields, in the order of [`ColumnReport::HEADER`].
    pub fn fields(&self) -> Vec<Vec<u8>> {
        vec![
            self.column.clone().into_bytes(),
            self.inferred_type.as_bytes().to_vec(),
            self.rows.to_string().into_bytes(),
            self.nulls.to_string().into_bytes(),
            self.min.clone().into_bytes(),
            self.max.clone().into_bytes(),
            self.mean.map(render_float).unwrap_or_default(),
            self.distinct.to_string().into_bytes(),
        ]
    }

    /// Column names of the profile table.
    pub const HEADER: [&'static str; 8] =
        ["column", "type", "rows", "nulls", "min", "max", "mean", "distinct"];
}

fn is_date(field: &[u8]) -> bool {
    let digits = |range: std::ops::Range<usize>| field[range].iter().all(u8::is_ascii_digit);
    if field.len() != 10 || field[4] != b'-' || field[7] != b'-' {
        return false;
    }
    if !(digits(0..4) && digits(5..7) && digits(8..10)) {
        return false;
    }
    let two = |at: usize| (field[at] - b'0') * 10 + (field[at + 1] - b'0');
    (1..=12).contains(&two(5)) && (1..=31).contains(&two(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(values: &[&str]) -> ColumnReport {
        let mut profile = ColumnProfile::default();
        for v in values.iter().filter(|v| !v.is_empty()) {
            profile.add(v.as_bytes());
        }
        profile.report("c", values.len() as u64)
    }

    #[test]
    fn infers_types_and_summarises() {
        let ints = profile(&["3", "", "-1", "10"]);
        assert_eq!(
            (ints.inferred_type, ints.nulls, ints.min.as_str(), ints.max.as_str()),
            ("int", 1, "-1", "10")
        );
        assert_eq!(ints.mean, Some(4.0));
        assert_eq!(profile(&["1.5", "2"]).inferred_type, "float");
        assert_eq!(profile(&["true", "FALSE"]).inferred_type, "bool");
        assert_eq!(profile(&["2024-02-29", "2024-13-01"]).inferred_type, "string");
        let dates = profile(&["2024-02-29", "2023-12-31"]);
        assert_eq!(
            (dates.inferred_type, dates.min.as_str(), dates.mean),
            ("date", "2023-12-31", None)
        );
        assert_eq!(profile(&["", ""]).inferred_type, "string");
    }
}
