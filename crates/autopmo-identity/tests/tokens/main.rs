//! Access tokens end to end: signed with `autopmo_crypto::jws`, checked by
//! `autopmo_identity::tokens`, attacked with hand-forged tokens.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code outside #[test] functions: a failed unwrap or index is a failed test"
)]

mod accepted;
mod forge;
mod refused;
