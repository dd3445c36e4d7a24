package beacon

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// The fast path of Decoder.Decode: one strict scan of the raw bytes straight
// into a Beacon, checking every rule of schemas/json/beacon.schema.json on
// the way. It accepts only a conservative subset of JSON (no escapes in
// strings, no nulls or duplicate keys where the schema looks, counts written
// as plain integers, ...). Whenever it meets anything outside that subset, or
// any rule fails, it gives up (ok false) and Decode takes the slow path
// (generic decode and schema validation), which then decides and words the
// error. So fastDecode never rejects: it accepts exactly a subset of what the
// slow path accepts, with the same resulting Beacon.

const fastMaxDepth = 64 // deeper unknown values go the slow way

type fastScanner struct {
	s   []byte
	i   int
	bad bool
	// countFlows makes flows only count the flows (strictly scanned, not
	// checked against the schema) and keep none: for stored beacons, whose
	// readers need the number alone.
	countFlows bool
	nflows     int
	// discard makes str return views of s instead of copies, for strings
	// that are checked and dropped.
	discard bool
}

func (p *fastScanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next non-blank byte, or 0 at the end.
func (p *fastScanner) peek() byte {
	p.ws()
	if p.i >= len(p.s) {
		return 0
	}
	return p.s[p.i]
}

func (p *fastScanner) expect(c byte) bool {
	if p.peek() != c {
		p.bad = true
		return false
	}
	p.i++
	return true
}

// str reads a string without escapes or control characters holding valid
// UTF-8; anything else is bad.
func (p *fastScanner) str() string {
	if p.peek() != '"' {
		p.bad = true
		return ""
	}
	p.i++
	start := p.i
	ascii := true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			b := p.s[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(b) {
				p.bad = true
				return ""
			}
			if p.discard {
				return unsafe.String(unsafe.SliceData(b), len(b))
			}
			return string(b)
		case c == '\\' || c < 0x20:
			p.bad = true
			return ""
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	p.bad = true
	return ""
}

// strLen reads a string whose length in code points lies in [min, max].
func (p *fastScanner) strLen(min, max int) string {
	s := p.str()
	if p.bad {
		return ""
	}
	// The byte length is the length in code points unless there is
	// non-ASCII, which only makes the count smaller.
	if n := len(s); n < min || n > max {
		if rc := utf8.RuneCountInString(s); rc < min || rc > max {
			p.bad = true
			return ""
		}
	}
	return s
}

// number reads a JSON number literal and returns it as written.
func (p *fastScanner) number() string {
	p.ws()
	s, start := p.s, p.i
	i := p.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		p.bad = true
		return ""
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			p.bad = true
			return ""
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			p.bad = true
			return ""
		}
	}
	p.i = i
	return string(s[start:i])
}

// count reads a schema count: an integer in [0, 2147483647], written as
// plain digits.
func (p *fastScanner) count() int64 {
	p.ws()
	s, i := p.s, p.i
	if i >= len(s) || s[i] < '0' || s[i] > '9' {
		p.bad = true
		return 0
	}
	var n int64
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		n = n*10 + int64(s[j]-'0')
		j++
		if j-i > 10 {
			p.bad = true
			return 0
		}
	}
	if (s[i] == '0' && j-i > 1) || n > 2147483647 {
		p.bad = true
		return 0
	}
	if j < len(s) && (s[j] == '.' || s[j] == 'e' || s[j] == 'E') {
		p.bad = true
		return 0
	}
	p.i = j
	return n
}

// skip reads any JSON value strictly, for properties the schema allows but
// does not describe.
func (p *fastScanner) skip(depth int) {
	if depth > fastMaxDepth {
		p.bad = true
		return
	}
	switch c := p.peek(); {
	case c == '"':
		p.str()
	case c == '{':
		p.i++
		if p.peek() == '}' {
			p.i++
			return
		}
		for !p.bad {
			p.str()
			p.expect(':')
			p.skip(depth + 1)
			if p.bad {
				return
			}
			if p.peek() == ',' {
				p.i++
				continue
			}
			p.expect('}')
			return
		}
	case c == '[':
		p.i++
		if p.peek() == ']' {
			p.i++
			return
		}
		for !p.bad {
			p.skip(depth + 1)
			if p.bad {
				return
			}
			if p.peek() == ',' {
				p.i++
				continue
			}
			p.expect(']')
			return
		}
	case c == '-' || (c >= '0' && c <= '9'):
		p.number()
	case c == 't':
		p.lit("true")
	case c == 'f':
		p.lit("false")
	case c == 'n':
		p.lit("null")
	default:
		p.bad = true
	}
}

