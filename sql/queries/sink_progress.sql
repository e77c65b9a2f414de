-- How far the sink has landed every topic (the operations page): per topic, the partitions
-- it has written, the sum of their next offsets (messages landed, against the topic's end
-- offsets on the broker) and when its latest batch was written there.
-- Parameters: none.
SELECT
    topic,
    count() AS partitions,
    sum(next_offset) AS landed,
    max(updated_at) AS last_batch_at
FROM
(
    SELECT topic, partition, max(next_offset) AS next_offset, max(updated_at) AS updated_at
    FROM sink_positions
    GROUP BY topic, partition
)
GROUP BY topic
ORDER BY topic
