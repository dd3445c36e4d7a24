package chx

import (
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// AppendRows appends rows, each the values of one row in the batch's column
// order, column by column: each column's values go in as one typed slice,
// which spares clickhouse-go its per-row, per-value dispatch. When a
// column holds values of a type this does not know, or of mixed types, the
// rows are appended one by one instead (the same result, slower).
func AppendRows(b driver.Batch, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	cols := make([]any, width)
	for i := range width {
		c, ok := column(rows, i)
		if !ok {
			return appendEach(b, rows)
		}
		cols[i] = c
	}
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %d: %w", i+1, err)
		}
	}
	return nil
}

func appendEach(b driver.Batch, rows [][]any) error {
	for _, r := range rows {
		if err := b.Append(r...); err != nil {
			return err
		}
	}
	return nil
}

// column gathers value i of every row into a slice of its type.
func column(rows [][]any, i int) (any, bool) {
	for _, r := range rows {
		if len(r) != len(rows[0]) {
			return nil, false
		}
	}
	switch rows[0][i].(type) {
	case string:
		return typed[string](rows, i)
	case uint8:
		return typed[uint8](rows, i)
	case uint16:
		return typed[uint16](rows, i)
	case uint32:
		return typed[uint32](rows, i)
	case uint64:
		return typed[uint64](rows, i)
	case int64:
		return typed[int64](rows, i)
	case float64:
		return typed[float64](rows, i)
	case time.Time:
		return typed[time.Time](rows, i)
	case []string:
		return typed[[]string](rows, i)
	case []float64:
		return typed[[]float64](rows, i)
	}
	return nil, false
}

func typed[T any](rows [][]any, i int) (any, bool) {
	out := make([]T, len(rows))
	for j, r := range rows {
		v, ok := r[i].(T)
		if !ok {
			return nil, false
		}
		out[j] = v
	}
	return out, true
}
