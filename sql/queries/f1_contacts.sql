-- F1 contacts of a case: everyone who was at the same venue at the same time as the
-- case within [from, to), ranked by their total time together.
--
-- 1. The case's visits: latest versions, not withdrawn, clipped to the window.
-- 2. Candidates: visits that share a 15-minute slot at the same venue (visit_slots,
--    ordered by venue and slot: key ranges, not a scan).
-- 3. Their latest versions (visits_by_person, by person and visit id), not withdrawn.
-- 4. The exact overlap, once per distinct pair (case visit, contact visit), kept when
--    positive: greatest(0, least(t_out) - greatest(t_in)). Never summed over slots.
-- 5. Per contact: the total, kept when it reaches min_overlap_seconds.
-- Parameters: person String, from DateTime64, to DateTime64, min_overlap_seconds UInt32.
WITH
    case_visits AS
    (
        SELECT visit_id, venue_id,
               greatest(t_in, {from:DateTime64(3, 'UTC')}) AS t_in,
               least(t_out, {to:DateTime64(3, 'UTC')}) AS t_out
        FROM
        (
            SELECT visit_id, argMax(venue_id, version) AS venue_id, argMax(t_in, version) AS t_in,
                   argMax(t_out, version) AS t_out, argMax(deleted, version) AS deleted
            FROM visits_by_person
            WHERE person_id = {person:String}
            GROUP BY visit_id
        )
        WHERE NOT deleted AND t_in < {to:DateTime64(3, 'UTC')} AND t_out > {from:DateTime64(3, 'UTC')}
    ),
    candidates AS
    (
        SELECT DISTINCT person_id, visit_id
        FROM visit_slots
        WHERE (venue_id, slot) IN
        (
            SELECT venue_id, arrayJoin(timeSlots(toDateTime(t_in), toUInt32(dateDiff('second', t_in, t_out)), 900))
            FROM case_visits
        )
          AND person_id != {person:String}
    ),
    contact_visits AS
    (
        SELECT visit_id, owner AS person_id, venue_id, t_in, t_out
        FROM
        (
            SELECT visit_id, argMax(person_id, version) AS owner, argMax(venue_id, version) AS venue_id,
                   argMax(t_in, version) AS t_in, argMax(t_out, version) AS t_out,
                   argMax(deleted, version) AS deleted
            FROM visits_by_person
            WHERE (person_id, visit_id) IN (SELECT person_id, visit_id FROM candidates)
            GROUP BY visit_id
        )
        WHERE NOT deleted
    ),
    pairs AS
    (
        SELECT c.person_id AS person_id, c.venue_id AS venue_id,
               greatest(c.t_in, k.t_in) AS start, least(c.t_out, k.t_out) AS end,
               dateDiff('millisecond', start, end) AS overlap_ms
        FROM contact_visits AS c
        INNER JOIN case_visits AS k ON c.venue_id = k.venue_id
        WHERE overlap_ms > 0
    )
SELECT
    person_id,
    sum(overlap_ms) / 1000 AS overlap_seconds,
    count() AS overlaps,
    {person:String} AS via,
    arraySort(groupUniqArray(venue_id)) AS venues,
    min(start) AS first_contact,
    max(end) AS last_contact
FROM pairs
GROUP BY person_id
HAVING sum(overlap_ms) >= {min_overlap_seconds:UInt32} * 1000
ORDER BY overlap_seconds DESC, person_id
