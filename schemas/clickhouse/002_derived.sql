-- Drift events published by the drift service. run_id is empty for the live
-- pipeline and names a research replay otherwise.
CREATE TABLE IF NOT EXISTS {db}.drift_events (
    drift_id         String,
    run_id           String,
    site             String,
    scope            String,
    ts               DateTime('UTC'),
    ts_ms            UInt16,
    detected_at      DateTime('UTC'),
    event_id         String,
    first_event_id   String,
    first_ts         DateTime('UTC'),
    magnitude        Float64,
    d_nav_count      Float64,
    d_main_count     Float64,
    d_form_count     Float64,
    d_button_count   Float64,
    d_dom_nodes      Float64,
    d_topology       Float64,
    baseline         Array(Float64),
    observed         Array(Float64),
    streak           UInt32,
    nodes_added      UInt32,
    nodes_removed    UInt32,
    edges_added      UInt32,
    edges_removed    UInt32,
    trace_id         String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (run_id, site, scope, ts, drift_id);

-- One record per observed flow checked against the site's corridors.
CREATE TABLE IF NOT EXISTS {db}.alignments (
    record_id       String,
    run_id          String,
    site            String,
    corridor        String,
    ts              DateTime('UTC'),
    ts_ms           UInt16,
    source          String,
    source_event_id String,
    flow_index      UInt32,
    path            Array(String),
    matched         UInt8,
    on_corridor     UInt8,
    path_match      UInt8,
    deviating_hops  UInt32,
    deviations      String,
    latency_ms      Float64,
    budget_ms       Float64,
    latency_ratio   Float64,
    within_budget   UInt8,
    score           Float64,
    running_score   Float64,
    total           UInt64,
    on_total        UInt64,
    trace_id        String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (run_id, site, corridor, ts, record_id);
