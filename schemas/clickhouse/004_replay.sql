-- Research replays (rtt replay run), kept apart from the live tables so that
-- a replay never changes what dashboards show. docs/replay.md describes them.

-- One row per state of a run; the latest version wins (read with FINAL).
-- status: running while results are written, done once they are complete,
-- interrupted / failed / removed after its results were dropped. Only done
-- runs are complete: join results to the runs with status = 'done'.
CREATE TABLE IF NOT EXISTS {db}.replay_runs (
    run_id        String,
    version       UInt64,
    status        String,
    created_at    DateTime('UTC'),
    finished_at   DateTime('UTC'),
    source        String,
    selection     String,
    params        String,
    command       String,
    beacons       UInt64,
    unreadable    UInt64,
    drift_events  UInt64,
    alignments    UInt64,
    digest        String,
    first_ts      DateTime('UTC'),
    last_ts       DateTime('UTC'),
    error         String
) ENGINE = ReplacingMergeTree(version)
ORDER BY run_id;

-- Drift events of research runs: the columns of drift_events (run_id never
-- empty, no trace id). One partition per run, so removing a run is
-- dropping its partition.
CREATE TABLE IF NOT EXISTS {db}.replay_drift_events (
    drift_id         String,
    run_id           String,
    site             String,
    scope            String,
    cluster          String,
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
    edges_removed    UInt32
) ENGINE = ReplacingMergeTree()
PARTITION BY run_id
ORDER BY (run_id, site, scope, ts, drift_id);

-- Corridor alignment records of research runs: the columns of alignments.
CREATE TABLE IF NOT EXISTS {db}.replay_alignments (
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
    on_total        UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY run_id
ORDER BY (run_id, site, corridor, ts, record_id);
