-- The audit trail: who read personal data, when, about whom and with what values, oldest
-- first. Personal data (it names the people read): run only through the door's
-- personal reads (`Warehouse.read_personal`), which audit this read too.
-- Parameters: none.
SELECT at, actor, action, subject, detail, rows
FROM audit_log
ORDER BY at, actor, action, subject
