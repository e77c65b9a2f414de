-- Whether a person id is registered and not withdrawn (1 or 0): a case is registered for
-- a known person only.
-- Parameters: person String.
SELECT count() > 0
FROM
(
    SELECT person_id, argMax(deleted, kafka_offset) AS deleted
    FROM persons
    WHERE person_id = {person:String}
    GROUP BY person_id
)
WHERE NOT deleted
