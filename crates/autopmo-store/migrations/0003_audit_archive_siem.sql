-- AutoPMO schema, version 3: audit archival (guide §8.3) and SIEM export cursors.

-- One row per archived segment: its manifest, as uploaded and read back.
CREATE TABLE audit_archives (
    segment_id TEXT PRIMARY KEY,
    object_key TEXT NOT NULL,
    manifest_key TEXT NOT NULL,
    event_count BIGINT NOT NULL,
    first_sequence BIGINT NOT NULL,
    last_sequence BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- For each archived record, its sequence and hash: the hot chain stays
-- verifiable across the gaps archival leaves, and a gap with no tombstone
-- is a deletion.
CREATE TABLE audit_tombstones (
    sequence BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    segment_id TEXT NOT NULL REFERENCES audit_archives (segment_id)
);

-- Where each SIEM sink stopped: events up to this sequence were delivered.
CREATE TABLE siem_cursors (
    sink TEXT PRIMARY KEY,
    last_sequence BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
