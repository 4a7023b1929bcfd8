//! Integration tests: one test binary, one module per capability. They drive
//! the library's public API and the `thematic` binary (assert_cmd) on real
//! inputs. Tests that need `../shared` skip with a printed reason when it is
//! absent.

mod browser;
mod classify;
mod cli;
mod codebook;
mod corpus;
mod export;
mod index;
mod overrides;
mod privacy;
mod quality;
mod reliability;
mod reports;
mod search;
mod search_equivalence;
mod serve;
mod text;
mod util;
mod xlsx;
