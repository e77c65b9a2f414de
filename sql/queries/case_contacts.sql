-- A case's contact list as the alerting job last wrote it (removed contacts left out),
-- ranked like `ravao trace`: by degree, then total overlap.
-- Parameters: case String.
SELECT degree, person_id, overlap_seconds, overlaps, via, venues, first_contact, last_contact, latest_version AS version
FROM
(
    SELECT person_id, max(version) AS latest_version, argMax(degree, version) AS degree,
           argMax(overlap_seconds, version) AS overlap_seconds, argMax(overlaps, version) AS overlaps,
           argMax(via, version) AS via, argMax(venues, version) AS venues,
           argMax(first_contact, version) AS first_contact, argMax(last_contact, version) AS last_contact,
           argMax(removed, version) AS removed
    FROM contacts
    WHERE case_id = {case:String}
    GROUP BY person_id
)
WHERE NOT removed
ORDER BY degree, overlap_seconds DESC, person_id
