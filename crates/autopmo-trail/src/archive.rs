//! Retention and archival (guide §8.3): events past their category's
//! retention move from the hot table to object storage — a local directory
//! by default, S3-compatible storage (with a storage class such as GLACIER)
//! in production.
//!
//! The guide's sketch deletes rows before knowing the upload worked. Here a
//! segment is written, **read back and checked** (SHA-256, every record's
//! hash, the count), and only then are its rows deleted — in one
//! transaction that also records the segment and leaves a tombstone
//! `(sequence, hash)` per record, so the hot chain still verifies across the
//! gap. A failure at any step deletes nothing.

use crate::{AuditTrail, TrailError};
use autopmo_audit::{AuditRecord, Category, Outcome, chain};
use autopmo_store::audit::{self, ArchiveSegment};
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Days each category stays in the hot table (§8.3; authorization, which
/// the guide leaves out, is kept as long as administrative events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Logins, MFA, sessions.
    pub authentication_days: u32,
    /// Permission decisions, role and policy changes.
    pub authorization_days: u32,
    /// Business data reads and changes.
    pub data_access_days: u32,
    /// Users, configuration, deployments.
    pub administrative_days: u32,
    /// The system itself.
    pub system_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            authentication_days: 365,
            authorization_days: 2555,
            data_access_days: 2555,
            administrative_days: 2555,
            system_days: 90,
        }
    }
}

impl Retention {
    /// For each category, the time before which its events are expired.
    pub fn cutoffs(&self, now: OffsetDateTime) -> Vec<(Category, OffsetDateTime)> {
        let days = [
            (Category::Authentication, self.authentication_days),
            (Category::Authorization, self.authorization_days),
            (Category::DataAccess, self.data_access_days),
            (Category::Administrative, self.administrative_days),
            (Category::System, self.system_days),
        ];
        days.into_iter().map(|(c, d)| (c, now - Duration::days(i64::from(d)))).collect()
    }
}

/// Where segments go.
#[derive(Debug, Clone)]
pub struct ArchiveTarget {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    storage_class: Option<String>,
    hold_for: Vec<String>,
}

/// How to reach an S3-compatible store.
#[derive(Debug, Clone)]
pub struct S3Target {
    /// Bucket.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Endpoint for S3-compatible services (`None`: AWS).
    pub endpoint: Option<String>,
    /// Access key id (`None`: from the environment / instance role).
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Allow plain HTTP (only for a local test server).
    pub allow_http: bool,
    /// Storage class, e.g. `GLACIER`.
    pub storage_class: Option<String>,
    /// Key prefix.
    pub prefix: String,
}

