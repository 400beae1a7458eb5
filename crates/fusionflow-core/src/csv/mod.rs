//! The `csv-aggregate` kernel: streaming CSV reading and mergeable aggregation.

pub mod records;
