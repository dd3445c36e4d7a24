package chserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults used by Start and Stop.
const (
	// DefaultStartTimeout bounds Start when ctx has no deadline.
	DefaultStartTimeout = 30 * time.Second
	// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
	StopTimeout = 10 * time.Second
)

// Options configure Start. Only Dir is required.
type Options struct {
	// Dir is the server's folder: config.xml, users.xml, data/, tmp/ and log/
	// go under it. It is created if missing and kept by Stop, so a server
	// started again on the same Dir finds its data.
	Dir string
	// Binary is the server executable, a path or a name in PATH. Empty means
	// FindBinary. A binary named "clickhouse" gets the argument "server".
	Binary string
	// Host is the address to listen on; default 127.0.0.1.
	Host string
	// TCPPort is the native-protocol port; 0 picks a free one.
	TCPPort int
	// HTTPPort is the HTTP port; 0 picks a free one.
	HTTPPort int
	// Stdout and Stderr receive the server's console log (18.16 writes it
	// to stderr). When both are nil the log goes to
	// Dir/log/clickhouse-server.log; when only one is nil, that stream is
	// kept only for the log tail in Start's errors.
	Stdout, Stderr io.Writer
}

// Server is a running ClickHouse server started by Start. Its methods are safe
// for concurrent use.
type Server struct {
	cmd      *exec.Cmd
	host     string
	tcpPort  int
	httpPort int
	logFile  string
	log      *tailBuffer

	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// errPortTaken marks a start that failed because a picked port was taken
// between picking and binding; Start then tries other ports.
var errPortTaken = errors.New("port already in use")

// Start writes a self-contained configuration into o.Dir, starts the server
// and returns once it answers GET /ping with "Ok.". It waits until ctx ends,
// or DefaultStartTimeout if ctx has no deadline; ctx does not bound the
// server's life, which lasts until Stop. When no binary is found the error
// wraps ErrNoBinary and says how to install one; when the server exits or
// does not answer in time, the error includes the tail of its log. Free ports
// are picked for zero ports, and picked again if another process takes one
// before the server binds it.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("chserver: Options.Dir is required")
	}
	bin, args, err := resolveBinary(o.Binary)
	if err != nil {
		return nil, err
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}

	attempts := 1
	if o.TCPPort == 0 || o.HTTPPort == 0 {
		attempts = 3
	}
	for i := 1; ; i++ {
		s, err := start(ctx, o, bin, args)
		if err == nil || !errors.Is(err, errPortTaken) || i == attempts || ctx.Err() != nil {
			return s, err
		}
	}
}

func start(ctx context.Context, o Options, bin string, args []string) (*Server, error) {
	tcpPort, httpPort, err := pickPorts(o.Host, o.TCPPort, o.HTTPPort)
	if err != nil {
		return nil, err
	}
	l, err := newLayout(o.Dir, o.Host, tcpPort, httpPort)
	if err != nil {
		return nil, err
	}
	if err := l.write(); err != nil {
		return nil, err
	}

	s := &Server{
		host:     o.Host,
		tcpPort:  tcpPort,
		httpPort: httpPort,
		log:      newTailBuffer(32 << 10),
		done:     make(chan struct{}),
	}
	stdout, stderr := o.Stdout, o.Stderr
	var logFile *os.File
	if stdout == nil && stderr == nil {
		logFile, err = os.OpenFile(l.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("chserver: %w", err)
		}
		s.logFile = l.LogFile
		stdout, stderr = logFile, logFile
	}
	cmd := exec.Command(bin, append(args, "--config-file="+l.Config)...)
	cmd.Dir = l.Dir
	cmd.Stdout = teeTo(stdout, s.log)
	cmd.Stderr = teeTo(stderr, s.log)
	cmd.SysProcAttr = sysProcAttr()
	// Do not let a grandchild that inherited the output pipes hold Wait open.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, fmt.Errorf("chserver: start %s: %w", bin, err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		close(s.done)
	}()

	if err := s.waitReady(ctx); err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

// waitReady polls /ping until the server answers, exits or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	url := "http://" + s.HTTPAddr() + "/ping"
	// No keep-alive: an idle HTTP connection delays the server's shutdown.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("chserver: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "Ok." {
				return nil
			}
			err = fmt.Errorf("GET /ping: %s %q", resp.Status, body)
		}
		lastErr = err
		select {
		case <-s.done:
			tail := s.log.String()
			err := fmt.Errorf("chserver: %s exited before it was ready (%v)%s", s.cmd.Path, s.waitErr, s.logTail(tail))
			if strings.Contains(tail, "Address already in use") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("chserver: server at %s not ready: %w (last: %v)%s", s.HTTPAddr(), ctx.Err(), lastErr, s.logTail(s.log.String()))
		case <-tick.C:
		}
	}
}

// logTail formats the last lines of the server's console log for an error.
func (s *Server) logTail(log string) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	where := ""
	if s.logFile != "" {
		where = " " + s.logFile
	}
	return fmt.Sprintf("\n--- last lines of server log%s ---\n%s", where, strings.Join(lines, "\n"))
}

// Addr returns host:port of the native protocol, for clickhouse-go.
func (s *Server) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.tcpPort)) }

// HTTPAddr returns host:port of the HTTP interface.
func (s *Server) HTTPAddr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.httpPort)) }

// Stop sends SIGTERM, waits up to StopTimeout for the server to exit and then
// kills it. It blocks until the process is gone and returns an error only if
// the server had to be killed. Stop is idempotent: later calls return the
// result of the first.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.kill()
			s.stopErr = fmt.Errorf("chserver: SIGTERM: %w; killed the server", err)
			return
		}
		t := time.NewTimer(StopTimeout)
		defer t.Stop()
		select {
		case <-s.done:
		case <-t.C:
			s.kill()
			s.stopErr = fmt.Errorf("chserver: server did not exit within %s of SIGTERM; killed it", StopTimeout)
		}
	})
	return s.stopErr
}

// kill sends SIGKILL and waits for the process to exit.
func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Wait blocks until the server process exits and returns its exit error (nil
// for a clean exit, which includes exiting after Stop's SIGTERM).
func (s *Server) Wait() error {
	<-s.done
	return s.waitErr
}

// pickPorts returns the wanted ports, replacing zeros with ports that are free
// now. Both listeners are held until both are known, so the two differ.
func pickPorts(host string, tcp, http int) (int, int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	pick := func(p int) (int, error) {
		if p != 0 {
			return p, nil
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("chserver: pick a free port on %s: %w", host, err)
		}
		ls = append(ls, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	tcp, err := pick(tcp)
	if err != nil {
		return 0, 0, err
	}
	http, err = pick(http)
	if err != nil {
		return 0, 0, err
	}
	return tcp, http, nil
}

// teeTo writes to w (if any) and to the tail buffer.
func teeTo(w io.Writer, tail *tailBuffer) io.Writer {
	if w == nil {
		return tail
	}
	return io.MultiWriter(w, tail)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	// Drop a partial first line left by trimming.
	if len(b) == t.max {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
