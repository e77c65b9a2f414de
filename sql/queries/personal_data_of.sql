-- Names, phones and ID numbers of the given people (latest record, not deleted).
-- Personal data: run only through `ravao trace --with-names`, which writes an
-- audit_log row before it reads.
-- Parameters: persons Array(String).
SELECT person_id, full_name, phone, id_number
FROM
(
    SELECT person_id, argMax(full_name, kafka_offset) AS full_name, argMax(phone, kafka_offset) AS phone,
           argMax(id_number, kafka_offset) AS id_number, argMax(deleted, kafka_offset) AS deleted
    FROM personal_data
    WHERE person_id IN {persons:Array(String)}
    GROUP BY person_id
)
WHERE NOT deleted
ORDER BY person_id
