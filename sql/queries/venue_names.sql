-- The names of the given venues and of the commune (or ward) each lies in, for pages that
-- list venues by id (the tracing console's visits and contacts). Withdrawn venues keep
-- their name here: a case's visit to a venue closed since is still a visit.
-- Parameters: venues Array(String).
SELECT v.venue_id AS venue_id, v.name AS name, v.address AS address, v.area_id AS area_id, a.name AS area_name
FROM
(
    SELECT venue_id, argMax(name, kafka_offset) AS name, argMax(address, kafka_offset) AS address,
           argMax(area_id, kafka_offset) AS area_id
    FROM venues
    WHERE venue_id IN {venues:Array(String)}
    GROUP BY venue_id
) AS v
LEFT JOIN
(
    SELECT area_id, argMax(name, kafka_offset) AS name
    FROM areas
    WHERE area_id IN (SELECT argMax(area_id, kafka_offset) FROM venues WHERE venue_id IN {venues:Array(String)}
                      GROUP BY venue_id)
    GROUP BY area_id
) AS a ON a.area_id = v.area_id
ORDER BY v.venue_id
