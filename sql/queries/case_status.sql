-- One case's status (suspected, confirmed, cleared; no row if there is no such case or
-- it was withdrawn): a tracer's purpose must name an open case.
-- Parameters: case String.
SELECT status
FROM
(
    SELECT case_id, argMax(status, kafka_offset) AS status, argMax(deleted, kafka_offset) AS deleted
    FROM cases
    WHERE case_id = {case:String}
    GROUP BY case_id
)
WHERE NOT deleted
