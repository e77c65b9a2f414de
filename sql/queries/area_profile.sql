-- One area as the authorization layer needs it: its name, tier and path from the top
-- tier down (itself included), to decide whether an officer's area contains it.
-- Parameters: area String.
SELECT area_id, name, tier, path
FROM
(
    SELECT area_id, argMax(name, kafka_offset) AS name, argMax(tier, kafka_offset) AS tier,
           argMax(path, kafka_offset) AS path, argMax(deleted, kafka_offset) AS deleted
    FROM areas
    WHERE area_id = {area:String}
    GROUP BY area_id
)
WHERE NOT deleted
