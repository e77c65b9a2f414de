-- The person with the most visits in a window (the demo registers them as a case, so that
-- alerts appear); no row when nobody has a visit yet.
-- Parameters: from DateTime64, to DateTime64.
SELECT person_id, count() AS visits
FROM visits_by_person
WHERE t_in < {to:DateTime64(3, 'UTC')} AND t_out > {from:DateTime64(3, 'UTC')} AND NOT deleted
GROUP BY person_id
ORDER BY visits DESC, person_id
LIMIT 1
