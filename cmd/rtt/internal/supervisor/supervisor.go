package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStopTimeout is how long Stop waits for a child after SIGTERM before
// it sends SIGKILL, when Options.StopTimeout is zero.
const DefaultStopTimeout = 30 * time.Second

// tailLines is how many of a child's last output lines errors quote.
const tailLines = 20

// ErrStopping is returned by Start once the supervisor has begun stopping.
var ErrStopping = errors.New("supervisor: stopping, no new children")

// Spec describes a child process.
type Spec struct {
	// Name identifies the child in its output prefix and in errors.
	Name string
	// Path is the executable; Args are its arguments (without argv[0]).
	Path string
	Args []string
	// Env is the child's whole environment; nil inherits the supervisor's.
	Env []string
	// Dir is the working folder; empty means the supervisor's.
	Dir string
	// ReadyURL is polled with GET by WaitReady until it answers 200. Empty
	// means the child counts as ready as soon as it has started.
	ReadyURL string
}

// Options configure New.
type Options struct {
	// Out receives every child's stdout and stderr, line by line, each line
	// starting with "name | ". Nil discards the output (errors still quote
	// its tail).
	Out io.Writer
	// StopTimeout is the grace period between SIGTERM and SIGKILL for each
	// child; zero means DefaultStopTimeout.
	StopTimeout time.Duration
	// PrefixWidth pads names in the output prefix to this width so that the
	// children's lines line up.
	PrefixWidth int
}

// Supervisor starts children and stops them together. Its methods are safe
// for concurrent use.
type Supervisor struct {
	out         *lineOut
	stopTimeout time.Duration
	width       int

	mu       sync.Mutex
	children []*Child
	stopping bool
	cause    error // the *ExitError of the child whose exit began the stop

	stopOnce sync.Once
	done     chan struct{} // closed when every child has been stopped
	stopErr  error         // valid after done is closed
}

// New returns a Supervisor with no children.
func New(o Options) *Supervisor {
	s := &Supervisor{stopTimeout: o.StopTimeout, width: o.PrefixWidth, done: make(chan struct{})}
	if s.stopTimeout <= 0 {
		s.stopTimeout = DefaultStopTimeout
	}
	if o.Out != nil {
		s.out = &lineOut{w: o.Out}
	}
	return s
}

// Child is a process started by a Supervisor.
type Child struct {
	spec Spec
	cmd  *exec.Cmd
	tail *tailBuffer

	done chan struct{} // closed when the process has exited
	err  error         // exit error, valid after done is closed
}

// Name returns the child's Spec.Name.
func (c *Child) Name() string { return c.spec.Name }

// Pid returns the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Done returns a channel that is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Tail returns the last n lines the child wrote to stdout or stderr.
func (c *Child) Tail(n int) string { return strings.Join(c.tail.lines(n), "\n") }

// Start starts a child described by spec and returns at once. When the child
// later exits by itself, the supervisor stops all other children in reverse
// start order, and Wait and Err report an *ExitError naming it. Start fails
// with ErrStopping once stopping has begun, and with the exec error when the
// process cannot be started (the supervisor then goes on as before).
func (s *Supervisor) Start(spec Spec) (*Child, error) {
	if spec.Name == "" || spec.Path == "" {
		return nil, errors.New("supervisor: Spec needs Name and Path")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil, fmt.Errorf("start %s: %w", spec.Name, ErrStopping)
	}

	c := &Child{spec: spec, tail: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	w := &prefixWriter{out: s.out, prefix: s.prefix(spec.Name), tail: c.tail}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	// A grandchild that inherited the output pipe must not hold Wait open.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	c.cmd = cmd
	s.children = append(s.children, c)
	go func() {
		c.err = cmd.Wait()
		w.flush()
		// Record the cause before Done is closed, so that whoever sees the
		// child gone also sees why.
		unexpected := s.recordExit(c)
		close(c.done)
		if unexpected {
			s.beginStop()
		}
	}()
	return c, nil
}

// recordExit reports whether c exited without being asked to, and if so
// records it as the cause of the stop that follows.
func (s *Supervisor) recordExit(c *Child) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || s.cause != nil {
		return false
	}
	s.cause = &ExitError{Name: c.Name(), Err: c.err, Tail: c.Tail(tailLines)}
	return true
}

