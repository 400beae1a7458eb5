//! Integration tests of the core crate: one binary, one module per concern.

// Readable table-building beats saving allocations in tests.
#![allow(clippy::format_collect)]

mod csv;
mod extract;
mod grep;
mod resize;
mod testutil;