func (p *fastScanner) lit(w string) {
	if len(p.s)-p.i >= len(w) && string(p.s[p.i:p.i+len(w)]) == w {
		p.i += len(w)
		return
	}
	p.bad = true
}

// object calls field for every member of an object; field reads the value.
func (p *fastScanner) object(field func(key string)) {
	if !p.expect('{') {
		return
	}
	if p.peek() == '}' {
		p.i++
		return
	}
	for !p.bad {
		k := p.str()
		if !p.expect(':') {
			return
		}
		field(k)
		if p.bad {
			return
		}
		if p.peek() == ',' {
			p.i++
			continue
		}
		p.expect('}')
		return
	}
}

// array calls item for every element of an array; item reads the value.
func (p *fastScanner) array(item func()) {
	if !p.expect('[') {
		return
	}
	if p.peek() == ']' {
		p.i++
		return
	}
	for !p.bad {
		item()
		if p.bad {
			return
		}
		if p.peek() == ',' {
			p.i++
			continue
		}
		p.expect(']')
		return
	}
}

// unknown handles a property the schema does not describe at a level that
// encoding/json decodes into a struct: encoding/json matches struct fields
// case-insensitively, so a key that folds to a known one goes the slow way.
func (p *fastScanner) unknown(key string, known []string) {
	for _, k := range known {
		if strings.EqualFold(key, k) {
			p.bad = true
			return
		}
	}
	p.skip(1)
}

var (
	topKeys       = []string{"event_id", "site", "session", "event", "ts", "scope", "structure", "labels", "topology", "flows"}
	structureKeys = []string{"url", "title", "nav_count", "main_count", "form_count", "button_count", "dom_nodes"}
	flowKeys      = []string{"path", "latency_ms", "corridor"}
)

// fastDecode returns the beacon of raw when it is certainly valid against
// the beacon schema, else ok false.
func fastDecode(raw []byte) (b Beacon, ok bool) {
	return (&fastScanner{s: raw}).decode()
}

func (p *fastScanner) decode() (b Beacon, ok bool) {
	raw := p.s
	if p.peek() != '{' {
		return b, false
	}
	keys := p.newKeySet()
	mark := keys.mark
	p.object(func(key string) {
		switch key {
		case "event_id":
			mark(0)
			b.EventID = p.strLen(1, 128)
			if !p.bad && !validEventID(b.EventID) {
				p.bad = true
			}
		case "site":
			mark(1)
			b.Site = p.strLen(1, 128)
		case "session":
			mark(2)
			b.Session = p.strLen(0, 256)
		case "event":
			mark(3)
			b.Event = p.strLen(1, 64)
		case "ts":
			mark(4)
			b.TS = p.strLen(0, 64)
			if !p.bad && !validDateTime(b.TS) {
				p.bad = true
			}
		case "scope":
			mark(5)
			b.Scope = p.strLen(0, 256)
		case "structure":
			mark(6)
			p.structure(&b.Structure)
		case "labels":
			mark(7)
			b.Labels = p.labels()
		case "topology":
			mark(8)
			b.Topology = p.topology()
		case "flows":
			mark(9)
			b.Flows = p.flows()
		default:
			p.unknown(key, topKeys)
		}
	})
	if p.bad {
		return b, false
	}
	p.ws()
	if p.i != len(raw) {
		return b, false
	}
	const required = 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<6
	if keys.seen&required != required {
		return b, false
	}
	return b, true
}

func (p *fastScanner) structure(s *Structure) {
	keys := p.newKeySet()
	mark := keys.mark
	p.object(func(key string) {
		switch key {
		case "url":
			mark(0)
			s.URL = p.strLen(0, 2048)
		case "title":
			mark(1)
			s.Title = p.strLen(0, 512)
		case "nav_count":
			mark(2)
			s.NavCount = p.count()
		case "main_count":
			mark(3)
			s.MainCount = p.count()
		case "form_count":
			mark(4)
			s.FormCount = p.count()
		case "button_count":
			mark(5)
			s.ButtonCount = p.count()
		case "dom_nodes":
			mark(6)
			s.DomNodes = p.count()
		default:
			p.unknown(key, structureKeys)
		}
	})
	if keys.seen != 1<<7-1 {
		p.bad = true
	}
}

