package replay

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/rtt-dev/rtt/pkg/batch"
)

// ClickHouseSource reads the raw payloads the sink keeps in
// DB.beacons (FINAL, so a beacon inserted twice is read once), for slices
// older than the stream's retention. Rows come in stream sequence order,
// the order the live services applied them.
type ClickHouseSource struct {
	Conn driver.Conn
	DB   string
}

// Name implements Source.
func (s *ClickHouseSource) Name() string { return "clickhouse" }

// where is the SQL condition that pre-selects sel: event times at whole
// seconds around the bounds (Match decides exactly), arrival times, sites
// and events.
func (s *ClickHouseSource) where(sel Selection) string {
	var conds []string
	if !sel.From.IsZero() {
		conds = append(conds, fmt.Sprintf("ts >= toDateTime(%d)", sel.From.Unix()))
	}
	if !sel.To.IsZero() {
		conds = append(conds, fmt.Sprintf("ts <= toDateTime(%d)", sel.To.Unix()))
	}
	af, at := sel.arrivalBounds()
	if !af.IsZero() {
		conds = append(conds, fmt.Sprintf("received_at >= toDateTime(%d)", af.Unix()))
	}
	if !at.IsZero() {
		conds = append(conds, fmt.Sprintf("received_at < toDateTime(%d)", at.Unix()))
	}
	if len(sel.Sites) > 0 {
		conds = append(conds, "site IN ("+quoteList(sel.Sites)+")")
	}
	if len(sel.Events) > 0 {
		conds = append(conds, "event IN ("+quoteList(sel.Events)+")")
	}
	if len(conds) == 0 {
		return "1"
	}
	return strings.Join(conds, " AND ")
}

// Read implements Source.
func (s *ClickHouseSource) Read(ctx context.Context, sel Selection, total func(int64), fn func(Item) error) error {
	table := ident(s.DB) + ".beacons"
	where := s.where(sel)
	if total != nil {
		var n uint64
		if err := s.Conn.QueryRow(ctx, "SELECT count() FROM "+table+" FINAL WHERE "+where).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", table, err)
		}
		if n == 0 {
			return nil
		}
		total(int64(n))
	}
	rows, err := s.Conn.Query(ctx, "SELECT event_id, received_at, stream_seq, batch_index, payload FROM "+table+" FINAL WHERE "+where+" ORDER BY stream_seq, batch_index, event_id")
	if err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			it       Item
			received time.Time
			seq      uint64
			index    uint16
			payload  string
		)
		if err := rows.Scan(&it.EventID, &received, &seq, &index, &payload); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		it.Seq = batch.Pos(seq, int(index))
		it.Received, it.Payload = received.UTC(), []byte(payload)
		it.decode()
		if err := fn(it); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("read %s: %w", table, err)
	}
	return ctx.Err()
}

// quoteList renders names as a list of ClickHouse string literals.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

// quote renders s as a ClickHouse string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// ident renders a database name as a quoted identifier.
func ident(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
