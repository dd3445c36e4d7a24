-- Every accepted beacon. ReplacingMergeTree keyed by the event id (ts and
-- site are functions of it), so a batch inserted twice collapses; dashboards
-- read with FINAL or count distinct event ids.
CREATE TABLE IF NOT EXISTS {db}.beacons (
    event_id       String,
    site           String,
    session        String,
    event          String,
    scope          String,
    ts             DateTime('UTC'),
    ts_ms          UInt16,
    received_at    DateTime('UTC'),
    url            String,
    title          String,
    nav_count      UInt32,
    main_count     UInt32,
    form_count     UInt32,
    button_count   UInt32,
    dom_nodes      UInt32,
    label_keys     Array(String),
    label_values   Array(String),
    topology_nodes UInt32,
    topology_edges UInt32,
    flow_count     UInt32,
    trace_id       String,
    stream_seq     UInt64,
    payload        String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (site, ts, event_id);
