package check

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Sample is one sample of a Prometheus text exposition.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// ParseMetrics reads the samples of a Prometheus text exposition (format
// 0.0.4, or OpenMetrics text), skipping comments and lines it cannot read.
func ParseMetrics(r io.Reader) ([]Sample, error) {
	var out []Sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if s, ok := parseSample(line); ok {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

// parseSample reads `name{k="v",...} value [timestamp]`.
func parseSample(line string) (Sample, bool) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return s, false
	}
	s.Name, line = line[:i], line[i:]
	if line[0] == '{' {
		rest, ok := parseLabels(line[1:], s.Labels)
		if !ok {
			return s, false
		}
		line = rest
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return s, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, false
	}
	s.Value = v
	return s, true
}

// parseLabels reads `k="v",...}` into m and returns what follows the brace.
func parseLabels(s string, m map[string]string) (string, bool) {
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return "", false
		}
		if s[0] == '}' {
			return s[1:], true
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return "", false
		}
		name := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		if s == "" || s[0] != '"' {
			return "", false
		}
		var val strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			val.WriteByte(s[i])
		}
		if i >= len(s) {
			return "", false
		}
		m[name] = val.String()
		s = s[i+1:]
	}
}

// beaconCount is what one scrape says of rtt_beacons_total.
type beaconCount struct {
	found   bool    // the family has at least one sample
	total   float64 // over every cluster
	cluster float64 // of the check's cluster label
	ofSite  bool    // a sample with the check's cluster label exists
}

// scrapeBeacons reads rtt_beacons_total from every URL. Each must answer
// 200; the counts add up (an API served by several ingest instances).
func scrapeBeacons(ctx context.Context, hc *http.Client, urls []string, cluster string) (beaconCount, error) {
	var c beaconCount
	for _, u := range urls {
		samples, err := scrape(ctx, hc, u)
		if err != nil {
			return c, err
		}
		for _, s := range samples {
			if s.Name != "rtt_beacons_total" {
				continue
			}
			c.found = true
			c.total += s.Value
			if s.Labels["cluster"] == cluster {
				c.ofSite = true
				c.cluster += s.Value
			}
		}
	}
	return c, nil
}

func scrape(ctx context.Context, hc *http.Client, u string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics URL %q: %w", u, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	samples, err := ParseMetrics(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the metrics: %w", u, err)
	}
	return samples, nil
}
