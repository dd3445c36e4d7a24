package sink

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// partitioned are the tables retention applies to and the granularity of
// their partition key: toYYYYMMDD (day) or toYYYYMM (month).
var partitioned = []struct {
	table string
	month bool
}{
	{"beacons", false}, {"topology_snapshots", false}, {"drift_events", false}, {"alignments", false},
	{"profiles", true}, {"diagnostics", true}, {"dead_letters", true},
}

// DropExpired drops every partition whose whole period ended before now
// minus keep, the retention the project does itself because ClickHouse 18.16
// has no TTL. It returns the dropped partitions as "table/partition".
func DropExpired(ctx context.Context, conn driver.Conn, db string, keep time.Duration, now time.Time) ([]string, error) {
	cutoff := now.Add(-keep).UTC()
	day, _ := strconv.Atoi(cutoff.Format("20060102"))
	month, _ := strconv.Atoi(cutoff.Format("200601"))
	var dropped []string
	for _, p := range partitioned {
		rows, err := conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active", db, p.table)
		if err != nil {
			return dropped, fmt.Errorf("list partitions of %s: %w", p.table, err)
		}
		var parts []int
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return dropped, err
			}
			if v, err := strconv.Atoi(s); err == nil {
				parts = append(parts, v)
			}
		}
		rows.Close()
		limit := day
		if p.month {
			limit = month
		}
		for _, v := range parts {
			if v >= limit {
				continue
			}
			if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %d", db, p.table, v)); err != nil {
				return dropped, fmt.Errorf("drop partition %d of %s: %w", v, p.table, err)
			}
			dropped = append(dropped, fmt.Sprintf("%s/%d", p.table, v))
		}
	}
	return dropped, nil
}

// retain runs DropExpired now and then every hour until ctx ends.
func (s *Service) retain(ctx context.Context) {
	for {
		dropped, err := DropExpired(ctx, s.ch, s.cfg.ClickHouse.Database, s.cfg.Retention, time.Now())
		if err != nil {
			s.log.Warn().Err(err).Msg("retention pass failed")
		} else if len(dropped) > 0 {
			s.log.Info().Strs("partitions", dropped).Dur("keep", s.cfg.Retention).Msg("expired partitions dropped")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}
