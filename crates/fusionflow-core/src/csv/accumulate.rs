//! Per-group accumulators: small, exact where it matters, and mergeable.

use serde::{Deserialize, Serialize};

use crate::csv::distinct::Distinct;
use crate::csv::Op;

/// A value's parse as a number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// Fits in an i64.
    Int(i64),
    /// Any other number.
    Float(f64),
}

/// Parses a field as a number; `None` if it is not one. Surrounding ASCII
/// spaces are ignored.
pub fn parse_number(field: &[u8]) -> Option<Number> {
    let text = std::str::from_utf8(field.trim_ascii()).ok()?;
    if let Ok(int) = text.parse::<i64>() {
        return Some(Number::Int(int));
    }
    // Rust also accepts "inf"/"NaN"; data sets spell missing values that way,
    // and a NaN would poison every mean, so they are not numbers here.
    let float = text.parse::<f64>().ok()?;
    float.is_finite().then_some(Number::Float(float))
}

/// A compensated float sum (Neumaier), exact integer sum kept apart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sum {
    /// Exact sum of the integer values.
    pub int: i128,
    /// Sum of the float values.
    pub float: f64,
    /// Neumaier compensation of `float`.
    pub compensation: f64,
    /// Whether any value was a float (then the result is a float).
    pub any_float: bool,
    /// Values added.
    pub count: u64,
}

impl Sum {
    pub(crate) fn add(&mut self, value: Number) {
        self.count += 1;
        match value {
            Number::Int(i) => self.int += i128::from(i),
            Number::Float(f) => {
                self.any_float = true;
                self.add_float(f);
            }
        }
    }

    fn add_float(&mut self, f: f64) {
        let total = self.float + f;
        if self.float.abs() >= f.abs() {
            self.compensation += (self.float - total) + f;
        } else {
            self.compensation += (f - total) + self.float;
        }
        self.float = total;
    }

    pub(crate) fn merge(&mut self, other: &Sum) {
        self.count += other.count;
        self.int += other.int;
        self.any_float |= other.any_float;
        self.add_float(other.float);
        self.compensation += other.compensation;
    }

    /// The sum as a float.
    pub fn total(&self) -> f64 {
        self.int as f64 + (self.float + self.compensation)
    }
}

/// Smallest or largest value: numerically while every value is a number,
/// byte-wise as soon as one is not (both are tracked, so merging is exact).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Extreme {
    /// Extreme integer value.
    pub int: Option<i64>,
    /// Extreme float value.
    pub float: Option<f64>,
    /// Extreme value compared as bytes.
    pub text: Option<Vec<u8>>,
    /// Whether a value that is not a number was seen.
    pub any_text: bool,
}

impl Extreme {
    pub(crate) fn add(&mut self, field: &[u8], number: Option<Number>, max: bool) {
        let better = |new: &[u8], old: &[u8]| if max { new > old } else { new < old };
        match &mut self.text {
            Some(old) if !better(field, old) => {}
            slot => *slot = Some(field.to_vec()),
        }
        match number {
            Some(Number::Int(i)) => {
                self.int =
                    Some(self.int.map_or(i, |old| if max { old.max(i) } else { old.min(i) }));
            }
            Some(Number::Float(f)) => {
                self.float =
                    Some(self.float.map_or(f, |old| if max { old.max(f) } else { old.min(f) }));
            }
            None => self.any_text = true,
        }
    }

    pub(crate) fn merge(&mut self, other: &Extreme, max: bool) {
        if let Some(text) = &other.text {
            self.add_text_only(text, max);
        }
        if let Some(i) = other.int {
            self.int = Some(self.int.map_or(i, |old| if max { old.max(i) } else { old.min(i) }));
        }
        if let Some(f) = other.float {
            self.float =
                Some(self.float.map_or(f, |old| if max { old.max(f) } else { old.min(f) }));
        }
        self.any_text |= other.any_text;
    }

    fn add_text_only(&mut self, field: &[u8], max: bool) {
        let keep_old =
            self.text.as_deref().is_some_and(|old| if max { old >= field } else { old <= field });
        if !keep_old {
            self.text = Some(field.to_vec());
        }
    }

    /// The result as a CSV field.
    pub fn render(&self, max: bool) -> Vec<u8> {
        if self.any_text {
            return self.text.clone().unwrap_or_default();
        }
        match (self.int, self.float) {
            (Some(i), None) => i.to_string().into_bytes(),
            (None, Some(f)) => render_float(f),
            (Some(i), Some(f)) => {
                let pick_int = if max { i as f64 >= f } else { i as f64 <= f };
                if pick_int {
                    i.to_string().into_bytes()
                } else {
                    render_float(f)
                }
            }
            (None, None) => Vec::new(),
        }
    }
}

/// Floats print as the shortest text that reads back to the same value
/// (Rust's `Display`), with no negative zero.
pub fn render_float(f: f64) -> Vec<u8> {
    let f = if f == 0.0 { 0.0 } else { f };
    format!("{f}").into_bytes()
}

/// The running state of one metric in one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Accumulator {
    /// Rows, or non-null values of a column.
    Count(u64),
    /// Sum of a numeric column.
    Sum(Sum),
    /// Mean of a numeric column (a sum and a count).
    Mean(Sum),
    /// Smallest value.
    Min(Extreme),
    /// Largest value.
    Max(Extreme),
    /// Null (empty or missing) values.
    NullCount(u64),
    /// Distinct non-null values.
    CountDistinct(Distinct),
}

