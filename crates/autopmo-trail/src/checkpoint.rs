//! Signed checkpoints: the server's key vouches that the chain reached a
//! sequence with a given hash. Kept in the database and exportable, so that
//! cutting records off the end of the chain is detected.

use crate::{AuditTrail, TrailError};
use autopmo_crypto::{PublicSigningKey, Signature};
use autopmo_store::audit::{self, Checkpoint};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The exact bytes a checkpoint signature covers.
pub fn message(sequence: i64, hash: &str, created_at: OffsetDateTime) -> Vec<u8> {
    format!("autopmo-audit-checkpoint:v1\n{sequence}\n{hash}\n{}", created_at.format(&Rfc3339).unwrap_or_default())
        .into_bytes()
}

/// Whether `checkpoint` was signed by one of `keys`.
pub fn is_authentic(checkpoint: &Checkpoint, keys: &[PublicSigningKey]) -> bool {
    let msg = message(checkpoint.sequence, &checkpoint.hash, checkpoint.created_at);
    keys.iter()
        .filter(|k| k.key_id == checkpoint.key_id)
        .any(|k| autopmo_crypto::verify_signature(k, &msg, &checkpoint.signature))
}

/// Signs and stores a checkpoint at the committed head; `None` when the
/// chain is empty or the head already has one.
pub async fn take(trail: &AuditTrail) -> Result<Option<Checkpoint>, TrailError> {
    let mut conn = trail.store().read().await?;
    let head = audit::head(&mut conn).await?;
    let existing = audit::checkpoints(&mut conn).await?;
    drop(conn);
    if head.sequence == 0 || existing.last().is_some_and(|c| c.sequence >= head.sequence) {
        return Ok(None);
    }
    let created_at = trail.now();
    let Signature { key_id, value } = trail.keyring().sign(&message(head.sequence, &head.hash, created_at))?;
    let checkpoint = Checkpoint { sequence: head.sequence, hash: head.hash, created_at, key_id, signature: value };
    let mut uow = trail.store().begin().await?;
    audit::insert_checkpoint(uow.conn(), &checkpoint).await?;
    uow.commit().await?;
    Ok(Some(checkpoint))
}

/// One line of a checkpoint export.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportLine {
    /// A public key that signed checkpoints.
    PublicKey(PublicSigningKey),
    /// A checkpoint.
    Checkpoint(Checkpoint),
}

/// The public keys, then every checkpoint: JSON Lines to keep outside the
/// database (a SIEM, a ticket, a printout).
pub async fn export(trail: &AuditTrail) -> Result<Vec<ExportLine>, TrailError> {
    let mut conn = trail.store().read().await?;
    let mut lines: Vec<ExportLine> = trail.keyring().public_keys().into_iter().map(ExportLine::PublicKey).collect();
    lines.extend(audit::checkpoints(&mut conn).await?.into_iter().map(ExportLine::Checkpoint));
    Ok(lines)
}
