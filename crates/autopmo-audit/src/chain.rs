//! The hash chain: each record's hash covers its canonical form and the
//! previous record's hash, so an edited, deleted, inserted or reordered
//! record breaks every link after it.

use crate::record::AuditRecord;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The end of the chain: the last sequence and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Last sequence written (0 when empty).
    pub sequence: i64,
    /// Its hash ([`GENESIS_HASH`] when empty).
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> Self {
        Self { sequence: 0, hash: GENESIS_HASH.to_owned() }
    }

    /// Links `record` after this head: sets its sequence, `prev_hash` and
    /// `hash`, and moves the head to it.
    pub fn append(&mut self, record: &mut AuditRecord) {
        record.sequence = self.sequence + 1;
        record.prev_hash = self.hash.clone();
        record.hash = hash(record);
        self.sequence = record.sequence;
        self.hash = record.hash.clone();
    }
}

/// The bytes that are hashed: a JSON array of every field but `hash`, in a
/// fixed order. Sealed personal data enters as its ciphertext.
pub fn canonical(r: &AuditRecord) -> Vec<u8> {
    let resource = r.resource.as_ref();
    let value = serde_json::json!([
        "autopmo-audit-v1",
        r.sequence,
        r.event_id,
        r.timestamp.format(&Rfc3339).unwrap_or_default(),
        r.event_type,
        r.category.as_str(),
        r.actor.user_id,
        r.actor.subject,
        r.actor.username,
        r.actor.ip_address,
        r.actor.user_agent,
        resource.map(|x| &x.kind),
        resource.and_then(|x| x.id.as_ref()),
        resource.and_then(|x| x.name.as_ref()),
        r.action,
        r.status.as_str(),
        r.metadata,
        r.request_id,
        r.session_id,
        r.decision_id,
        r.prev_hash,
    ]);
    value.to_string().into_bytes()
}

/// The hash of `record` as it stands (hex SHA-256 of its canonical form).
pub fn hash(record: &AuditRecord) -> String {
    let digest = Sha256::digest(canonical(record));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A broken link, named so an auditor can find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A record's content does not match its hash: it was edited.
    #[error("record {sequence} ({event_id}) was altered: its hash does not match its content")]
    Altered {
        /// Sequence.
        sequence: i64,
        /// Event id.
        event_id: String,
    },
    /// A record does not point at its predecessor: records were removed,
    /// inserted or reordered before it.
    #[error(
        "record {sequence} ({event_id}) does not follow record {expected_after}: the chain is broken here (records removed, inserted or reordered)"
    )]
    Broken {
        /// Sequence.
        sequence: i64,
        /// Event id.
        event_id: String,
        /// The sequence it should follow.
        expected_after: i64,
    },
    /// The chain ends before a signed checkpoint: its tail was cut off.
    #[error(
        "the chain ends at record {last}, but a signed checkpoint vouches for record {checkpoint}: records were removed from the end"
    )]
    Truncated {
        /// Last record present.
        last: i64,
        /// Checkpoint sequence.
        checkpoint: i64,
    },
    /// A checkpoint's hash differs from the record's.
    #[error("record {sequence} differs from the signed checkpoint taken at it")]
    CheckpointMismatch {
        /// Sequence.
        sequence: i64,
    },
}

/// Walks records in sequence order, checking each link.
#[derive(Debug, Clone)]
pub struct Verifier {
    head: ChainHead,
    checked: u64,
}

impl Verifier {
    /// Starts after `head` (genesis for a full walk, or the record before a range).
    pub fn after(head: ChainHead) -> Self {
        Self { head, checked: 0 }
    }

    /// Checks the next record.
    pub fn check(&mut self, record: &AuditRecord) -> Result<(), ChainError> {
        if record.sequence != self.head.sequence + 1 || record.prev_hash != self.head.hash {
            return Err(ChainError::Broken {
                sequence: record.sequence,
                event_id: record.event_id.clone(),
                expected_after: self.head.sequence,
            });
        }
        if hash(record) != record.hash {
            return Err(ChainError::Altered { sequence: record.sequence, event_id: record.event_id.clone() });
        }
        self.head = ChainHead { sequence: record.sequence, hash: record.hash.clone() };
        self.checked += 1;
        Ok(())
    }

    /// Accepts a link whose record is not at hand (archived): only its
    /// place in the sequence is checked; when `prev_hash` is known (from
    /// the archive) the link to the previous record is checked too.
    pub fn link(&mut self, sequence: i64, prev_hash: Option<&str>, hash: &str) -> Result<(), ChainError> {
        let follows = sequence == self.head.sequence + 1 && prev_hash.is_none_or(|p| p == self.head.hash);
        if !follows {
            return Err(ChainError::Broken {
                sequence,
                event_id: "(archived)".to_owned(),
                expected_after: self.head.sequence,
            });
        }
        self.head = ChainHead { sequence, hash: hash.to_owned() };
        self.checked += 1;
        Ok(())
    }

    /// The last record checked.
    pub fn head(&self) -> &ChainHead {
        &self.head
    }

    /// How many records were checked.
    pub fn checked(&self) -> u64 {
        self.checked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Category, Outcome};
    use time::macros::datetime;

    fn chain(n: usize) -> Vec<AuditRecord> {
        let mut head = ChainHead::genesis();
        (0..n)
            .map(|i| {
                let mut r = AuditRecord::new(
                    "project.created",
                    Category::DataAccess,
                    "create",
                    Outcome::Success,
                    datetime!(2026-12-04 10:00 UTC),
                )
                .with_metadata(&serde_json::json!({"i": i, "b": 1, "a": [2, {"z": 1, "y": 2}]}));
                head.append(&mut r);
                r
            })
            .collect()
    }

    fn verify(records: &[AuditRecord]) -> Result<(), ChainError> {
        let mut v = Verifier::after(ChainHead::genesis());
        records.iter().try_for_each(|r| v.check(r))
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
    }

    #[test]
    fn metadata_is_canonical() {
        let r = &chain(1)[0];
        assert_eq!(r.metadata, r#"{"a":[2,{"y":2,"z":1}],"b":1,"i":0}"#);
    }

    #[test]
    fn editing_is_named() {
        let mut c = chain(5);
        c[2].action = "delete".to_owned();
        assert!(matches!(verify(&c), Err(ChainError::Altered { sequence: 3, .. })));
    }

    #[test]
    fn deleting_and_reordering_are_named() {
        let mut c = chain(5);
        c.remove(2);
        assert!(matches!(verify(&c), Err(ChainError::Broken { sequence: 4, expected_after: 2, .. })));
        let mut c = chain(5);
        c.swap(1, 2);
        assert!(matches!(verify(&c), Err(ChainError::Broken { sequence: 3, expected_after: 1, .. })));
    }

    #[test]
    fn rehashing_an_edit_still_breaks_the_next_link() {
        let mut c = chain(5);
        c[2].action = "delete".to_owned();
        c[2].hash = hash(&c[2]);
        assert!(matches!(verify(&c), Err(ChainError::Broken { sequence: 4, .. })));
    }
}
