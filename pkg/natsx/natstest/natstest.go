// Package natstest runs a real NATS server with JetStream inside a test.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/rtt-dev/rtt/pkg/natsx"
)

// RunServer starts an embedded JetStream server on a free port with its
// storage in a temporary folder, and shuts it down when the test ends.
func RunServer(t testing.TB) *server.Server {
	t.Helper()
	return RunServerIn(t, t.TempDir(), -1)
}

// RunServerIn starts a server storing in dir on port (-1 for a free one); a
// test restarts a server on the same folder and port to check durability.
func RunServerIn(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	s, err := natsx.StartEmbedded(natsx.EmbeddedConfig{Dir: dir, Port: port}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect connects to url and returns the connection and its JetStream
// context with rtt's streams in place. Closed when the test ends.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsx.EnsureStreams(ctx, js, natsx.DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	return nc, js
}
