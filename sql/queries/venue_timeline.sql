-- A venue's visits in a window, in time order: who came when and left when (latest
-- versions, withdrawn ones left out). Finds the visits through visit_slots (ordered by
-- venue and slot), then reads their latest versions from visits_by_person.
-- Parameters: venue String, from DateTime64, to DateTime64.
SELECT
    visit_id,
    owner AS person_id,
    t_in,
    t_out,
    dateDiff('second', t_in, t_out) AS seconds,
    entry_how,
    exit_how,
    latest_version AS version
FROM
(
    SELECT visit_id, max(version) AS latest_version, argMax(person_id, version) AS owner,
           argMax(venue_id, version) AS place, argMax(t_in, version) AS t_in, argMax(t_out, version) AS t_out,
           argMax(entry_how, version) AS entry_how, argMax(exit_how, version) AS exit_how,
           argMax(deleted, version) AS deleted
    FROM visits_by_person
    WHERE (person_id, visit_id) IN
    (
        SELECT person_id, visit_id
        FROM visit_slots
        WHERE venue_id = {venue:String}
          AND slot >= toStartOfFifteenMinutes(toDateTime({from:DateTime64(3, 'UTC')}))
          AND slot < {to:DateTime64(3, 'UTC')}
    )
    GROUP BY visit_id
)
WHERE NOT deleted AND place = {venue:String}
  AND t_in < {to:DateTime64(3, 'UTC')} AND t_out > {from:DateTime64(3, 'UTC')}
ORDER BY t_in, visit_id
