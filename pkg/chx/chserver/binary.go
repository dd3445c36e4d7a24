package chserver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// InstallHint is the command that installs the ClickHouse server on Debian and
// Ubuntu; error messages about a missing binary include it.
const InstallHint = "apt-get update && apt-get install -y clickhouse-server clickhouse-client"

// ErrNoBinary is returned (wrapped, with InstallHint in the message) by
// FindBinary, Start and Install when no ClickHouse server binary can be found.
var ErrNoBinary = errors.New("clickhouse-server binary not found")

// FindBinary locates the ClickHouse server and returns its path and the
// arguments that must precede the server's own: "clickhouse-server" from PATH,
// then /usr/sbin/clickhouse-server, then the single "clickhouse" binary (from
// PATH or /usr/bin/clickhouse) with the argument "server". The error wraps
// ErrNoBinary and says how to install the server.
func FindBinary() (path string, args []string, err error) {
	return findBinary(exec.LookPath, isExecutable)
}

func findBinary(lookPath func(string) (string, error), executable func(string) bool) (string, []string, error) {
	if p, err := lookPath("clickhouse-server"); err == nil {
		return p, nil, nil
	}
	if p := "/usr/sbin/clickhouse-server"; executable(p) {
		return p, nil, nil
	}
	if p, err := lookPath("clickhouse"); err == nil {
		return p, []string{"server"}, nil
	}
	if p := "/usr/bin/clickhouse"; executable(p) {
		return p, []string{"server"}, nil
	}
	return "", nil, noBinaryError(`looked for "clickhouse-server" and "clickhouse" in PATH, /usr/sbin/clickhouse-server and /usr/bin/clickhouse`)
}

// resolveBinary turns Options.Binary (a path or a name in PATH) into a path
// and leading arguments; an empty name means FindBinary.
func resolveBinary(name string) (string, []string, error) {
	if name == "" {
		return FindBinary()
	}
	var path string
	if filepath.Base(name) != name {
		if !isExecutable(name) {
			return "", nil, noBinaryError(fmt.Sprintf("%s is not an executable file", name))
		}
		path = name
	} else {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", nil, noBinaryError(fmt.Sprintf("%q is not in PATH", name))
		}
		path = p
	}
	// The all-in-one binary picks its tool from argv[0] or the first argument.
	if filepath.Base(path) == "clickhouse" {
		return path, []string{"server"}, nil
	}
	return path, nil, nil
}

func noBinaryError(detail string) error {
	return fmt.Errorf("chserver: %w (%s); install it with: %s (as root), or call chserver.Install", ErrNoBinary, detail, InstallHint)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
