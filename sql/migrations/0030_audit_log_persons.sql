-- Which people each read named, by id (`ravao audit --person P`), and why (a case id).
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS persons Array(String) AFTER subject
