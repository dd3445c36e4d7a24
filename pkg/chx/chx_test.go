package chx_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/rtt-dev/rtt/pkg/chx"
	"github.com/rtt-dev/rtt/pkg/chx/chxtest"
)

func TestMain(m *testing.M) { os.Exit(chxtest.Run(m)) }

func TestOpen(t *testing.T) {
	addr, db := chxtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := chx.Open(ctx, chx.Config{Addr: addr, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got string
	if err := conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&got); err != nil || got != db {
		t.Fatalf("currentDatabase() = %q, %v; want %q", got, err, db)
	}
	v, err := conn.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server %s", v)
}

func TestOpenErrors(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := chx.Open(ctx, chx.Config{Addr: closed, DialTimeout: time.Second}); err == nil || !strings.Contains(err.Error(), closed) {
		t.Fatalf("Open(%s) = %v, want an error naming the address", closed, err)
	}
	if _, err := chx.Open(ctx, chx.Config{}); err == nil {
		t.Fatal("Open without Addr succeeded")
	}
	addr := chxtest.Addr(t)
	if _, err := chx.Open(ctx, chx.Config{Addr: addr, Database: "no_such_db_xyz"}); err == nil {
		t.Fatal("Open to a missing database succeeded")
	}
}

var schema = fstest.MapFS{
	"001_init.sql": {Data: []byte(`-- Beacons as they arrive.
CREATE TABLE IF NOT EXISTS {db}.beacons (
    ts DateTime('UTC'),
    ms UInt16,            -- milliseconds within ts; 18.16 has no DateTime64
    vehicle String,
    lat Float64,
    lon Float64,
    note Nullable(String),
    kind Enum8('gps' = 1, 'manual' = 2),
    tags Array(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(ts)
ORDER BY (vehicle, ts);

CREATE TABLE IF NOT EXISTS {db}.notes (id UInt32, text String) ENGINE = MergeTree ORDER BY id;
INSERT INTO {db}.notes (id, text) SELECT 1, 'a -- not a comment; still text';
`)},
	"002_per_minute.sql": {Data: []byte(`
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.beacons_per_minute
ENGINE = SummingMergeTree ORDER BY (vehicle, minute)
AS SELECT vehicle, toStartOfMinute(ts) AS minute, count() AS n
FROM {db}.beacons GROUP BY vehicle, minute;
`)},
	"README.md": {Data: []byte("ignored")},
}

func TestMigrate(t *testing.T) {
	conn, db := chxtest.NewConn(t)
	ctx := context.Background()

	applied, err := chx.Migrate(ctx, conn, schema, db)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"001_init.sql", "002_per_minute.sql"}; !slices.Equal(applied, want) {
		t.Fatalf("applied %q, want %q", applied, want)
	}
	again, err := chx.Migrate(ctx, conn, schema, db)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Migrate applied %q, %v; want nothing", again, err)
	}

	var text string
	if err := conn.QueryRow(ctx, "SELECT text FROM "+db+".notes WHERE id = 1").Scan(&text); err != nil || text != "a -- not a comment; still text" {
		t.Fatalf("notes: %q, %v", text, err)
	}

	rows, err := conn.Query(ctx, "SELECT version, name, applied_at FROM "+db+".schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var recorded []string
	for rows.Next() {
		var (
			v    uint32
			name string
			at   time.Time
		)
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		if time.Since(at).Abs() > time.Minute {
			t.Errorf("applied_at %v is not now", at)
		}
		recorded = append(recorded, fmt.Sprintf("%d %s", v, name))
	}
	if want := []string{"1 001_init.sql", "2 002_per_minute.sql"}; !slices.Equal(recorded, want) {
		t.Fatalf("schema_migrations %q, want %q", recorded, want)
	}

	// A new file is applied alone.
	more := fstest.MapFS{"003_idx.sql": {Data: []byte("ALTER TABLE {db}.notes ADD COLUMN extra UInt8 DEFAULT 0;")}}
	for k, v := range schema {
		more[k] = v
	}
	applied, err = chx.Migrate(ctx, conn, more, db)
	if err != nil || !slices.Equal(applied, []string{"003_idx.sql"}) {
		t.Fatalf("third Migrate applied %q, %v", applied, err)
	}
}

func TestMigrateCreatesDatabase(t *testing.T) {
	conn, db := chxtest.NewConn(t)
	ctx := context.Background()
	other := db + "_other"
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+other) })
	if _, err := chx.Migrate(ctx, conn, schema, other); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ?", other).Scan(&n); err != nil || n < 3 {
		t.Fatalf("tables in %s: %d, %v", other, n, err)
	}
	if _, err := chx.Migrate(ctx, conn, schema, "bad-name"); err == nil {
		t.Fatal("Migrate accepted database name bad-name")
	}
}

