package replay

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/derive"
)

// AnySite is the key of a corridors file whose corridors apply to every
// site the file does not name.
const AnySite = "*"

// Corridors are the declared corridors of each site.
type Corridors map[string][]corridor.Corridor

// For returns site's corridors: its own, else those under AnySite.
func (c Corridors) For(site string) []corridor.Corridor {
	if cs, ok := c[site]; ok {
		return cs
	}
	return c[AnySite]
}

// CorridorsFromKV reads every site's current profile from the profiles
// bucket, as the live corridor service does. A profile whose corridors are
// unreadable or invalid gives the site none (as live), with a notice on
// warn.
func CorridorsFromKV(ctx context.Context, kv jetstream.KeyValue, warn io.Writer) (Corridors, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	defer w.Stop()
	out := Corridors{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			site, err := base64.RawURLEncoding.DecodeString(e.Key())
			if err != nil {
				continue
			}
			out.add(string(site), e.Value(), warn)
		}
	}
}

// CorridorsFromClickHouse reads every site's latest profile from
// DB.profiles.
func CorridorsFromClickHouse(ctx context.Context, conn driver.Conn, db string, warn io.Writer) (Corridors, error) {
	rows, err := conn.Query(ctx, "SELECT site, profile FROM "+ident(db)+".profiles FINAL ORDER BY site, updated_at, updated_ms, stream_seq")
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	defer rows.Close()
	latest := map[string]string{}
	for rows.Next() {
		var site, profile string
		if err := rows.Scan(&site, &profile); err != nil {
			return nil, fmt.Errorf("read profiles: %w", err)
		}
		latest[site] = profile
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	out := Corridors{}
	for site, p := range latest {
		out.add(site, []byte(p), warn)
	}
	return out, nil
}

func (c Corridors) add(site string, profile []byte, warn io.Writer) {
	cs, err := derive.ProfileCorridors(profile)
	if err != nil {
		if warn != nil {
			fmt.Fprintf(warn, "notice: site %q: %v; its flows match no corridor (as in the live pipeline)\n", site, err)
		}
		return
	}
	if len(cs) > 0 {
		c[site] = cs
	}
}

// ReadCorridorsFile reads a corridors file: a JSON object from site name
// (or "*" for every other site) to that site's corridors, in the profile's
// form: {"dc-01": [{"name": "read", "path": ["ingress","api","db"],
// "budget_ms": 50}], "*": [...]}.
func ReadCorridorsFile(path string) (Corridors, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-corridors: %w", err)
	}
	var c Corridors
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("-corridors: %s: want an object of site to corridors: %w", path, err)
	}
	for site, cs := range c {
		if err := corridor.ValidateCorridors(cs); err != nil {
			return nil, fmt.Errorf("-corridors: %s: site %q: %w", path, site, err)
		}
	}
	return c, nil
}

// ParseBudget reads a -corridor-budget value, NAME=MS.
func ParseBudget(v string) (name string, ms float64, err error) {
	i := strings.LastIndexByte(v, '=')
	if i <= 0 {
		return "", 0, fmt.Errorf("%q: want NAME=MS, e.g. read=40", v)
	}
	ms, err = strconv.ParseFloat(strings.TrimSpace(v[i+1:]), 64)
	if err != nil || !(ms > 0) || ms > 86400000 {
		return "", 0, fmt.Errorf("%q: the budget must be a number of milliseconds above 0", v)
	}
	return strings.TrimSpace(v[:i]), ms, nil
}

// WithBudgets returns a copy of c in which every corridor named in budgets
// has that budget. It fails, naming the flag, for a name no corridor has.
func (c Corridors) WithBudgets(budgets map[string]float64) (Corridors, error) {
	out := make(Corridors, len(c))
	used := map[string]bool{}
	for site, cs := range c {
		cs = slices.Clone(cs)
		for i := range cs {
			if b, ok := budgets[cs[i].Name]; ok {
				cs[i].BudgetMS = b
				used[cs[i].Name] = true
			}
		}
		out[site] = cs
	}
	for name := range budgets {
		if !used[name] {
			return nil, fmt.Errorf("-corridor-budget: no site declares a corridor named %q", name)
		}
	}
	return out, nil
}
