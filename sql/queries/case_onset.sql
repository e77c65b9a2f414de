-- The onset of a person's latest case that is not cleared (no row if there is none).
-- `ravao trace` starts its default window 14 days before it.
-- Parameters: person String.
SELECT onset, case_id, status
FROM
(
    SELECT case_id, argMax(person_id, kafka_offset) AS person_id, argMax(status, kafka_offset) AS status,
           argMax(onset, kafka_offset) AS onset, argMax(deleted, kafka_offset) AS deleted
    FROM cases
    GROUP BY case_id
)
WHERE person_id = {person:String} AND NOT deleted AND status != 'cleared'
ORDER BY onset DESC, case_id
LIMIT 1
