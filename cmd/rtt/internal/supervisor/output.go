package supervisor

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// maxLine is the longest partial line a prefixWriter holds back; a longer one
// is written out in pieces.
const maxLine = 64 << 10

// lineOut serialises whole lines from many children onto one writer.
type lineOut struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *lineOut) write(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = o.w.Write(b) // the children must not stall because the console is gone
}

// prefixWriter copies output to a lineOut, one whole line at a time with
// "name | " in front, and keeps the last bytes (if tail is set) for error
// messages. It is safe for concurrent use.
type prefixWriter struct {
	out    *lineOut
	prefix []byte
	tail   *tailBuffer

	mu  sync.Mutex
	buf []byte
}

// Write never fails: output that cannot be shown is dropped.
func (p *prefixWriter) Write(b []byte) (int, error) {
	if p.tail != nil {
		p.tail.Write(b)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.emit(b)
	return len(b), nil
}

// flush writes out a last line that had no newline.
func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.emit([]byte{'\n'})
	}
}

// emit writes out every complete line in the buffer. A lone carriage return
// also ends a line, so that a progress line rewritten in place ("\r...")
// shows up as one line per update; blank updates (erasing) are dropped.
func (p *prefixWriter) emit(b []byte) {
	if p.out == nil {
		return
	}
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexAny(p.buf, "\r\n")
		next, lone := i+1, false
		switch {
		case i < 0 && len(p.buf) < maxLine:
			return
		case i < 0:
			i, next = maxLine, maxLine
		case p.buf[i] == '\r' && i+1 == len(p.buf):
			return // a "\n" may follow in the next write
		case p.buf[i] == '\r' && p.buf[i+1] == '\n':
			next = i + 2
		case p.buf[i] == '\r':
			lone = true
		}
		text := bytes.TrimRight(p.buf[:i], " \t")
		if len(text) > 0 || !lone {
			line := make([]byte, 0, len(p.prefix)+len(text)+1)
			line = append(line, p.prefix...)
			line = append(line, text...)
			p.out.write(append(line, '\n'))
		}
		p.buf = p.buf[next:]
		if len(p.buf) == 0 {
			p.buf = p.buf[:0:0] // do not keep a large array for nothing
		}
	}
}

// tailBuffer keeps the last max bytes written to it. It is safe for
// concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// Write keeps p, dropping what is older than the last max bytes.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// lines returns up to n last complete lines.
func (t *tailBuffer) lines(n int) []string {
	t.mu.Lock()
	s := string(t.buf)
	full := len(t.buf) == t.max
	t.mu.Unlock()
	if full { // the first line was cut by trimming
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return ls
}