func (p *fastScanner) labels() map[string]string {
	m := map[string]string{}
	p.object(func(key string) {
		if utf8.RuneCountInString(key) > 128 {
			p.bad = true
			return
		}
		if _, dup := m[key]; dup {
			p.bad = true
			return
		}
		m[key] = p.strLen(0, 512)
		if len(m) > 64 {
			p.bad = true
		}
	})
	return m
}

func (p *fastScanner) topology() map[string][]string {
	m := map[string][]string{}
	p.object(func(key string) {
		if key == "" || utf8.RuneCountInString(key) > 256 {
			p.bad = true
			return
		}
		if _, dup := m[key]; dup {
			p.bad = true
			return
		}
		deps := []string{}
		p.array(func() {
			deps = append(deps, p.strLen(1, 256))
			if len(deps) > 1024 {
				p.bad = true
			}
		})
		m[key] = deps
		if len(m) > 4096 {
			p.bad = true
		}
	})
	return m
}

func (p *fastScanner) flows() []Flow {
	// Counting only: the same checks, keeping nothing.
	keep := !p.countFlows
	if !keep {
		p.discard = true
		defer func() { p.discard = false }()
	}
	var flows []Flow
	if keep {
		flows = []Flow{}
	}
	p.array(func() {
		var f Flow
		keys := p.newKeySet()
		mark := keys.mark
		p.object(func(key string) {
			switch key {
			case "path":
				mark(0)
				hops := 0
				if keep {
					f.Path = []string{}
				}
				p.array(func() {
					hop := p.strLen(1, 256)
					if keep {
						f.Path = append(f.Path, hop)
					}
					if hops++; hops > 64 {
						p.bad = true
					}
				})
				if hops == 0 {
					p.bad = true
				}
			case "latency_ms":
				mark(1)
				f.LatencyMS = p.latency()
			case "corridor":
				mark(2)
				f.Corridor = p.strLen(0, 128)
			default:
				p.unknown(key, flowKeys)
			}
		})
		if keys.seen&3 != 3 {
			p.bad = true
		}
		if keep {
			flows = append(flows, f)
		}
		if p.nflows++; p.nflows > 1000 {
			p.bad = true
		}
	})
	return flows
}

// latency reads a number in [0, 86400000]. Rounding to float64 is monotonic,
// so a value that parses below 86400000 is below it exactly; 86400000 itself
// and anything negative (even -0) go the slow way.
func (p *fastScanner) latency() float64 {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.bad = true
		return 0
	}
	lit := p.number()
	if p.bad {
		return 0
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || f >= 86400000 {
		p.bad = true
		return 0
	}
	return f
}

// validEventID is the schema's pattern ^[A-Za-z0-9._:-]+$ (non-empty is
// checked by the caller).
func validEventID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// validDateTime accepts a strict subset of what jsonschema/v6's date-time
// format checker accepts: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) with an
// upper-case T and Z, a real calendar date, hours ≤ 23, minutes ≤ 59,
// seconds ≤ 59 (no leap seconds) and an offset of at most 23:59.
func validDateTime(s string) bool {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	if _, err := time.Parse("2006-01-02", s[:10]); err != nil {
		return false
	}
	if two(s[11:]) > 23 || two(s[14:]) > 59 || two(s[17:]) > 59 {
		return false
	}
	rest := s[19:]
	if len(rest) > 0 && rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 1 {
			return false
		}
		rest = rest[j:]
	}
	if rest == "Z" {
		return true
	}
	if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return false
	}
	for _, i := range [...]int{1, 2, 4, 5} {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return two(rest[1:]) <= 23 && two(rest[4:]) <= 59
}

func two(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

// keySet notes which known keys of one object were seen; a key seen twice
// sends the payload to the slow path (the schema and encoding/json decide
// what duplicates mean).
type keySet struct {
	p    *fastScanner
	seen uint16
}

func (p *fastScanner) newKeySet() *keySet { return &keySet{p: p} }

func (k *keySet) mark(bit int) {
	if k.seen&(1<<bit) != 0 {
		k.p.bad = true
	}
	k.seen |= 1 << bit
}
