package chx

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultDialTimeout is used by Open when Config.DialTimeout is zero; it also
// bounds Open's ping when ctx has no deadline.
const DefaultDialTimeout = 10 * time.Second

// Config says where Open connects.
type Config struct {
	// Addr is host:port of the native protocol (usually port 9000).
	Addr string
	// Database is the connection's default database; empty means the
	// server's default ("default").
	Database string
	// Username defaults to "default"; Password may be empty.
	Username, Password string
	// DialTimeout bounds each dial; zero means DefaultDialTimeout.
	DialTimeout time.Duration
}

// Open opens a clickhouse-go v2 native connection pool to c.Addr and pings it,
// so that an error comes back now rather than at the first query. The ping
// respects ctx (or DefaultDialTimeout if ctx has no deadline). The returned
// driver.Conn is safe for concurrent use; the caller closes it.
func Open(ctx context.Context, c Config) (driver.Conn, error) {
	if c.Addr == "" {
		return nil, fmt.Errorf("chx: open: Config.Addr is empty")
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Username == "" {
		c.Username = "default"
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{c.Addr},
		Auth: clickhouse.Auth{
			Database: c.Database,
			Username: c.Username,
			Password: c.Password,
		},
		DialTimeout: c.DialTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("chx: open %s: %w", c.Addr, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.DialTimeout)
		defer cancel()
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("chx: ping %s (database %q, user %q): %w", c.Addr, c.Database, c.Username, err)
	}
	return conn, nil
}
