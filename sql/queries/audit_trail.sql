-- The audit trail: who read personal data in full, when, why, about whom and with what
-- values, oldest first; optionally only the reads that named one person, or one actor
-- ('' for any). Personal data (it names the people read): an administrator's read,
-- through `ravao audit`, which is itself audited.
-- Parameters: person String, actor String.
SELECT at, actor, action, subject, purpose, persons, detail, rows
FROM audit_log
WHERE ({person:String} = '' OR has(persons, {person:String}) OR subject = {person:String})
  AND ({actor:String} = '' OR actor = {actor:String})
ORDER BY at, actor, action, subject
