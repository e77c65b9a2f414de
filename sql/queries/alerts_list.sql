-- Alerts, latest version of each, newest first; '' for a filter means any. The area
-- filter matches a venue whose area path holds it (a commune, its district, the province).
-- Parameters: venue String, area String, case String, status String.
SELECT a.alert_id AS alert_id, a.latest_version AS version, a.kind AS kind, a.status AS status,
       a.venue_id AS venue_id, v.name AS venue_name, v.area_id AS area_id, a.case_ids AS case_ids,
       a.first_presence AS first_presence, a.last_presence AS last_presence, a.visits AS visits,
       a.exposed AS exposed, a.created_at AS created_at, a.updated_at AS updated_at,
       a.seconds_from_registration AS seconds_from_registration, a.reason AS reason
FROM
(
    SELECT alert_id, max(version) AS latest_version, argMax(kind, version) AS kind, argMax(status, version) AS status,
           argMax(venue_id, version) AS venue_id, argMax(case_ids, version) AS case_ids,
           argMax(first_presence, version) AS first_presence, argMax(last_presence, version) AS last_presence,
           argMax(visits, version) AS visits, argMax(exposed, version) AS exposed, min(created_at) AS created_at,
           max(updated_at) AS updated_at, argMax(seconds_from_registration, version) AS seconds_from_registration,
           argMax(reason, version) AS reason
    FROM alerts
    GROUP BY alert_id
) AS a
LEFT JOIN
(
    SELECT venue_id, argMax(name, kafka_offset) AS name, argMax(area_id, kafka_offset) AS area_id,
           argMax(area_path, kafka_offset) AS area_path
    FROM venues
    GROUP BY venue_id
) AS v ON v.venue_id = a.venue_id
WHERE ({venue:String} = '' OR a.venue_id = {venue:String})
  AND ({case:String} = '' OR has(a.case_ids, {case:String}))
  AND ({status:String} = '' OR a.status = {status:String})
  AND ({area:String} = '' OR has(v.area_path, {area:String}))
ORDER BY a.updated_at DESC, a.alert_id
