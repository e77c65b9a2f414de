-- One venue as the authorization layer needs it: its name, its areas from the top tier
-- down, and whether it is privileged (its staff see names in full).
-- Parameters: venue String.
SELECT venue_id, name, area_id, area_path, privileged, active
FROM
(
    SELECT venue_id, argMax(name, kafka_offset) AS name, argMax(area_id, kafka_offset) AS area_id,
           argMax(area_path, kafka_offset) AS area_path, argMax(privileged, kafka_offset) AS privileged,
           argMax(active, kafka_offset) AS active, argMax(deleted, kafka_offset) AS deleted
    FROM venues
    WHERE venue_id = {venue:String}
    GROUP BY venue_id
)
WHERE NOT deleted
