-- Every profile version a site registered; the current one is the latest
-- updated_at per site.
CREATE TABLE IF NOT EXISTS {db}.profiles (
    event_id    String,
    site        String,
    updated_at  DateTime('UTC'),
    updated_ms  UInt16,
    rtt_version String,
    contact     String,
    supports    Array(String),
    corridors   UInt32,
    profile     String,
    trace_id    String,
    stream_seq  UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(updated_at)
ORDER BY (site, event_id);

-- Diagnostics submissions (validate, corridor, topology) and their results.
CREATE TABLE IF NOT EXISTS {db}.diagnostics (
    event_id    String,
    kind        String,
    site        String,
    received_at DateTime('UTC'),
    received_ms UInt16,
    status      String,
    score       Float64,
    request     String,
    result      String,
    trace_id    String,
    stream_seq  UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (kind, site, event_id);

-- Topology snapshots carried by beacons, one row per snapshot with its edges.
CREATE TABLE IF NOT EXISTS {db}.topology_snapshots (
    event_id    String,
    site        String,
    scope       String,
    ts          DateTime('UTC'),
    ts_ms       UInt16,
    nodes       UInt32,
    edges       UInt32,
    edge_from   Array(String),
    edge_to     Array(String),
    fingerprint String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (site, scope, ts, event_id);

-- Messages that can never be processed, with the reason.
CREATE TABLE IF NOT EXISTS {db}.dead_letters (
    dlq_id      String,
    service     String,
    subject     String,
    stream      String,
    stream_seq  UInt64,
    failed_at   DateTime('UTC'),
    reason      String,
    payload     String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(failed_at)
ORDER BY (service, dlq_id);
