package chxtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/chx/chserver"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

func TestNewDatabase(t *testing.T) {
	first, err := Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if again := Addr(t); again != first {
		t.Fatalf("second Start gave %s, first %s", again, first)
	}

	var inner string
	t.Run("sub/test name", func(t *testing.T) {
		conn, db := NewConn(t)
		inner = db
		if !regexp.MustCompile(`^test_testnewdatabase_sub_test_name_[0-9a-f]{8}$`).MatchString(db) {
			t.Errorf("database name %q", db)
		}
		var cur string
		if err := conn.QueryRow(context.Background(), "SELECT currentDatabase()").Scan(&cur); err != nil || cur != db {
			t.Fatalf("currentDatabase() = %q, %v", cur, err)
		}
		if _, other := NewDatabase(t); other == db {
			t.Fatalf("two databases named %s", db)
		}
	})
	if n := countDatabases(t, inner); n != 0 {
		t.Fatalf("database %s still exists after its test", inner)
	}
}

func countDatabases(t *testing.T, name string) uint64 {
	t.Helper()
	var n uint64
	if err := shared.admin.QueryRow(context.Background(), "SELECT count() FROM system.databases WHERE name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDatabaseName(t *testing.T) {
	for in, prefix := range map[string]string{
		"TestX":                        "test_testx_",
		"TestA/Ü b-c":                  "test_testa_b_c_",
		strings.Repeat("TestLong", 10): "test_" + strings.Repeat("testlong", 5) + "_",
	} {
		if got := databaseName(in); !strings.HasPrefix(got, prefix) || len(got) != len(prefix)+8 {
			t.Errorf("databaseName(%q) = %q, want %q + 8 hex digits", in, got, prefix)
		}
	}
}

// TestHelperProcess is the child that the tests below run in a fresh test
// binary, where the shared server has not been started yet.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("CHXTEST_HELPER") == "" {
		t.Skip("runs only as the child of TestRunStopsServer, TestEnvAddr and TestMissingBinary")
	}
	addr, db := NewDatabase(t)
	fmt.Printf("ADDR %s DIR %s DB %s\n", addr, shared.dir, db)
}

func runHelper(t *testing.T, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "CHXTEST_HELPER=1", EnvAddr+"=", EnvBinary+"=")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var helperLine = regexp.MustCompile(`ADDR (\S+) DIR (\S*) DB (\S+)`)

func TestRunStopsServer(t *testing.T) {
	out, err := runHelper(t)
	m := helperLine.FindStringSubmatch(out)
	if err != nil || m == nil || m[2] == "" {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if _, err := os.Stat(m[2]); !os.IsNotExist(err) {
		t.Errorf("server folder %s still there: %v", m[2], err)
	}
	if c, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
		c.Close()
		t.Errorf("server at %s still answers after Run returned", m[1])
	}
}

func TestEnvAddr(t *testing.T) {
	addr := Addr(t)
	out, err := runHelper(t, EnvAddr+"="+addr)
	m := helperLine.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if m[1] != addr || m[2] != "" {
		t.Fatalf("child used %s (folder %q), want %s and no server of its own", m[1], m[2], addr)
	}
	if countDatabases(t, m[3]) != 0 {
		t.Errorf("child left database %s behind", m[3])
	}
}

func TestMissingBinary(t *testing.T) {
	out, err := runHelper(t, EnvBinary+"=/nonexistent/clickhouse-server")
	if err == nil || !strings.Contains(out, "--- FAIL: TestHelperProcess") || !strings.Contains(out, chserver.InstallHint) {
		t.Fatalf("child should fail with the install hint; err %v\n%s", err, out)
	}
}
