//! Verifying the chain: every link, every signed checkpoint, and the head.

use crate::TrailError;
use crate::checkpoint::is_authentic;
use autopmo_audit::{ChainError, ChainHead, Verifier};
use autopmo_crypto::PublicSigningKey;
use autopmo_store::{Store, audit};
use std::collections::HashMap;

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
/// `keys`. `progress(checked, total)` is called after every page.
pub async fn verify(
    store: &Store,
    keys: &[PublicSigningKey],
    range: Range,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, VerifyError> {
    let mut conn = store.read().await?;
    let checkpoints = audit::checkpoints(&mut conn).await?;
    if let Some(c) = checkpoints.iter().find(|c| !is_authentic(c, keys)) {
        return Err(VerifyError::ForgedCheckpoint { sequence: c.sequence });
    }
    let Some((min, max)) = audit::bounds(&mut conn).await? else {
        if let Some(c) = checkpoints.last() {
            return Err(ChainError::Truncated { last: 0, checkpoint: c.sequence }.into());
        }
        return Ok(Report { checked: 0, span: None, checkpoints: 0 });
    };
    let full_tail = range.to.is_none_or(|t| t >= max);
    let from = range.from.unwrap_or(min).max(min);
    let to = range.to.unwrap_or(max).min(max);
    let by_sequence: HashMap<i64, &str> = checkpoints.iter().map(|c| (c.sequence, c.hash.as_str())).collect();
    let total = u64::try_from(to - from + 1).unwrap_or(0);
    let mut verifier: Option<Verifier> = None;
    let mut next = from;
    let mut checkpoints_checked = 0;
    while next <= to {
        let page = audit::range(&mut conn, next, to, PAGE).await?;
        let Some(first) = page.first() else { break };
        // The first record's predecessor is outside the range (or archived):
        // start from the link it names.
        let v = verifier
            .get_or_insert_with(|| Verifier::after(ChainHead { sequence: from - 1, hash: first.prev_hash.clone() }));
        for record in &page {
            v.check(record)?;
            if let Some(hash) = by_sequence.get(&record.sequence) {
                if *hash != record.hash {
                    return Err(ChainError::CheckpointMismatch { sequence: record.sequence }.into());
                }
                checkpoints_checked += 1;
            }
        }
        next = page.last().map_or(to + 1, |r| r.sequence + 1);
        progress(v.checked(), total);
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
