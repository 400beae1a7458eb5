//! Per-group accumulators: small, exact where it matters, and mergeable.

use serde::{Deserialize, Serialize};

use crate::csv::distinct::Distinct;
use crate::csv::Op;

/// A value's parse as a number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An integer that fits in an i64.
    Int(i64),
    /// Plain decimal notation, exactly: `mantissa` x 10^-`scale`.
    Decimal {
        /// The digits, as an integer.
        mantissa: i64,
        /// Digits after the point (1 to 18).
        scale: u32,
    },
    /// Any other number (exponent notation, very long digits).
    Float(f64),
}

/// Parses a field as a number; `None` if it is not one. Surrounding ASCII
/// spaces are ignored.
pub fn parse_number(field: &[u8]) -> Option<Number> {
    let text = field.trim_ascii();
    // Fast path for the common forms, without UTF-8 checks or float parsing.
    if let Some((mantissa, scale)) = parse_decimal(text) {
        if let Ok(mantissa) = i64::try_from(mantissa) {
            return Some(if scale == 0 {
                Number::Int(mantissa)
            } else {
                Number::Decimal { mantissa, scale }
            });
        }
    }
    let text = std::str::from_utf8(text).ok()?;
    // Rust also accepts "inf"/"NaN"; data sets spell missing values that way,
    // and a NaN would poison every mean, so they are not numbers here.
    let float = text.parse::<f64>().ok()?;
    float.is_finite().then_some(Number::Float(float))
}

/// Largest number of fractional digits summed exactly.
const MAX_SCALE: u32 = 18;

/// An exact sum of decimal values, as an integer at a common scale, so that
/// it does not depend on the order values arrive in: shards merged in any
/// order give the same bytes. Values written with an exponent or with more
/// than 18 fractional digits are summed as floats apart (compensated,
/// Neumaier) and make the result inexact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sum {
    /// The exact part, in units of 10^-`scale`.
    pub exact: i128,
    /// Fractional digits of `exact`.
    pub scale: u32,
    /// Sum of the values that could not be summed exactly.
    pub float: f64,
    /// Neumaier compensation of `float`.
    pub compensation: f64,
    /// Whether any value went to `float`.
    pub inexact: bool,
    /// Values added.
    pub count: u64,
}

impl Sum {
    /// Adds one value.
    pub(crate) fn add(&mut self, number: Number) {
        self.count += 1;
        let decimal = match number {
            Number::Int(i) => Some((i128::from(i), 0)),
            Number::Decimal { mantissa, scale } => Some((i128::from(mantissa), scale)),
            Number::Float(_) => None,
        };
        match decimal {
            Some((mantissa, scale)) if self.add_exact(mantissa, scale) => {}
            _ => {
                self.inexact = true;
                self.add_float(as_f64(number));
            }
        }
    }

    /// Adds `mantissa` x 10^-`scale` exactly; false (and nothing changed) on overflow.
    fn add_exact(&mut self, mantissa: i128, scale: u32) -> bool {
        if scale == self.scale {
            let Some(total) = self.exact.checked_add(mantissa) else { return false };
            self.exact = total;
            return true;
        }
        let common = self.scale.max(scale);
        let (Some(mine), Some(theirs)) =
            (rescale(self.exact, self.scale, common), rescale(mantissa, scale, common))
        else {
            return false;
        };
        let Some(total) = mine.checked_add(theirs) else { return false };
        (self.exact, self.scale) = (total, common);
        true
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
        if !self.add_exact(other.exact, other.scale) {
            self.inexact = true;
            self.add_float(decimal_as_f64(other.exact, other.scale));
        }
        self.inexact |= other.inexact;
        self.add_float(other.float);
        self.compensation += other.compensation;
    }

    /// The sum as a float.
    pub fn total(&self) -> f64 {
        decimal_as_f64(self.exact, self.scale) + (self.float + self.compensation)
    }

    /// The sum as text: exact digits when every value was summed exactly.
    pub fn render(&self) -> Vec<u8> {
        if self.inexact {
            return render_float(self.total());
        }
        let digits = self.exact.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let (whole, fraction) = if digits.len() > scale {
            digits.split_at(digits.len() - scale)
        } else {
            ("0", digits.as_str())
        };
        let fraction = format!("{fraction:0>scale$}");
        let fraction = fraction.trim_end_matches('0');
        let sign = if self.exact < 0 { "-" } else { "" };
        let text = if fraction.is_empty() {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}.{fraction}")
        };
        text.into_bytes()
    }
}

/// Powers of ten up to the largest scale, exact in f64.
const POWERS_OF_TEN: [f64; MAX_SCALE as usize + 1] = {
    let mut powers = [1.0; MAX_SCALE as usize + 1];
    let mut i = 1;
    while i < powers.len() {
        powers[i] = powers[i - 1] * 10.0;
        i += 1;
    }
    powers
};

fn decimal_as_f64(mantissa: i128, scale: u32) -> f64 {
    // Scales never exceed MAX_SCALE; the division of two exact values rounds once.
    mantissa as f64 / POWERS_OF_TEN[scale as usize]
}

fn rescale(value: i128, from: u32, to: u32) -> Option<i128> {
    value.checked_mul(10i128.checked_pow(to - from)?)
}