/// An archival failure; nothing was deleted.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing the object store failed.
    #[error("object storage: {0}")]
    Storage(#[from] object_store::Error),
    /// What was read back differs from what was written.
    #[error("segment {segment} read back wrong: {reason}")]
    Mismatch {
        /// Segment id.
        segment: String,
        /// What differed.
        reason: String,
    },
    /// Building the segment failed.
    #[error("building the segment: {0}")]
    Encode(String),
    /// The store or keyring failed.
    #[error(transparent)]
    Trail(#[from] TrailError),
}

impl From<autopmo_store::StoreError> for ArchiveError {
    fn from(e: autopmo_store::StoreError) -> Self {
        Self::Trail(TrailError::Store(e))
    }
}

impl ArchiveTarget {
    /// A directory on the local file system (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<Self, ArchiveError> {
        std::fs::create_dir_all(dir).map_err(|e| ArchiveError::Encode(format!("{}: {e}", dir.display())))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
        Ok(Self { store: Arc::new(store), prefix: "audit".to_owned(), storage_class: None, hold_for: Vec::new() })
    }

    /// An S3-compatible bucket.
    pub fn s3(target: &S3Target) -> Result<Self, ArchiveError> {
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&target.bucket)
            .with_region(&target.region)
            .with_allow_http(target.allow_http);
        if let Some(endpoint) = &target.endpoint {
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        if let (Some(id), Some(secret)) = (&target.access_key_id, &target.secret_access_key) {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        Ok(Self {
            store: Arc::new(builder.build()?),
            prefix: target.prefix.trim_matches('/').to_owned(),
            storage_class: target.storage_class.clone(),
            hold_for: Vec::new(),
        })
    }

    /// Keeps events in the hot table until every one of these SIEM sinks has
    /// received them (their cursors), so archival never outruns an export.
    #[must_use]
    pub fn holding_for(mut self, sinks: Vec<String>) -> Self {
        self.hold_for = sinks;
        self
    }

    /// The last sequence every held-for sink has received.
    async fn delivered_up_to(&self, trail: &AuditTrail) -> Result<Option<i64>, ArchiveError> {
        if self.hold_for.is_empty() {
            return Ok(None);
        }
        let mut conn = trail.store().read().await?;
        let mut lowest = i64::MAX;
        for sink in &self.hold_for {
            lowest = lowest.min(autopmo_store::siem::cursor(&mut conn, sink).await?);
        }
        Ok(Some(lowest))
    }

    fn key(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    async fn put(&self, key: &ObjectPath, bytes: Bytes, cold: bool) -> Result<(), ArchiveError> {
        let mut attributes = Attributes::new();
        if cold && let Some(class) = &self.storage_class {
            attributes.insert(Attribute::StorageClass, class.clone().into());
        }
        let options = PutOptions { mode: PutMode::Create, attributes, ..Default::default() };
        self.store.put_opts(key, PutPayload::from_bytes(bytes), options).await?;
        Ok(())
    }

    /// Whether segments land in a class that cannot be read back at once
    /// (they need a restore first); those are checked by size and MD5 ETag.
    fn is_cold(&self) -> bool {
        self.storage_class.as_deref().is_some_and(|c| matches!(c, "GLACIER" | "DEEP_ARCHIVE"))
    }

    async fn get(&self, key: &ObjectPath) -> Result<Bytes, ArchiveError> {
        Ok(self.store.get(key).await?.bytes().await?)
    }
}

/// What a manifest says about its segment; signed with the server's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `autopmo-audit-archive-v1`.
    pub format: String,
    /// Segment id.
    pub segment_id: String,
    /// Records in the segment.
    pub count: i64,
    /// Lowest sequence.
    pub first_sequence: i64,
    /// Highest sequence.
    pub last_sequence: i64,
    /// Hash of the first record.
    pub first_hash: String,
    /// Hash of the last record.
    pub last_hash: String,
    /// SHA-256 (hex) of the compressed segment.
    pub sha256: String,
    /// Object key of the segment.
    pub object_key: String,
    /// When written.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn compress(records: &[AuditRecord]) -> Result<Vec<u8>, ArchiveError> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for record in records {
        let line = serde_json::to_string(record).map_err(|e| ArchiveError::Encode(e.to_string()))?;
        encoder
            .write_all(line.as_bytes())
            .and_then(|()| encoder.write_all(b"\n"))
            .map_err(|e| ArchiveError::Encode(e.to_string()))?;
    }
    encoder.finish().map_err(|e| ArchiveError::Encode(e.to_string()))
}

/// Decompresses and parses a segment, checking each record's own hash.
fn decode(segment: &str, bytes: &[u8]) -> Result<Vec<AuditRecord>, ArchiveError> {
    let mismatch = |reason: String| ArchiveError::Mismatch { segment: segment.to_owned(), reason };
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text).map_err(|e| mismatch(format!("not gzip: {e}")))?;
    let mut records = Vec::new();
    for (n, line) in text.as_bytes().lines().enumerate() {
        let line = line.map_err(|e| mismatch(e.to_string()))?;
        let record: AuditRecord = serde_json::from_str(&line).map_err(|e| mismatch(format!("line {}: {e}", n + 1)))?;
        if chain::hash(&record) != record.hash {
            return Err(mismatch(format!("record {} was altered", record.sequence)));
        }
        records.push(record);
    }
    Ok(records)
}

