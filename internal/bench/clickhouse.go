package bench

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/rtt-dev/rtt/pkg/chx"
	"github.com/rtt-dev/rtt/schemas"
)

// sinkBatch is the sink's default RTT_SINK_BATCH_SIZE: the raw reference
// inserts batches of the same size.
const sinkBatch = 5000

// phaseClickHouse measures figure 3: a clickhouse-go batch insert (values
// appended column by column), one batch of sinkBatch rows after the other
// as the sink does, of the rows the
// sink wrote in its first run (read back, so they are exactly the same
// values) into the same table (the project's migrations in a new
// database), no NATS.
func (e *env) phaseClickHouse(ctx context.Context, rep *Report) error {
	cols, rows := e.rowCols, e.rows
	if len(rows) == 0 {
		return fmt.Errorf("no rows to insert: the sink phase reads them back from its first run")
	}
	var runs []float64
	for i := range e.cfg.Runs {
		db := fmt.Sprintf("bench_raw_%d", i+1)
		if err := e.chConn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			return err
		}
		if _, err := chx.Migrate(ctx, e.chConn, schemas.ClickHouse(), db); err != nil {
			return err
		}
		query := "INSERT INTO " + db + ".beacons (" + strings.Join(cols, ", ") + ")"
		start := time.Now()
		for k := 0; k < len(rows); k += sinkBatch {
			batch, err := e.chConn.PrepareBatch(ctx, query)
			if err != nil {
				return err
			}
			// Column by column, the fastest way clickhouse-go has, as the
			// sink appends.
			if err := chx.AppendRows(batch, rows[k:min(k+sinkBatch, len(rows))]); err != nil {
				return err
			}
			if err := batch.Send(); err != nil {
				return err
			}
		}
		rate := float64(len(rows)) / time.Since(start).Seconds()
		if err := e.chConn.Exec(ctx, "DROP DATABASE "+db); err != nil {
			return err
		}
		e.logf("raw ClickHouse insert, run %d: %.0f rows/s (%d rows, batches of %d)", i+1, rate, len(rows), sinkBatch)
		runs = append(runs, rate)
	}
	rep.add(Figure{Name: "raw_clickhouse_insert", Value: median(runs), Unit: "rows/s", runs: runs})
	return nil
}

// readRows reads every row of table with the Go types clickhouse-go scans
// them into (the types the sink appends), in column order.
func (e *env) readRows(ctx context.Context, table string) ([]string, [][]any, error) {
	rs, err := e.chConn.Query(ctx, "SELECT * FROM "+table)
	if err != nil {
		return nil, nil, err
	}
	defer rs.Close()
	cols := rs.Columns()
	types := rs.ColumnTypes()
	var rows [][]any
	for rs.Next() {
		ptrs := make([]any, len(types))
		for i, t := range types {
			ptrs[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = reflect.ValueOf(p).Elem().Interface()
		}
		rows = append(rows, row)
	}
	return cols, rows, rs.Err()
}
