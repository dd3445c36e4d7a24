package chx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// MigrationsTable is the table, in the migrated database, that records which
// migration files have been applied.
const MigrationsTable = "schema_migrations"

var (
	migrationName = regexp.MustCompile(`^(\d+)_.+\.sql$`)
	identifier    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// inlineInsert matches INSERT statements that carry their rows in the
	// query text, which 18.16 cannot execute over the native protocol.
	inlineInsert = regexp.MustCompile(`(?is)^INSERT\s+INTO\s+(TABLE\s+)?[\w.` + "`" + `"]+\s*(\([^)]*\))?\s*(VALUES|FORMAT)\b`)
)

// ErrInlineInsert is returned by Migrate for an INSERT ... VALUES (or
// FORMAT) statement. Over the native protocol ClickHouse 18.16 answers such
// a query by waiting for the rows as data blocks from the client, so
// driver.Conn.Exec hangs until its read timeout (300 s by default). Write
// INSERT INTO t (a, b) SELECT 1, 'x' instead, or use PrepareBatch in code.
var ErrInlineInsert = errors.New("INSERT ... VALUES hangs on ClickHouse 18.16 over the native protocol; use INSERT ... SELECT")

// migration is one parsed NNN_name.sql file.
type migration struct {
	version uint32
	file    string
	stmts   []statement
}

// statement is one SQL statement and the line of the file it starts on.
type statement struct {
	line int
	sql  string
}

// Migrate creates database db if it is missing and applies, in numeric
// order, the files NNN_name.sql at the root of fsys whose version NNN is not
// yet recorded in db.schema_migrations (version UInt32, name String,
// applied_at DateTime). Use fs.Sub to point it at a folder of an embed.FS.
//
// A file may hold several statements, each ended by ';' at the end of a
// line; -- and /* */ comments are removed (not inside quotes). Every {db} in
// the SQL becomes the database name: write {db}.table, because unqualified
// names resolve to the connection's database, not to db.
//
// Migrate returns the names of the files it applied, in order; running it
// again applies nothing. All files are parsed before any runs, so a bad file
// name, an unterminated quote or an INSERT ... VALUES (ErrInlineInsert)
// stops it before anything runs. ClickHouse has no
// transactional DDL: when a statement fails, the error names the file, the
// statement and its line, the statements before it in that file stay
// applied, and the file is not recorded, so it runs again from its first
// statement next time; prefer statements that can be repeated (IF NOT
// EXISTS). Migrate does not lock: run it from one process at a time.
func Migrate(ctx context.Context, conn driver.Conn, fsys fs.FS, db string) ([]string, error) {
	if !identifier.MatchString(db) {
		return nil, fmt.Errorf("chx: migrate: database name %q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", db)
	}
	migs, err := readMigrations(fsys, db)
	if err != nil {
		return nil, err
	}

	table := "`" + db + "`." + MigrationsTable
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS `" + db + "`",
		"CREATE TABLE IF NOT EXISTS " + table + " (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree ORDER BY version",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("chx: migrate %s: %s: %w", db, q, err)
		}
	}
	done, err := appliedVersions(ctx, conn, table)
	if err != nil {
		return nil, fmt.Errorf("chx: migrate %s: %w", db, err)
	}

	var applied []string
	for _, m := range migs {
		if done[m.version] {
			continue
		}
		for i, s := range m.stmts {
			if err := conn.Exec(ctx, s.sql); err != nil {
				return applied, fmt.Errorf("chx: migration %s, statement %d at line %d (%s): %w", m.file, i+1, s.line, excerpt(s.sql), err)
			}
		}
		// INSERT ... SELECT, not VALUES: see inlineInsert. clickhouse-go binds
		// the arguments on the client for 18.16.
		if err := conn.Exec(ctx, "INSERT INTO "+table+" (version, name, applied_at) SELECT toUInt32(?), ?, now()", m.version, m.file); err != nil {
			return applied, fmt.Errorf("chx: migration %s applied but not recorded: %w", m.file, err)
		}
		applied = append(applied, m.file)
	}
	return applied, nil
}

func appliedVersions(ctx context.Context, conn driver.Conn, table string) (map[uint32]bool, error) {
	rows, err := conn.Query(ctx, "SELECT version FROM "+table)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	done := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		done[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	return done, nil
}

// readMigrations reads and splits every .sql file at the root of fsys,
// sorted by version. Other files are ignored; a .sql file without a version
// prefix, or two files with one version, is an error.
func readMigrations(fsys fs.FS, db string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("chx: migrate: read migrations: %w", err)
	}
	var migs []migration
	seen := map[uint32]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		m := migrationName.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("chx: migration %s: name must look like NNN_name.sql", name)
		}
		v, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("chx: migration %s: version: %w", name, err)
		}
		if other, ok := seen[uint32(v)]; ok {
			return nil, fmt.Errorf("chx: migrations %s and %s have the same version %d", other, name, v)
		}
		seen[uint32(v)] = name
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("chx: migration %s: %w", name, err)
		}
		stmts, err := splitStatements(strings.ReplaceAll(string(src), "{db}", db))
		if err != nil {
			return nil, fmt.Errorf("chx: migration %s: %w", name, err)
		}
		for i, s := range stmts {
			if inlineInsert.MatchString(s.sql) {
				return nil, fmt.Errorf("chx: migration %s, statement %d at line %d (%s): %w", name, i+1, s.line, excerpt(s.sql), ErrInlineInsert)
			}
		}
		migs = append(migs, migration{version: uint32(v), file: name, stmts: stmts})
	}
	slices.SortFunc(migs, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	return migs, nil
}

// splitStatements removes comments from src and splits it at every ';' that
// ends a line (only blanks or a -- comment may follow it). Quoted strings and
// identifiers ('...', "...", `...`, with backslash escapes and doubled
// quotes) are kept as they are.
func splitStatements(src string) ([]statement, error) {
	var (
		out   []statement
		cur   strings.Builder
		line  = 1
		start = 0 // line where the current statement starts; 0 before its first character
	)
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, statement{line: start, sql: s})
		}
		cur.Reset()
		start = 0
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case strings.HasPrefix(src[i:], "--"):
			if j := strings.IndexByte(src[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(src)
			}
			continue
		case strings.HasPrefix(src[i:], "/*"):
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("line %d: unterminated /* comment", line)
			}
			comment := src[i : i+2+j+2]
			line += strings.Count(comment, "\n")
			cur.WriteByte(' ')
			i += len(comment)
			continue
		case c == '\'' || c == '"' || c == '`':
			if start == 0 {
				start = line
			}
			j, err := endOfQuoted(src, i)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			line += strings.Count(src[i:j], "\n")
			cur.WriteString(src[i:j])
			i = j
			continue
		case c == ';' && atLineEnd(src[i+1:]):
			flush()
			i++
			continue
		case c == '\n':
			line++
		}
		if start == 0 && !strings.ContainsRune(" \t\r\n", rune(c)) {
			start = line
		}
		cur.WriteByte(c)
		i++
	}
	flush()
	return out, nil
}

// endOfQuoted returns the index just after the quoted text that starts at src[i].
func endOfQuoted(src string, i int) (int, error) {
	q := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(src) && src[j+1] == q {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated %c", q)
}

// atLineEnd reports whether rest holds only blanks, or a -- comment, before
// the next newline.
func atLineEnd(rest string) bool {
	rest = strings.TrimLeft(rest, " \t\r")
	return rest == "" || rest[0] == '\n' || strings.HasPrefix(rest, "--")
}

// excerpt shortens a statement for an error message.
func excerpt(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "..."
	}
	return strconv.Quote(s)
}
