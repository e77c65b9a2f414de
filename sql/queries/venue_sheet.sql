-- One venue as its own page and its poster show it: name, address, category, whether it
-- is privileged and active, its stays (no phone: those are not in the warehouse).
-- Parameters: venue String.
SELECT venue_id, name, address, category, privileged, active, default_stay_minutes, max_stay_minutes
FROM
(
    SELECT venue_id, argMax(name, kafka_offset) AS name, argMax(address, kafka_offset) AS address,
           argMax(category, kafka_offset) AS category, argMax(privileged, kafka_offset) AS privileged,
           argMax(active, kafka_offset) AS active,
           argMax(default_stay_minutes, kafka_offset) AS default_stay_minutes,
           argMax(max_stay_minutes, kafka_offset) AS max_stay_minutes, argMax(deleted, kafka_offset) AS deleted
    FROM venues
    WHERE venue_id = {venue:String}
    GROUP BY venue_id
)
WHERE NOT deleted
