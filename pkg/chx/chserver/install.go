package chserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// aptUpdated records a successful "apt-get update" so that it runs once per process.
var (
	aptMu      sync.Mutex
	aptUpdated bool
)

// Install makes sure a ClickHouse server binary is present. If FindBinary
// already finds one it returns nil at once. Otherwise, when running as root
// with apt-get available, it runs "apt-get update" (once per process) and
// "apt-get install -y clickhouse-server clickhouse-client", writing their
// output to w (nil discards it); when not root, it returns an error that says
// what to run. Install is safe for concurrent use; it blocks until apt-get
// finishes or ctx ends.
func Install(ctx context.Context, w io.Writer) error {
	if w == nil {
		w = io.Discard
	}
	if p, _, err := FindBinary(); err == nil {
		fmt.Fprintf(w, "chserver: ClickHouse server found at %s\n", p)
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("chserver: %w and installing it needs root; run: sudo sh -c '%s'", ErrNoBinary, InstallHint)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("chserver: %w and apt-get is not available; install ClickHouse from https://clickhouse.com/docs/en/install", ErrNoBinary)
	}

	aptMu.Lock()
	defer aptMu.Unlock()
	if !aptUpdated {
		if err := apt(ctx, w, "update"); err != nil {
			return err
		}
		aptUpdated = true
	}
	installErr := apt(ctx, w, "install", "-y", "clickhouse-server", "clickhouse-client")
	// Debian's package tries to start a system service in postinst, which
	// fails without an init system even though the files are in place.
	p, _, findErr := FindBinary()
	if findErr != nil {
		return errors.Join(installErr, findErr)
	}
	if installErr != nil {
		fmt.Fprintf(w, "chserver: apt-get reported %v, but the server is installed at %s\n", installErr, p)
	}
	return nil
}

func apt(ctx context.Context, w io.Writer, args ...string) error {
	fmt.Fprintf(w, "chserver: running apt-get %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("chserver: apt-get %s: %w", strings.Join(args, " "), err)
	}
	return nil
}
