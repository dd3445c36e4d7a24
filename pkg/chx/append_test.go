package chx_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/chx"
	"github.com/rtt-dev/rtt/pkg/chx/chxtest"
)

// Rows appended column by column read back exactly; rows a column of which
// mixes types go in one by one, with the same result.
func TestAppendRows(t *testing.T) {
	conn, db := chxtest.NewConn(t)
	ctx := context.Background()
	table := db + ".append_rows"
	if err := conn.Exec(ctx, "CREATE TABLE "+table+` (s String, a UInt8, b UInt16, c UInt32, d UInt64, e Int64, f Float64,
		t DateTime('UTC'), ss Array(String), fs Array(Float64)) ENGINE = MergeTree ORDER BY d`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC)
	row := func(i int) []any {
		return []any{fmt.Sprint("s", i), uint8(i), uint16(i), uint32(i), uint64(i), int64(-i), float64(i) / 4,
			at.Add(time.Duration(i) * time.Second), []string{fmt.Sprint(i), "x"}, []float64{float64(i), 0.5}}
	}
	var rows [][]any
	for i := range 100 {
		rows = append(rows, row(i))
	}
	mixed := [][]any{row(100), row(101)}
	mixed[1][5] = int32(-101) // another type: the rows go in one by one
	for _, rs := range [][][]any{rows, mixed} {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" (s, a, b, c, d, e, f, t, ss, fs)")
		if err != nil {
			t.Fatal(err)
		}
		if err := chx.AppendRows(b, rs); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := conn.Query(ctx, "SELECT s, a, b, c, d, e, f, t, ss, fs FROM "+table+" ORDER BY d")
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	n := 0
	for got.Next() {
		var (
			s      string
			a      uint8
			b      uint16
			c      uint32
			d      uint64
			e      int64
			f      float64
			ts     time.Time
			ss     []string
			fs     []float64
			wanted = row(n)
		)
		if err := got.Scan(&s, &a, &b, &c, &d, &e, &f, &ts, &ss, &fs); err != nil {
			t.Fatal(err)
		}
		if g := []any{s, a, b, c, d, e, f, ts.UTC(), ss, fs}; !reflect.DeepEqual(g, wanted) {
			t.Errorf("row %d: got %v, want %v", n, g, wanted)
		}
		n++
	}
	if n != 102 {
		t.Fatalf("%d rows read back, want 102", n)
	}
}
