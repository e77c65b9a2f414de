-- The people whose latest record holds the given phone (normalised, 0XXXXXXXXX): the
-- tracing console's "find a person by phone". Personal data: run only through
-- `Reads.find_by_phone`, which writes an audit_log row before it reads.
-- Parameters: phone String.
SELECT person_id
FROM
(
    SELECT person_id, argMax(phone, kafka_offset) AS latest_phone, argMax(deleted, kafka_offset) AS deleted
    FROM personal_data
    WHERE phone = {phone:String}
    GROUP BY person_id
)
WHERE NOT deleted AND latest_phone = {phone:String}
ORDER BY person_id
LIMIT 20