// Writer returns a writer whose lines join the children's output under
// name, for the supervising program's own messages. It is safe for
// concurrent use; a last line without a newline waits for one.
func (s *Supervisor) Writer(name string) io.Writer {
	return &prefixWriter{out: s.out, prefix: s.prefix(name)}
}

func (s *Supervisor) prefix(name string) []byte {
	return []byte(fmt.Sprintf("%-*s | ", s.width, name))
}

// Stop stops every child in reverse start order: SIGTERM, then SIGKILL to
// the child's process group if it has not exited within the stop timeout. It
// blocks until all children have exited. It returns an error naming each
// child that had to be killed or that exited with an error after SIGTERM.
// Stop is idempotent; later calls wait for and return the first one's result.
func (s *Supervisor) Stop() error {
	s.beginStop()
	<-s.done
	return s.stopErr
}

// Done returns a channel that is closed once every child has been stopped,
// whether by Stop or because a child exited by itself.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Err reports, once Done is closed, the *ExitError of the child whose exit
// stopped the others, or nil when Stop came first.
func (s *Supervisor) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cause
}

// Wait blocks until ctx ends or a child exits by itself, and then until every
// child has been stopped. It returns the *ExitError of the child that exited
// (joined with Stop's errors), or Stop's result when ctx ended first.
func (s *Supervisor) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	stopErr := s.Stop()
	return errors.Join(s.Err(), stopErr)
}

func (s *Supervisor) beginStop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopping = true
		children := append([]*Child(nil), s.children...)
		s.mu.Unlock()
		go func() {
			var errs []error
			for i := len(children) - 1; i >= 0; i-- {
				if err := children[i].stop(s.stopTimeout); err != nil {
					errs = append(errs, err)
				}
			}
			s.stopErr = errors.Join(errs...)
			close(s.done)
		}()
	})
}

// stop asks the child to exit and waits; see Supervisor.Stop.
func (c *Child) stop(timeout time.Duration) error {
	select {
	case <-c.done:
		return nil // exited before (the cause of the stop, or it already died)
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.kill()
		return fmt.Errorf("%s: SIGTERM: %w; killed it", c.Name(), err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed it", c.Name(), timeout)
	}
	if c.err != nil {
		return fmt.Errorf("%s exited after SIGTERM: %w", c.Name(), c.err)
	}
	return nil
}

// kill sends SIGKILL to the child's process group and waits for the child.
func (c *Child) kill() {
	killGroup(c.cmd.Process)
	<-c.done
}

// ExitError reports a child that exited without being asked to.
type ExitError struct {
	// Name is the child's Spec.Name.
	Name string
	// Err is its exit error, nil for exit status 0.
	Err error
	// Tail holds the last lines of its output.
	Tail string
}

// Error names the child, says how it exited and quotes its last output.
func (e *ExitError) Error() string {
	how := "exit status 0"
	if e.Err != nil {
		how = e.Err.Error()
	}
	return fmt.Sprintf("%s exited unexpectedly (%s)%s", e.Name, how, formatTail(e.Name, e.Tail))
}

// Unwrap returns the exit error, an *exec.ExitError or nil.
func (e *ExitError) Unwrap() error { return e.Err }

// formatTail presents a child's last output lines under a header.
func formatTail(name, tail string) string {
	if tail == "" {
		return fmt.Sprintf("\n--- %s wrote nothing ---", name)
	}
	return fmt.Sprintf("\n--- last lines of %s's output ---\n%s", name, tail)
}
