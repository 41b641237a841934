//! Real WebAuthn ceremonies between the relying party and a software passkey (P-256 keys, signed
//! client data): no mocks. Ceremony state always goes through a stand-in database row (`Db`).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod ceremonies;
mod config;
mod refusals;

use std::collections::HashMap;

use autopmo_webauthn::{WebAuthn, WebAuthnConfig};

/// The relying party's origin in most tests, and its RP id.
pub const ORIGIN: &str = "https://pmo.example.org";
pub const RP_ID: &str = "example.org";

pub fn config(rp_id: &str, origin: &str) -> WebAuthnConfig {
    WebAuthnConfig { rp_id: rp_id.to_owned(), rp_origin: origin.to_owned(), rp_name: "AutoPMO".to_owned() }
}

pub fn relying_party() -> WebAuthn {
    WebAuthn::new(&config(RP_ID, ORIGIN)).unwrap()
}

/// Stands in for the table where the server keeps ceremony state between begin and finish: only
/// bytes go in and out, and a state is taken out (deleted) when it is used.
#[derive(Debug, Default)]
pub struct Db {
    rows: HashMap<u64, Vec<u8>>,
    next: u64,
}

impl Db {
    pub fn put(&mut self, state: &str) -> u64 {
        self.next += 1;
        self.rows.insert(self.next, state.as_bytes().to_vec());
        self.next
    }

    pub fn take(&mut self, key: u64) -> String {
        String::from_utf8(self.rows.remove(&key).unwrap()).unwrap()
    }
}
