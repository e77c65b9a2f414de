-- Who is inside a venue now: its open visits (an entry with no exit yet, latest version,
-- not withdrawn) that started in the last 24 hours, with how long each has been inside.
-- An open visit's t_out is provisional (entry + the venue's default stay).
-- Parameters: venue String.
SELECT visit_id, owner AS person_id, t_in, dateDiff('second', t_in, now64(3)) AS inside_seconds
FROM
(
    SELECT visit_id, argMax(person_id, version) AS owner, argMax(venue_id, version) AS place,
           argMax(t_in, version) AS t_in, argMax(exit_how, version) AS exit_how,
           argMax(deleted, version) AS deleted
    FROM visits_by_person
    WHERE (person_id, visit_id) IN
    (
        SELECT person_id, visit_id
        FROM visit_slots
        WHERE venue_id = {venue:String} AND slot >= toStartOfFifteenMinutes(now() - INTERVAL 1 DAY)
    )
    GROUP BY visit_id
)
WHERE NOT deleted AND place = {venue:String} AND exit_how = 'open' AND t_in <= now64(3)
ORDER BY t_in, visit_id
