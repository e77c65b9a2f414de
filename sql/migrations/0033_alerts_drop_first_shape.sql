-- The first `alerts` table kept one row per alert id with no version, status or kind; no
-- release ever wrote to it. It makes way for the versioned table of 0034.
DROP TABLE IF EXISTS alerts
