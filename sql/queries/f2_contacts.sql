-- F2 contacts of a case: the F1 contacts' own F1 contacts, other than the case and the
-- F1s themselves. Precisely: P is an F2 when P is neither the case nor an F1 and, for at
-- least one F1 f, P's visits overlap f's visits (same venue, within [from, to)) by at
-- least min_overlap_seconds in total; each such (P, f) is a link. overlap_seconds is the
-- sum over P's links, `via` the F1 of the longest link (on a tie the smallest id). The
-- window and threshold are the case's; the order in time of the two exposures is not
-- checked (a tracer judges it from first_contact).
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
    f1 AS
    (
        SELECT c.person_id AS person_id
        FROM contact_visits AS c
        INNER JOIN case_visits AS k ON c.venue_id = k.venue_id
        WHERE dateDiff('millisecond', greatest(c.t_in, k.t_in), least(c.t_out, k.t_out)) > 0
        GROUP BY c.person_id
        HAVING sum(dateDiff('millisecond', greatest(c.t_in, k.t_in), least(c.t_out, k.t_out)))
               >= {min_overlap_seconds:UInt32} * 1000
    ),
    f1_visits AS
    (
        SELECT visit_id, owner AS person_id, venue_id,
               greatest(t_in, {from:DateTime64(3, 'UTC')}) AS t_in,
               least(t_out, {to:DateTime64(3, 'UTC')}) AS t_out
        FROM
        (
            SELECT visit_id, argMax(person_id, version) AS owner, argMax(venue_id, version) AS venue_id,
                   argMax(t_in, version) AS t_in, argMax(t_out, version) AS t_out,
                   argMax(deleted, version) AS deleted
            FROM visits_by_person
            WHERE person_id IN (SELECT person_id FROM f1)
            GROUP BY visit_id
        )
        WHERE NOT deleted AND t_in < {to:DateTime64(3, 'UTC')} AND t_out > {from:DateTime64(3, 'UTC')}
    ),
    f2_candidates AS
    (
        SELECT DISTINCT person_id, visit_id
        FROM visit_slots
        WHERE (venue_id, slot) IN
        (
            SELECT venue_id, arrayJoin(timeSlots(toDateTime(t_in), toUInt32(dateDiff('second', t_in, t_out)), 900))
            FROM f1_visits
        )
          AND person_id != {person:String}
          AND person_id NOT IN (SELECT person_id FROM f1)
    ),
    f2_visits AS
    (
        SELECT visit_id, owner AS person_id, venue_id, t_in, t_out
        FROM
        (
            SELECT visit_id, argMax(person_id, version) AS owner, argMax(venue_id, version) AS venue_id,
                   argMax(t_in, version) AS t_in, argMax(t_out, version) AS t_out,
                   argMax(deleted, version) AS deleted
            FROM visits_by_person
            WHERE (person_id, visit_id) IN (SELECT person_id, visit_id FROM f2_candidates)
            GROUP BY visit_id
        )
        WHERE NOT deleted
    ),
    links AS
    (
        SELECT
            c.person_id AS person_id,
            f.person_id AS f1_person,
            sum(dateDiff('millisecond', greatest(c.t_in, f.t_in), least(c.t_out, f.t_out))) AS link_ms,
            count() AS overlaps,
            groupUniqArray(c.venue_id) AS venues,
            min(greatest(c.t_in, f.t_in)) AS first_contact,
            max(least(c.t_out, f.t_out)) AS last_contact
        FROM f2_visits AS c
        INNER JOIN f1_visits AS f ON c.venue_id = f.venue_id
        WHERE dateDiff('millisecond', greatest(c.t_in, f.t_in), least(c.t_out, f.t_out)) > 0
        GROUP BY person_id, f1_person
        HAVING link_ms >= {min_overlap_seconds:UInt32} * 1000
    )
SELECT
    person_id,
    sum(link_ms) / 1000 AS overlap_seconds,
    sum(overlaps) AS overlaps,
    argMin(f1_person, (-toInt64(link_ms), f1_person)) AS via,
    arraySort(arrayDistinct(arrayFlatten(groupArray(venues)))) AS venues,
    min(first_contact) AS first_contact,
    max(last_contact) AS last_contact
FROM links
GROUP BY person_id
ORDER BY overlap_seconds DESC, person_id
