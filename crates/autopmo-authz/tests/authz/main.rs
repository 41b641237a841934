//! Integration tests of the decision point: the matrix, policy loading,
//! decisions, and list scopes.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod decisions;
mod engines;
mod helpers;
mod loading;
mod matrix;
mod scope;
