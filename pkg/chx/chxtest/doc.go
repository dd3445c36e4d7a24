// Package chxtest gives tests a real ClickHouse: one private server per test
// binary, started on first use from the installed binary (see chserver), and
// a fresh database per test.
//
// Use it from TestMain so that the server is stopped when the tests end:
//
//	func TestMain(m *testing.M) { os.Exit(chxtest.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		conn, db := chxtest.NewConn(t)
//		...
//	}
//
// If RTT_TEST_CLICKHOUSE_ADDR is set (host:port of a native port, user
// "default" without password) that server is used instead;
// RTT_TEST_CLICKHOUSE_BINARY picks the server binary to start (for example a
// modern clickhouse). When neither is
// available the test fails with the command that installs ClickHouse; it is
// never skipped.
package chxtest
