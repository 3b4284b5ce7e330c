-- How far the `projected` topic is complete: per partition, the events offset
-- before which every applied event's projected record is confirmed delivered.
-- Written after each batch's deliveries (a replay writes it with nothing to
-- deliver); a projector that starts with next_offset ahead of it publishes the
-- difference again (a crash between a commit and its deliveries). Excluded from
-- digests, like projector_offsets.
CREATE TABLE projected_offsets (
    topic       text NOT NULL,
    partition   int4 NOT NULL,
    next_offset int8 NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Before this table existed, everything committed counted as published.
INSERT INTO projected_offsets (topic, partition, next_offset)
SELECT topic, partition, next_offset FROM projector_offsets;
