package chxtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/rtt-dev/rtt/pkg/chx"
	"github.com/rtt-dev/rtt/pkg/chx/chserver"
)

// EnvAddr names the environment variable that points the tests at an existing
// server (host:port of its native port) instead of starting one.
const EnvAddr = "RTT_TEST_CLICKHOUSE_ADDR"

// EnvBinary names the environment variable that chooses the server binary
// (a path, or a name in PATH) instead of chserver.FindBinary, for example to
// run the tests against a modern ClickHouse.
const EnvBinary = "RTT_TEST_CLICKHOUSE_BINARY"

// timeout bounds starting the server and each helper statement.
const timeout = 30 * time.Second

// shared is the one server (or external address) of the test binary.
var shared struct {
	once sync.Once
	addr string
	err  error

	mu      sync.Mutex // guards the fields below
	srv     *chserver.Server
	dir     string
	admin   driver.Conn // creates and drops the per-test databases
	stopped bool
}

// Start returns the native address of the test binary's ClickHouse, starting a
// private server in a temporary folder on the first call (or using
// $RTT_TEST_CLICKHOUSE_ADDR; $RTT_TEST_CLICKHOUSE_BINARY picks the binary).
// Later calls return the first call's result, so
// a failure is reported to every test that asks. Start is safe for concurrent
// use; it blocks until the server answers or ctx ends (at most 30 s). Stop, or
// Run, stops the server.
func Start(ctx context.Context) (addr string, err error) {
	shared.once.Do(func() {
		shared.addr, shared.err = start(ctx)
	})
	return shared.addr, shared.err
}

func start(ctx context.Context) (string, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.stopped {
		return "", errors.New("chxtest: Start called after Stop")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	addr := os.Getenv(EnvAddr)
	if addr == "" {
		dir, err := os.MkdirTemp("", "chxtest-")
		if err != nil {
			return "", fmt.Errorf("chxtest: %w", err)
		}
		srv, err := chserver.Start(ctx, chserver.Options{Dir: dir, Binary: os.Getenv(EnvBinary)})
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("chxtest: start ClickHouse (or set %s to use a running one): %w", EnvAddr, err)
		}
		shared.srv, shared.dir, addr = srv, dir, srv.Addr()
	}
	admin, err := chx.Open(ctx, chx.Config{Addr: addr})
	if err != nil {
		return "", fmt.Errorf("chxtest: %w", err)
	}
	shared.admin = admin
	return addr, nil
}

// Stop stops the server Start started, removes its folder and closes the
// helper connection. It is idempotent and safe to call when Start never ran;
// after it, Start fails.
func Stop() error {
	return stop(true)
}

func stop(removeDir bool) error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.stopped {
		return nil
	}
	shared.stopped = true
	var errs []error
	if shared.admin != nil {
		errs = append(errs, shared.admin.Close())
	}
	if shared.srv != nil {
		errs = append(errs, shared.srv.Stop())
		if removeDir {
			errs = append(errs, os.RemoveAll(shared.dir))
		} else {
			fmt.Fprintf(os.Stderr, "chxtest: ClickHouse folder with its log kept at %s\n", shared.dir)
		}
	}
	return errors.Join(errs...)
}

// Run runs the tests and then stops the shared server, returning the exit
// code for os.Exit: func TestMain(m *testing.M) { os.Exit(chxtest.Run(m)) }.
// When tests fail, the server's folder (with its log) is kept and its path
// printed. A failure to stop turns a passing run into exit code 1.
func Run(m *testing.M) int {
	code := m.Run()
	if err := stop(code == 0); err != nil {
		fmt.Fprintf(os.Stderr, "chxtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Addr returns the shared server's native address, starting it if needed;
// it fails the test (with the install command when the binary is missing) if
// the server cannot be had.
func Addr(t testing.TB) string {
	t.Helper()
	addr, err := Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// NewDatabase creates a database unique to the test on the shared server and
// returns the server's native address and the database name. The database is
// dropped when the test and its subtests finish.
func NewDatabase(t testing.TB) (addr, db string) {
	t.Helper()
	addr = Addr(t)
	shared.mu.Lock()
	admin := shared.admin
	shared.mu.Unlock()

	db = databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := admin.Exec(ctx, "CREATE DATABASE `"+db+"`"); err != nil {
		t.Fatalf("chxtest: create database %s: %v", db, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := admin.Exec(ctx, "DROP DATABASE IF EXISTS `"+db+"`"); err != nil {
			t.Errorf("chxtest: drop database %s: %v", db, err)
		}
	})
	return addr, db
}

// NewConn creates a database as NewDatabase does and returns a connection
// whose default database it is, with the database's name. The connection is
// closed before the database is dropped.
func NewConn(t testing.TB) (driver.Conn, string) {
	t.Helper()
	addr, db := NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := chx.Open(ctx, chx.Config{Addr: addr, Database: db})
	if err != nil {
		t.Fatalf("chxtest: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, db
}

var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// databaseName makes a name from the test's name that is a plain identifier,
// short, and unique even across test binaries sharing a server.
func databaseName(test string) string {
	s := strings.Trim(notIdent.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if len(s) > 40 {
		s = s[:40]
	}
	return fmt.Sprintf("test_%s_%08x", s, rand.Uint32())
}

// EnvHTTPAddr names the environment variable giving the HTTP address
// (host:port) of the server that EnvAddr points at.
const EnvHTTPAddr = "RTT_TEST_CLICKHOUSE_HTTP_ADDR"

// HTTPAddr returns the shared server's HTTP address, for clients that speak
// ClickHouse's HTTP interface (the SDK test suites). With EnvAddr set, it
// needs EnvHTTPAddr too.
func HTTPAddr(t testing.TB) string {
	t.Helper()
	Addr(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		return shared.srv.HTTPAddr()
	}
	if a := os.Getenv(EnvHTTPAddr); a != "" {
		return a
	}
	t.Fatalf("chxtest: %s is set but %s is not", EnvAddr, EnvHTTPAddr)
	return ""
}
