-- How far the warehouse has landed a topic: the next offset of each partition. The
-- alerting job waits for the visits that triggered a re-check to be in before it reads.
-- Parameters: topic String.
SELECT partition, max(next_offset) AS next_offset
FROM sink_positions
WHERE topic = {topic:String}
GROUP BY partition
ORDER BY partition
