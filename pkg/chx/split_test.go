package chx

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []statement
	}{
		{"one without semicolon", "SELECT 1", []statement{{1, "SELECT 1"}}},
		{"two", "SELECT 1;\nSELECT 2;\n", []statement{{1, "SELECT 1"}, {2, "SELECT 2"}}},
		{"comments", "-- header\n\nCREATE TABLE t ( -- why\n  x UInt8 /* a\n b */\n) ENGINE = Memory; -- done\n-- trailer\n",
			[]statement{{3, "CREATE TABLE t ( \n  x UInt8  \n) ENGINE = Memory"}}},
		{"semicolon mid line stays", "SELECT 1; SELECT 2;\n", []statement{{1, "SELECT 1; SELECT 2"}}},
		{"quotes keep -- and ;", "SELECT '--x;\n', \"a;--\", `b;`, 'it''s', 'back\\'slash';\nSELECT 2",
			[]statement{{1, "SELECT '--x;\n', \"a;--\", `b;`, 'it''s', 'back\\'slash'"}, {3, "SELECT 2"}}},
		{"blank statements dropped", ";\n  ;\n-- only a comment;\n", nil},
		{"crlf", "SELECT 1;\r\nSELECT 2;\r\n", []statement{{1, "SELECT 1"}, {2, "SELECT 2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitStatements(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSplitStatementsErrors(t *testing.T) {
	for _, src := range []string{"SELECT 'x;\n", "SELECT 1 /* never closed", "SELECT `x"} {
		if got, err := splitStatements(src); err == nil {
			t.Errorf("%q: no error, got %+v", src, got)
		}
	}
}

func TestInlineInsert(t *testing.T) {
	for q, want := range map[string]bool{
		"INSERT INTO db.t VALUES (1)":                      true,
		"insert into `db`.`t` (a, b)\nvalues (1, 2)":       true,
		"INSERT INTO t FORMAT JSONEachRow {}":              true,
		"INSERT INTO db.t (a, b) SELECT 1, 2":              false,
		"INSERT INTO db.t SELECT values FROM x":            false,
		"INSERT INTO t (format) SELECT format FROM values": false,
		"CREATE TABLE t (a UInt8) ENGINE = Memory":         false,
	} {
		if got := inlineInsert.MatchString(q); got != want {
			t.Errorf("%q: %v, want %v", q, got, want)
		}
	}
}

func TestReadMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"010_ten.sql":    {Data: []byte("CREATE TABLE {db}.ten (x UInt8) ENGINE = Memory;")},
		"2_two.sql":      {Data: []byte("SELECT 2")},
		"001_one.sql":    {Data: []byte("SELECT 1")},
		"README.md":      {Data: []byte("not SQL")},
		"sub/099_x.sql":  {Data: []byte("SELECT 99")},
		"embed.go":       {Data: []byte("package schemas")},
		"003_empty.sql":  {Data: []byte("-- nothing yet\n")},
		"004_two.sql":    {Data: []byte("SELECT 4;\nSELECT 5;\n")},
		"0011_after.sql": {Data: []byte("SELECT 11")},
	}
	migs, err := readMigrations(fsys, "mydb")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, m := range migs {
		files = append(files, m.file)
	}
	if want := "001_one.sql 2_two.sql 003_empty.sql 004_two.sql 010_ten.sql 0011_after.sql"; strings.Join(files, " ") != want {
		t.Fatalf("order %q, want %q", files, want)
	}
	if got := migs[4].stmts[0].sql; got != "CREATE TABLE mydb.ten (x UInt8) ENGINE = Memory" {
		t.Fatalf("{db} not replaced: %q", got)
	}

	for name, fsys := range map[string]fstest.MapFS{
		"no version": {"init.sql": {Data: []byte("SELECT 1")}},
		"duplicate":  {"1_a.sql": {}, "001_b.sql": {}},
		"too big":    {"99999999999_a.sql": {}},
		"bad quote":  {"1_a.sql": {Data: []byte("SELECT 'x")}},
		"values":     {"1_a.sql": {Data: []byte("INSERT INTO {db}.t (a, `b`) VALUES (1, 2)")}},
		"format":     {"1_a.sql": {Data: []byte("INSERT INTO TABLE t FORMAT TSV")}},
	} {
		if _, err := readMigrations(fsys, "db"); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
