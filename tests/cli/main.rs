//! End-to-end tests of the `autopmo` binary: the CLI, and crash safety of a
//! real server process killed with SIGKILL.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod commands;
mod crash;
mod policy;
mod server;