func TestMigrateBadSQL(t *testing.T) {
	conn, db := chxtest.NewConn(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"001_ok.sql": {Data: []byte("CREATE TABLE {db}.a (x UInt8) ENGINE = Memory;\n")},
		"002_bad.sql": {Data: []byte(`CREATE TABLE IF NOT EXISTS {db}.b (x UInt8) ENGINE = Memory;

-- the typo:
CREATE TABLE {db}.c (x UInt8) ENGINE = Memroy;
`)},
	}
	applied, err := chx.Migrate(ctx, conn, fsys, db)
	if err == nil {
		t.Fatal("no error")
	}
	t.Log(err)
	for _, want := range []string{"002_bad.sql", "statement 2", "line 4", "Memroy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if !slices.Equal(applied, []string{"001_ok.sql"}) {
		t.Fatalf("applied %q", applied)
	}

	// Fixed, the file runs again from its first statement and is recorded.
	fsys["002_bad.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE IF NOT EXISTS {db}.b (x UInt8) ENGINE = Memory;\nCREATE TABLE {db}.c (x UInt8) ENGINE = Memory;\n")}
	applied, err = chx.Migrate(ctx, conn, fsys, db)
	if err != nil || !slices.Equal(applied, []string{"002_bad.sql"}) {
		t.Fatalf("after fix: applied %q, %v", applied, err)
	}
}

func TestMigrateRejectsInsertValues(t *testing.T) {
	conn, db := chxtest.NewConn(t)
	fsys := fstest.MapFS{
		"001_ok.sql":     {Data: []byte("CREATE TABLE {db}.a (x UInt8) ENGINE = Memory;\n")},
		"002_values.sql": {Data: []byte("INSERT INTO {db}.a (x) SELECT 1;\n\ninsert into {db}.a values (2);\n")},
	}
	applied, err := chx.Migrate(context.Background(), conn, fsys, db)
	if !errors.Is(err, chx.ErrInlineInsert) || len(applied) != 0 || !strings.Contains(err.Error(), "002_values.sql, statement 2 at line 3") {
		t.Fatalf("applied %q, err %v; want ErrInlineInsert naming 002_values.sql and nothing applied", applied, err)
	}
}

func TestBatchInsert(t *testing.T) {
	conn, db := chxtest.NewConn(t)
	ctx := context.Background()
	if _, err := chx.Migrate(ctx, conn, schema, db); err != nil {
		t.Fatal(err)
	}

	const rows = 20000
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".beacons (ts, ms, vehicle, lat, lon, note, kind, tags)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		var note *string
		if i%2 == 0 {
			s := fmt.Sprint("n", i)
			note = &s
		}
		err := batch.Append(start.Add(time.Duration(i)*time.Second), uint16(i%1000), fmt.Sprint("v", i%10),
			52.5+float64(i)/1e6, 13.4, note, "gps", []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}

	var (
		n, notes, minutes uint64
		first             time.Time
	)
	if err := conn.QueryRow(ctx, "SELECT count(), countIf(note IS NOT NULL), min(ts) FROM "+db+".beacons WHERE kind = 'gps' AND has(tags, 'b')").Scan(&n, &notes, &first); err != nil {
		t.Fatal(err)
	}
	if n != rows || notes != rows/2 || !first.Equal(start) {
		t.Fatalf("count %d, notes %d, first %v", n, notes, first)
	}
	// The materialized view saw the batch.
	if err := conn.QueryRow(ctx, "SELECT sum(n) FROM "+db+".beacons_per_minute").Scan(&minutes); err != nil || minutes != rows {
		t.Fatalf("beacons_per_minute sum %d, %v", minutes, err)
	}
}

// TestBatchInsertWithoutColumns pins the 18.16 limit that batch inserts must
// name their columns; on a modern server both forms work.
func TestBatchInsertWithoutColumns(t *testing.T) {
	conn, db := chxtest.NewConn(t)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE "+db+".t (a UInt8, b String) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	v, err := conn.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	err = insertOne(ctx, conn, "INSERT INTO "+db+".t")
	t.Logf("ClickHouse %d.%d: INSERT without a column list: %v", v.Version.Major, v.Version.Minor, err)
	if v.Version.Major < 19 && err == nil {
		t.Error("18.16 accepted a batch insert without a column list; update CLICKHOUSE-18.md")
	}
	if err := insertOne(ctx, conn, "INSERT INTO "+db+".t (a, b)"); err != nil {
		t.Fatal(err)
	}
}

func insertOne(ctx context.Context, conn driver.Conn, query string) error {
	b, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	if err := b.Append(uint8(1), "x"); err != nil {
		return err
	}
	return b.Send()
}
