// Package sdk runs the Python and JavaScript SDK suites, the guide's
// examples among them, against a real rtt stack and ClickHouse.
package sdk

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rtt-dev/rtt/pkg/chx/chxtest"
	"github.com/rtt-dev/rtt/test/stacktest"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m, "../..")) }

// runSuite runs a test command from the module root against a fresh stack.
func runSuite(t *testing.T, name string, args ...string) {
	_, db := chxtest.NewDatabase(t)
	st := stacktest.StartStack(t, db)
	cmd := exec.Command(name, args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(),
		"RTT_URL="+st.API,
		"RTT_CLICKHOUSE_HTTP=http://"+chxtest.HTTPAddr(t),
		"RTT_CLICKHOUSE_DATABASE="+db,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("%s %v:\n%s", name, args, out)
	if err != nil {
		t.Fatalf("%s suite failed: %v", name, err)
	}
}

func TestPythonSDK(t *testing.T) {
	runSuite(t, "python3", "-m", "unittest", "discover", "-v", "-s", "sdk/python/tests", "-t", "sdk/python")
}

func TestJavaScriptSDK(t *testing.T) {
	runSuite(t, "node", "--test", "sdk/js/test/")
}
