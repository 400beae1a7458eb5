//! Integration tests of the core crate: one binary, one module per concern.

mod grep;
mod testutil;
