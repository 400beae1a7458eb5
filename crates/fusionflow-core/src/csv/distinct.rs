//! Distinct counts: exact up to a limit, then a HyperLogLog estimate.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hasher};

use serde::{Deserialize, Serialize};

/// Values kept exactly per group before switching to an estimate.
pub const EXACT_LIMIT: usize = 10_000;

/// HyperLogLog precision: 2^14 registers, a standard error of about 0.8%.
const PRECISION: u32 = 14;
const REGISTERS: usize = 1 << PRECISION;

/// A distinct count of byte strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Distinct {
    /// Every value seen, while there are at most [`EXACT_LIMIT`].
    Exact(BTreeSet<Vec<u8>>),
    /// HyperLogLog registers.
    Estimate(Vec<u8>),
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact(BTreeSet::new())
    }
}

impl Distinct {
    /// Adds one value.
    pub fn add(&mut self, value: &[u8]) {
        match self {
            Distinct::Exact(values) => {
                if !values.contains(value) {
                    values.insert(value.to_vec());
                    if values.len() > EXACT_LIMIT {
                        self.switch_to_estimate();
                    }
                }
            }
            Distinct::Estimate(registers) => observe(registers, value),
        }
    }

    /// Folds `other` into this one.
    pub fn merge(&mut self, other: &Distinct) {
        match other {
            Distinct::Exact(values) => {
                for value in values {
                    self.add(value);
                }
            }
            Distinct::Estimate(theirs) => {
                self.switch_to_estimate();
                if let Distinct::Estimate(mine) = self {
                    mine.iter_mut().zip(theirs).for_each(|(a, b)| *a = (*a).max(*b));
                }
            }
        }
    }

    /// Whether the count is an estimate.
    pub fn is_estimate(&self) -> bool {
        matches!(self, Distinct::Estimate(_))
    }

    /// The number of distinct values (estimated past the limit).
    pub fn count(&self) -> u64 {
        match self {
            Distinct::Exact(values) => values.len() as u64,
            Distinct::Estimate(registers) => estimate(registers),
        }
    }

    fn switch_to_estimate(&mut self) {
        if let Distinct::Exact(values) = self {
            let mut registers = vec![0; REGISTERS];
            for value in values.iter() {
                observe(&mut registers, value);
            }
            *self = Distinct::Estimate(registers);
        }
    }
}

/// A stable 64-bit hash: SipHash with fixed keys, the same in every process,
/// so that shards from different workers merge.
fn hash(value: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(value);
    hasher.finish()
}

fn observe(registers: &mut [u8], value: &[u8]) {
    let h = hash(value);
    let index = (h >> (64 - PRECISION)) as usize;
    let rank = ((h << PRECISION) | (1 << (PRECISION - 1))).leading_zeros() + 1;
    registers[index] = registers[index].max(rank as u8);
}

#[allow(clippy::cast_sign_loss)] // clamped to zero first
fn estimate(registers: &[u8]) -> u64 {
    let m = REGISTERS as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let sum: f64 = registers.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
    let raw = alpha * m * m / sum;
    let zeros = memchr::memchr_iter(0, registers).count();
    // Linear counting is more accurate while many registers are empty.
    let value = if raw <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { raw };
    // A positive estimate by construction.
    value.round().max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_the_limit() {
        let mut distinct = Distinct::default();
        for i in 0..1000 {
            distinct.add(format!("v{}", i % 700).as_bytes());
        }
        assert_eq!(distinct.count(), 700);
        assert!(!distinct.is_estimate());
    }

    #[test]
    fn estimates_within_two_percent_past_the_limit_and_merges() {
        let (mut a, mut b, mut whole) =
            (Distinct::default(), Distinct::default(), Distinct::default());
        for i in 0..200_000u32 {
            let value = i.to_le_bytes();
            whole.add(&value);
            let half = if i % 2 == 0 { &mut a } else { &mut b };
            half.add(&value);
        }
        assert!(whole.is_estimate());
        let error = (whole.count() as f64 - 200_000.0).abs() / 200_000.0;
        assert!(error < 0.02, "estimate {} is off by {error}", whole.count());
        a.merge(&b);
        assert_eq!(a.count(), whole.count(), "merging registers equals one pass");
    }
}
