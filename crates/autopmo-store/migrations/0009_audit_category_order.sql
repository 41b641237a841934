-- AutoPMO schema, version 9: the audit trail's category index in the
-- trail's own order.
--
-- Audit queries return the newest events first (ORDER BY sequence DESC).
-- Indexed by (category, occurred_at), a query by category had to read and
-- sort every event of that category before it could return its first page:
-- a fifth of the trail for `authentication`. Indexed by (category,
-- sequence), the page is the last entries of the index. `occurred_at`
-- stays in the index so that the retention job (per category, older than
-- a cutoff, oldest first) filters on the index alone.

DROP INDEX audit_events_category_idx;

CREATE INDEX audit_events_category_idx ON audit_events (category, sequence, occurred_at);
