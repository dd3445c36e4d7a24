-- A beacon's place in the stream: POST /beacons stores a request's beacons
-- in one message, so stream_seq is the message's sequence and batch_index
-- the beacon's index in it (0 for a message of one beacon). Replay from
-- ClickHouse orders beacons by both, as the stream does.
ALTER TABLE {db}.beacons ADD COLUMN batch_index UInt16 DEFAULT 0 AFTER stream_seq;
