package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/rtt-dev/rtt/pkg/chx"
)

// BatchWriter inserts rows into one table. It is what the sink needs of
// ClickHouse.
type BatchWriter interface {
	// Write inserts rows into t in one INSERT. An error wrapping ErrRejected
	// means the server refused the data itself (retrying it will not help);
	// any other error is worth retrying.
	Write(ctx context.Context, t *Table, rows [][]any) error
}

// ErrRejected marks an INSERT the server refused because of its data.
var ErrRejected = errors.New("rejected by ClickHouse")

// ClickHouseWriter writes with clickhouse-go batches into database db.
type ClickHouseWriter struct {
	conn driver.Conn
	db   string
}

// NewClickHouseWriter returns a writer over conn into database db.
func NewClickHouseWriter(conn driver.Conn, db string) *ClickHouseWriter {
	return &ClickHouseWriter{conn: conn, db: db}
}

// Write implements BatchWriter.
func (w *ClickHouseWriter) Write(ctx context.Context, t *Table, rows [][]any) error {
	query := "INSERT INTO " + w.db + "." + t.Name + " (" + strings.Join(t.Columns, ", ") + ")"
	batch, err := w.conn.PrepareBatch(ctx, query)
	if err != nil {
		return classify(fmt.Errorf("prepare insert into %s: %w", t.Name, err))
	}
	if err := chx.AppendRows(batch, rows); err != nil {
		_ = batch.Abort()
		return fmt.Errorf("%w: append to %s: %v", ErrRejected, t.Name, err)
	}
	if err := batch.Send(); err != nil {
		return classify(fmt.Errorf("insert %d rows into %s: %w", len(rows), t.Name, err))
	}
	return nil
}

// classify marks server exceptions about the data as rejections; network
// and availability errors stay retryable.
func classify(err error) error {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case 6, 26, 27, 38, 41, 53, 69, 70, 72, 130, 131, 321: // parse, type and range errors
			return fmt.Errorf("%w: %v", ErrRejected, err)
		}
	}
	return err
}
