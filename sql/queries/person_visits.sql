-- A person's visits in a window: the latest version of each visit, withdrawn ones left
-- out, in time order. Reads visits_by_person (ordered by person: one key range).
-- Parameters: person String, from DateTime64, to DateTime64.
SELECT
    visit_id,
    venue_id,
    t_in,
    t_out,
    dateDiff('second', t_in, t_out) AS seconds,
    entry_how,
    exit_how,
    latest_version AS version
FROM
(
    SELECT
        visit_id,
        max(version) AS latest_version,
        argMax(venue_id, version) AS venue_id,
        argMax(t_in, version) AS t_in,
        argMax(t_out, version) AS t_out,
        argMax(entry_how, version) AS entry_how,
        argMax(exit_how, version) AS exit_how,
        argMax(deleted, version) AS deleted
    FROM visits_by_person
    WHERE person_id = {person:String}
    GROUP BY visit_id
)
WHERE NOT deleted
  AND t_in < {to:DateTime64(3, 'UTC')}
  AND t_out > {from:DateTime64(3, 'UTC')}
ORDER BY t_in, visit_id
