//! Verifying the chain: every link, every signed checkpoint, and the head.

use crate::TrailError;
use crate::checkpoint::is_authentic;
use autopmo_audit::{AuditRecord, ChainError, ChainHead, Verifier};
use autopmo_crypto::PublicSigningKey;
use autopmo_store::{Store, audit};
use std::collections::{BTreeMap, HashMap};

/// Records read per round trip.
const PAGE: i64 = 2_000;

/// Which part of the chain to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    /// First sequence (default: the first present).
    pub from: Option<i64>,
    /// Last sequence (default: the last present).
    pub to: Option<i64>,
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records checked.
    pub checked: u64,
    /// First and last sequence checked (`None` for an empty chain).
    pub span: Option<(i64, i64)>,
    /// Checkpoints whose signature and hash were checked.
    pub checkpoints: usize,
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A broken link, named.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A checkpoint's signature is not the server's.
    #[error("checkpoint at record {sequence} has an invalid signature: it was forged or altered")]
    ForgedCheckpoint {
        /// Its sequence.
        sequence: i64,
    },
    /// The recorded head disagrees with the last record.
    #[error("the chain head says record {head} but the last record is {last}: records were removed from the end")]
    HeadMismatch {
        /// Head sequence.
        head: i64,
        /// Last record present.
        last: i64,
    },
    /// A tombstone has no matching record in the archive.
    #[error("record {sequence} is marked archived, but the archive does not hold it (or holds a different one)")]
    MissingFromArchive {
        /// Its sequence.
        sequence: i64,
    },
    /// Reading failed.
    #[error(transparent)]
    Trail(#[from] TrailError),
}

impl From<autopmo_store::StoreError> for VerifyError {
    fn from(e: autopmo_store::StoreError) -> Self {
        Self::Trail(TrailError::Store(e))
    }
}

/// Verifies `range` of the chain in `store`, checking checkpoints against
/// `keys`. `progress(checked, total)` is called after every page. Records
/// that were archived count through their tombstones: their place in the
/// chain is checked, not their content (see [`verify_with_archives`]).
pub async fn verify(
    store: &Store,
    keys: &[PublicSigningKey],
    range: Range,
    progress: impl FnMut(u64, u64),
) -> Result<Report, VerifyError> {
    verify_with_archives(store, keys, range, None, progress).await
}

/// One position of the chain: a record in the hot table, or the tombstone
/// of an archived one.
enum Entry {
    Hot(Box<AuditRecord>),
    Archived(i64, String),
}

impl Entry {
    fn sequence(&self) -> i64 {
        match self {
            Self::Hot(r) => r.sequence,
            Self::Archived(s, _) => *s,
        }
    }

    fn hash(&self) -> &str {
        match self {
            Self::Hot(r) => &r.hash,
            Self::Archived(_, h) => h,
        }
    }
}

/// As [`verify`]; with `archives` (from [`crate::archive::archived_links`],
/// whose records were each checked against their own hash), every archived
/// record's link to its predecessor is checked too, so the hot table and
/// the archive are verified as one chain.
pub async fn verify_with_archives(
    store: &Store,
    keys: &[PublicSigningKey],
    range: Range,
    archives: Option<&BTreeMap<i64, (String, String)>>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, VerifyError> {
    let mut conn = store.read().await?;
    let checkpoints = audit::checkpoints(&mut conn).await?;
    if let Some(c) = checkpoints.iter().find(|c| !is_authentic(c, keys)) {
        return Err(VerifyError::ForgedCheckpoint { sequence: c.sequence });
    }
    let hot = audit::bounds(&mut conn).await?;
    let tombs = audit::tombstone_bounds(&mut conn).await?;
    let bounds = match (hot, tombs) {
        (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
        (one, other) => one.or(other),
    };
    let Some((min, max)) = bounds else {
        if let Some(c) = checkpoints.last() {
            return Err(ChainError::Truncated { last: 0, checkpoint: c.sequence }.into());
        }
        let head = audit::head(&mut conn).await?;
        if head.sequence != 0 {
            return Err(VerifyError::HeadMismatch { head: head.sequence, last: 0 });
        }
        return Ok(Report { checked: 0, span: None, checkpoints: 0 });
    };
    let full_tail = range.to.is_none_or(|t| t >= max);
    let from = range.from.unwrap_or(min).max(min);
    let to = range.to.unwrap_or(max).min(max);
    let by_sequence: HashMap<i64, &str> = checkpoints.iter().map(|c| (c.sequence, c.hash.as_str())).collect();
    let total = u64::try_from(to - from + 1).unwrap_or(0);
    // A full walk starts at the genesis: whatever is missing from the start
    // of the chain (not archived, so without a tombstone) is found. A range
    // starts from the link its first record names.
    let mut verifier: Option<Verifier> = range.from.is_none().then(|| Verifier::after(ChainHead::genesis()));
    let mut next = from;
    let mut checkpoints_checked = 0;
    while next <= to {
        let records = audit::range(&mut conn, next, to, PAGE).await?;
        // Tombstones up to where this page of records reaches.
        let upper = if records.len() as i64 == PAGE { records.last().map_or(to, |r| r.sequence) } else { to };
        let tombstones = audit::tombstones(&mut conn, next, upper, PAGE).await?;
        let mut entries: Vec<Entry> = records.into_iter().map(|r| Entry::Hot(Box::new(r))).collect();
        entries.extend(tombstones.into_iter().map(|(s, h)| Entry::Archived(s, h)));
        entries.sort_by_key(Entry::sequence);
        if entries.is_empty() {
            break;
        }
        for entry in &entries {
            let v = verifier.get_or_insert_with(|| {
                let prev = match entry {
                    Entry::Hot(r) => r.prev_hash.clone(),
                    Entry::Archived(s, _) => {
                        archives.and_then(|a| a.get(s)).map(|(p, _)| p.clone()).unwrap_or_default()
                    }
                };
                Verifier::after(ChainHead { sequence: entry.sequence() - 1, hash: prev })
            });
            match entry {
                Entry::Hot(record) => v.check(record)?,
                Entry::Archived(sequence, hash) => match archives {
                    Some(archive) => match archive.get(sequence) {
                        Some((prev, archived_hash)) if archived_hash == hash => v.link(*sequence, Some(prev), hash)?,
                        _ => return Err(VerifyError::MissingFromArchive { sequence: *sequence }),
                    },
                    None => v.link(*sequence, None, hash)?,
                },
            }
            if let Some(expected) = by_sequence.get(&entry.sequence()) {
                if *expected != entry.hash() {
                    return Err(ChainError::CheckpointMismatch { sequence: entry.sequence() }.into());
                }
                checkpoints_checked += 1;
            }
        }
        next = entries.last().map_or(to + 1, |e| e.sequence() + 1);
        progress(verifier.as_ref().map_or(0, Verifier::checked), total);
    }
    let checked = verifier.as_ref().map_or(0, Verifier::checked);
    let last = verifier.as_ref().map_or(from - 1, |v| v.head().sequence);
    if full_tail {
        if let Some(c) = checkpoints.iter().rev().find(|c| c.sequence > last) {
            return Err(ChainError::Truncated { last, checkpoint: c.sequence }.into());
        }
        let head = audit::head(&mut conn).await?;
        if head.sequence != last {
            return Err(VerifyError::HeadMismatch { head: head.sequence, last });
        }
    }
    Ok(Report { checked, span: Some((from, last)), checkpoints: checkpoints_checked })
}
