// Package chx wraps clickhouse-go v2 for the project: Open dials a native
// connection and checks it, Migrate applies numbered SQL files.
//
// The SQL targets ClickHouse 18.16 as well as modern releases; see
// /work/shared/CLICKHOUSE-18.md for what 18.16 lacks. Two traps of 18.16 over
// the native protocol that clickhouse-go uses:
//
//   - A batch insert must name its columns:
//     PrepareBatch(ctx, "INSERT INTO t (a, b)"); without them Append fails
//     with "expected 0 arguments".
//   - Exec of INSERT ... VALUES (...) hangs until the read timeout (300 s by
//     default): the server waits for the rows as data blocks. Use
//     INSERT ... SELECT or PrepareBatch; Migrate rejects VALUES with
//     ErrInlineInsert.
package chx