/// Archives up to `batch` expired events as one segment; `None` when
/// nothing has expired.
pub async fn archive_once(
    trail: &AuditTrail,
    target: &ArchiveTarget,
    retention: &Retention,
    batch: i64,
) -> Result<Option<ArchiveSegment>, ArchiveError> {
    let now = trail.now();
    let up_to = target.delivered_up_to(trail).await?;
    let mut conn = trail.store().read().await?;
    let records = audit::expired(&mut conn, &retention.cutoffs(now), up_to, batch).await?;
    drop(conn);
    let (Some(first), Some(last)) = (records.first(), records.last()) else { return Ok(None) };
    let segment_id = format!("seg_{}", uuid_like(now, first.sequence));
    let object_key = target.key(&format!("segments/{segment_id}.jsonl.gz"));
    let manifest_key = target.key(&format!("segments/{segment_id}.manifest.json"));
    let compressed = compress(&records)?;
    let sha256 = hex(&Sha256::digest(&compressed));
    let manifest = Manifest {
        format: "autopmo-audit-archive-v1".to_owned(),
        segment_id: segment_id.clone(),
        count: records.len() as i64,
        first_sequence: first.sequence,
        last_sequence: last.sequence,
        first_hash: first.hash.clone(),
        last_hash: last.hash.clone(),
        sha256: sha256.clone(),
        object_key: object_key.to_string(),
        created_at: now,
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| ArchiveError::Encode(e.to_string()))?;
    let signature = trail.keyring().sign(&manifest_json).map_err(TrailError::from)?;
    let signed = serde_json::json!({"manifest": manifest, "key_id": signature.key_id, "signature": signature.value});

    let md5 = hex(&md5::Md5::digest(&compressed));
    let size = compressed.len() as u64;
    target.put(&object_key, Bytes::from(compressed.clone()), true).await?;
    target.put(&manifest_key, Bytes::from(signed.to_string()), false).await?;

    // Read both back: only what is provably stored may leave the hot table.
    let back = if target.is_cold() {
        // A GLACIER object cannot be read until restored: check what the
        // store reports of it (size, and the MD5 ETag of a single-part upload).
        let meta = target.store.head(&object_key).await?;
        let etag = meta.e_tag.unwrap_or_default();
        if meta.size != size || etag.trim_matches('"') != md5 {
            return Err(ArchiveError::Mismatch { segment: segment_id, reason: "size or ETag differs".to_owned() });
        }
        decode(&segment_id, &compressed)?
    } else {
        let stored = target.get(&object_key).await?;
        if hex(&Sha256::digest(&stored)) != sha256 {
            return Err(ArchiveError::Mismatch { segment: segment_id, reason: "SHA-256 differs".to_owned() });
        }
        decode(&segment_id, &stored)?
    };
    let same = back.len() == records.len()
        && back.iter().zip(&records).all(|(a, b)| a.sequence == b.sequence && a.hash == b.hash);
    if !same {
        return Err(ArchiveError::Mismatch { segment: segment_id, reason: "records differ".to_owned() });
    }
    let stored_manifest: serde_json::Value =
        serde_json::from_slice(&target.get(&manifest_key).await?).map_err(|e| ArchiveError::Encode(e.to_string()))?;
    if stored_manifest != signed {
        return Err(ArchiveError::Mismatch { segment: segment_id, reason: "manifest differs".to_owned() });
    }

    let segment = ArchiveSegment {
        segment_id: segment_id.clone(),
        object_key: object_key.to_string(),
        manifest_key: manifest_key.to_string(),
        event_count: records.len() as i64,
        first_sequence: first.sequence,
        last_sequence: last.sequence,
        sha256,
        created_at: now,
    };
    let tombstones: Vec<(i64, String)> = records.iter().map(|r| (r.sequence, r.hash.clone())).collect();
    let mut event = AuditRecord::new("audit.archived", Category::System, "archive", Outcome::Success, now)
        .with_resource("audit_archive", Some(segment_id), None)
        .with_metadata(&serde_json::json!({
            "count": segment.event_count,
            "first_sequence": segment.first_sequence,
            "last_sequence": segment.last_sequence,
            "object_key": segment.object_key,
        }));
    let mut uow = trail.store().begin().await?;
    audit::archive(uow.conn(), &segment, &tombstones).await?;
    uow.append_audit(&mut event).await?;
    uow.commit().await?;
    Ok(Some(segment))
}

/// Archives everything expired, segment by segment; returns the segments.
pub async fn archive_all(
    trail: &AuditTrail,
    target: &ArchiveTarget,
    retention: &Retention,
    batch: i64,
    mut progress: impl FnMut(&ArchiveSegment),
) -> Result<Vec<ArchiveSegment>, ArchiveError> {
    let mut done = Vec::new();
    while let Some(segment) = archive_once(trail, target, retention, batch).await? {
        progress(&segment);
        done.push(segment);
    }
    Ok(done)
}

/// The links of every archived record, `sequence → (prev_hash, hash)`,
/// after checking each segment against its database row (SHA-256, count)
/// and each record against its own hash.
pub async fn archived_links(
    trail: &AuditTrail,
    target: &ArchiveTarget,
) -> Result<BTreeMap<i64, (String, String)>, ArchiveError> {
    let mut conn = trail.store().read().await?;
    let segments = audit::segments(&mut conn).await?;
    drop(conn);
    let mut links = BTreeMap::new();
    for segment in segments {
        let bytes = target.get(&ObjectPath::from(segment.object_key.as_str())).await?;
        if hex(&Sha256::digest(&bytes)) != segment.sha256 {
            return Err(ArchiveError::Mismatch { segment: segment.segment_id, reason: "SHA-256 differs".to_owned() });
        }
        let records = decode(&segment.segment_id, &bytes)?;
        if records.len() as i64 != segment.event_count {
            return Err(ArchiveError::Mismatch {
                segment: segment.segment_id,
                reason: "record count differs".to_owned(),
            });
        }
        for r in records {
            links.insert(r.sequence, (r.prev_hash, r.hash));
        }
    }
    Ok(links)
}

fn uuid_like(now: OffsetDateTime, first: i64) -> String {
    let stamp = now.unix_timestamp_nanos();
    format!("{stamp:x}_{first}")
}
