package replay

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IsTerminal reports whether w is a terminal, where a progress line that
// rewrites itself makes sense.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress rewrites one status line on w every progressEvery: beacons read
// of the expected total, a bar, the rate and the time left.
type progress struct {
	w     io.Writer
	start time.Time
	total atomic.Int64
	done  atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

const progressEvery = 250 * time.Millisecond

func startProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now(), stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				fmt.Fprint(p.w, "\r"+p.line(time.Now())+"\x1b[K")
			}
		}
	}()
	return p
}

func (p *progress) setTotal(n int64) { p.total.Store(n) }
func (p *progress) add(n int64)      { p.done.Add(n) }

// finish stops the updates and leaves the final line.
func (p *progress) finish() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		fmt.Fprint(p.w, "\r"+p.line(time.Now())+"\x1b[K\n")
	})
}

// line renders the status at now.
func (p *progress) line(now time.Time) string {
	done, total := p.done.Load(), p.total.Load()
	elapsed := now.Sub(p.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	if total <= 0 {
		return fmt.Sprintf("replay %d beacons read  %s/s  %s", done, human(rate), elapsed.Round(time.Second))
	}
	total = max(total, done)
	frac := float64(done) / float64(total)
	const width = 30
	fill := int(frac * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	if fill > 0 && fill < width {
		bar = strings.Repeat("=", fill-1) + ">" + strings.Repeat(" ", width-fill)
	}
	eta := "--"
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("replay [%s] %3.0f%%  %d/%d beacons read  %s/s  ETA %s", bar, 100*frac, done, total, human(rate), eta)
}

// human writes a rate with a k or M suffix.
func human(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.1fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.0fk", x/1e3)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}