/// Parses plain decimal notation (`-12.50`, `.5`, `3.`) exactly.
fn parse_decimal(text: &[u8]) -> Option<(i128, u32)> {
    if text.len() > 40 {
        return None;
    }
    let (negative, digits) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, text),
    };
    let (whole, fraction) = match memchr::memchr(b'.', digits) {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &b""[..]),
    };
    let scale = u32::try_from(fraction.len()).ok().filter(|&s| s <= MAX_SCALE)?;
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut mantissa: i128 = 0;
    for &byte in whole.iter().chain(fraction) {
        if !byte.is_ascii_digit() {
            return None;
        }
        mantissa = mantissa.checked_mul(10)?.checked_add(i128::from(byte - b'0'))?;
    }
    Some((if negative { -mantissa } else { mantissa }, scale))
}

pub(crate) fn as_f64(number: Number) -> f64 {
    match number {
        Number::Int(i) => i as f64,
        Number::Decimal { mantissa, scale } => decimal_as_f64(i128::from(mantissa), scale),
        Number::Float(f) => f,
    }
}

/// Smallest or largest value, ordered as SQLite orders mixed values:
/// numbers numerically, and every number before every text. So the maximum
/// of a column with any text in it is its largest text, the minimum its
/// smallest number.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Extreme {
    /// Extreme numeric value and its text.
    pub number: Option<(f64, Vec<u8>)>,
    /// Extreme non-numeric value, compared as bytes.
    pub text: Option<Vec<u8>>,
}

impl Extreme {
    pub(crate) fn add(&mut self, field: &[u8], number: Option<Number>, max: bool) {
        match number {
            Some(number) => {
                let value = as_f64(number);
                let better = |old: f64| if max { value > old } else { value < old };
                if self.number.as_ref().is_none_or(|(old, _)| better(*old)) {
                    self.number = Some((value, field.trim_ascii().to_vec()));
                }
            }
            None => self.add_text(field, max),
        }
    }

    fn add_text(&mut self, field: &[u8], max: bool) {
        let better = |old: &[u8]| if max { field > old } else { field < old };
        if self.text.as_deref().is_none_or(better) {
            self.text = Some(field.to_vec());
        }
    }

    pub(crate) fn merge(&mut self, other: &Extreme, max: bool) {
        if let Some((value, text)) = &other.number {
            let better = |old: f64| if max { *value > old } else { *value < old };
            if self.number.as_ref().is_none_or(|(old, _)| better(*old)) {
                self.number = Some((*value, text.clone()));
            }
        }
        if let Some(text) = &other.text {
            self.add_text(text, max);
        }
    }

    /// The result as a CSV field: the value as written in the input.
    pub fn render(&self, max: bool) -> Vec<u8> {
        let number = self.number.as_ref().map(|(_, text)| text);
        let pick = if max { self.text.as_ref().or(number) } else { number.or(self.text.as_ref()) };
        pick.cloned().unwrap_or_default()
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
            Accumulator::Sum(s) => s.render(),
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
        assert_eq!(parse_number(b"-1.5"), Some(Number::Decimal { mantissa: -15, scale: 1 }));
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
    fn decimal_sums_are_exact_and_order_free() {
        let values: [&[u8]; 5] = [b"0.1", b"0.2", b"-0.3", b"12.345", b"1e-7"];
        let sum_of = |order: &[usize]| {
            let mut sum = Accumulator::new(Op::Sum);
            for &i in order {
                sum.add(Some(values[i]), parse_number(values[i]), false);
            }
            sum.render()
        };
        let exact: [&[u8]; 3] = [b"0.1", b"0.2", b"-0.3"];
        let mut sum = Accumulator::new(Op::Sum);
        for v in exact {
            sum.add(Some(v), parse_number(v), false);
        }
        assert_eq!(sum.render(), b"0", "0.1 + 0.2 - 0.3 is exactly zero");
        assert_eq!(sum_of(&[0, 1, 2, 3]), b"12.345");
        // The exponent form is summed as a float, apart, compensated.
        assert_eq!(sum_of(&[4, 3, 2, 1, 0]), sum_of(&[0, 1, 2, 3, 4]));
    }

    #[test]
    fn float_parts_are_compensated() {
        let mut sum = Accumulator::new(Op::Sum);
        for value in [&b"1e16"[..], b"1e0", b"-1e16", b"1e0"] {
            sum.add(Some(value), parse_number(value), false);
        }
        assert_eq!(sum.render(), b"2");
    }

    #[test]
    fn min_max_order_numbers_before_text() {
        let (mut min, mut max) = (Accumulator::new(Op::Min), Accumulator::new(Op::Max));
        for field in [&b"9"[..], b"10", b"2.50"] {
            min.add(Some(field), parse_number(field), false);
            max.add(Some(field), parse_number(field), false);
        }
        assert_eq!((min.render(), max.render()), (b"2.50".to_vec(), b"10".to_vec()));
        min.add(Some(b"abc"), None, false);
        max.add(Some(b"abc"), None, false);
        assert_eq!((min.render(), max.render()), (b"2.50".to_vec(), b"abc".to_vec()));
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