impl Accumulator {
    /// A fresh accumulator for `op`.
    pub fn new(op: Op) -> Self {
        match op {
            Op::Count => Accumulator::Count(0),
            Op::Sum => Accumulator::Sum(Sum::default()),
            Op::Mean => Accumulator::Mean(Sum::default()),
            Op::Min => Accumulator::Min(Extreme::default()),
            Op::Max => Accumulator::Max(Extreme::default()),
            Op::NullCount => Accumulator::NullCount(0),
            Op::CountDistinct => Accumulator::CountDistinct(Distinct::default()),
        }
    }

    /// Adds one row's value: `None` for a null, with its number parse when
    /// the metric needs one (already validated by the caller).
    #[allow(clippy::match_same_arms)] // the guarded arm cannot join the others
    pub fn add(&mut self, field: Option<&[u8]>, number: Option<Number>, counts_rows: bool) {
        match (self, field) {
            (Accumulator::Count(n), Some(_)) => *n += 1,
            (Accumulator::Count(n), None) if counts_rows => *n += 1,
            (Accumulator::NullCount(n), None) => *n += 1,
            (Accumulator::Sum(s) | Accumulator::Mean(s), Some(_)) => {
                if let Some(number) = number {
                    s.add(number);
                }
            }
            (Accumulator::Min(e), Some(field)) => e.add(field, number, false),
            (Accumulator::Max(e), Some(field)) => e.add(field, number, true),
            (Accumulator::CountDistinct(d), Some(field)) => d.add(field),
            _ => {}
        }
    }

    /// Folds `other` (the same metric) into this one.
    pub fn merge(&mut self, other: &Accumulator) {
        match (self, other) {
            (Accumulator::Count(a), Accumulator::Count(b))
            | (Accumulator::NullCount(a), Accumulator::NullCount(b)) => *a += b,
            (Accumulator::Sum(a), Accumulator::Sum(b))
            | (Accumulator::Mean(a), Accumulator::Mean(b)) => a.merge(b),
            (Accumulator::Min(a), Accumulator::Min(b)) => a.merge(b, false),
            (Accumulator::Max(a), Accumulator::Max(b)) => a.merge(b, true),
            (Accumulator::CountDistinct(a), Accumulator::CountDistinct(b)) => a.merge(b),
            (a, b) => unreachable!("merging different metrics: {a:?} and {b:?}"),
        }
    }

    /// The result as a CSV field (empty for no value).
    pub fn render(&self) -> Vec<u8> {
        match self {
            Accumulator::Count(n) | Accumulator::NullCount(n) => n.to_string().into_bytes(),
            Accumulator::Sum(s) if s.any_float => render_float(s.total()),
            Accumulator::Sum(s) => s.int.to_string().into_bytes(),
            Accumulator::Mean(s) if s.count == 0 => Vec::new(),
            Accumulator::Mean(s) => render_float(s.total() / s.count as f64),
            Accumulator::Min(e) => e.render(false),
            Accumulator::Max(e) => e.render(true),
            Accumulator::CountDistinct(d) => d.count().to_string().into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_strictly() {
        assert_eq!(parse_number(b" 42 "), Some(Number::Int(42)));
        assert_eq!(parse_number(b"-1.5"), Some(Number::Float(-1.5)));
        assert_eq!(parse_number(b"1e3"), Some(Number::Float(1000.0)));
        assert_eq!(parse_number(b"12abc"), None);
        assert_eq!(parse_number(b"NaN"), None);
        assert_eq!(parse_number(b"inf"), None);
        assert_eq!(parse_number(b"\xff"), None);
    }

    #[test]
    fn integer_sums_are_exact_beyond_i64() {
        let mut sum = Accumulator::new(Op::Sum);
        for _ in 0..4 {
            sum.add(Some(b"9223372036854775807"), Some(Number::Int(i64::MAX)), false);
        }
        assert_eq!(sum.render(), b"36893488147419103228");
    }

    #[test]
    fn float_sums_are_compensated() {
        let mut sum = Accumulator::new(Op::Sum);
        for value in [1e16, 1.0, -1e16, 1.0] {
            sum.add(Some(b"x"), Some(Number::Float(value)), false);
        }
        assert_eq!(sum.render(), b"2");
    }

    #[test]
    fn min_max_are_numeric_until_text_appears() {
        let mut max = Accumulator::new(Op::Max);
        for field in [&b"9"[..], b"10", b"2.5"] {
            max.add(Some(field), parse_number(field), false);
        }
        assert_eq!(max.render(), b"10");
        max.add(Some(b"abc"), None, false);
        assert_eq!(max.render(), b"abc");
    }

    #[test]
    fn merge_equals_adding_everything_to_one() {
        let values: Vec<&[u8]> = vec![b"3", b"", b"1.25", b"7", b"x", b"-2"];
        for op in [Op::Count, Op::Sum, Op::Mean, Op::Min, Op::Max, Op::NullCount, Op::CountDistinct]
        {
            let add = |acc: &mut Accumulator, v: &[u8]| {
                let field = (!v.is_empty()).then_some(v);
                let number = if matches!(op, Op::Sum | Op::Mean) {
                    parse_number(v)
                } else {
                    field.and_then(parse_number)
                };
                acc.add(field, number, false);
            };
            let mut whole = Accumulator::new(op);
            let (mut left, mut right) = (Accumulator::new(op), Accumulator::new(op));
            for (i, v) in values.iter().enumerate() {
                add(&mut whole, v);
                add(if i < 3 { &mut left } else { &mut right }, v);
            }
            left.merge(&right);
            assert_eq!(left.render(), whole.render(), "{op:?}");
        }
    }
}
