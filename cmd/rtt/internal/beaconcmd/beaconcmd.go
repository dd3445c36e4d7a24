package beaconcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"

	"github.com/rtt-dev/rtt/pkg/client"
)

// EnvPrefix prefixes the environment variables of rtt beacon's flags:
// RTT_BEACON_SITE sets --site. A prefix of their own keeps them apart from
// the services' RTT_* variables (RTT_URL is the client's API base URL, not
// the beacon's structure URL).
const EnvPrefix = "RTT_BEACON"

// Exit codes of rtt beacon, besides 0 for a stored beacon.
const (
	// ExitRefused: the server answered and refused the beacon (400 with
	// its violations, 401, 404 ...); sending it unchanged will not help.
	ExitRefused = 1
	// ExitUsage: bad flags or an unreadable input file; nothing was sent.
	ExitUsage = 2
	// ExitUnavailable: the server could not be reached, or answered
	// unavailable (or 5xx) to every attempt; sending again later may work.
	ExitUnavailable = 3
)

// Defaults of the flags.
const (
	// DefaultURL is the beacon's structure.url (and so its drift scope)
	// when neither --url nor --json gives one: CLI beacons get a scope of
	// their own rather than disturbing a cluster's heartbeat baseline.
	DefaultURL = "internal://cli"
	// DefaultTimeout bounds the whole send, retries included.
	DefaultTimeout = 30 * time.Second
)

// Error is a failure of rtt beacon; Code is the exit code it calls for.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error (a client error when one was sent).
func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the exit code rtt ends with: ExitRefused, ExitUsage or
// ExitUnavailable.
func (e *Error) ExitCode() int { return e.Code }

func usageError(format string, args ...any) error {
	return &Error{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Flags is rtt beacon's command line, parsed.
type Flags struct {
	URLBase  string        // API base URL; empty means RTT_URL, else the client's default
	Token    string        // bearer token; empty means RTT_TOKEN
	Timeout  time.Duration // the whole send, retries included
	Attempts int           // HTTP attempts in all
	Quiet    bool          // print nothing on success

	JSON         string // a whole payload: a file, or "-" for stdin
	TopologyFile string // {"node": ["dependency", ...]}
	FlowsFile    string // [{"path": [...], "latency_ms": n}]

	Site, Session, Event, EventID, Scope, TS string
	URL, Title                               string
	NavCount, MainCount, FormCount           int64
	ButtonCount, DomNodes                    int64
	Labels                                   Labels

	// set holds the names of the flags given on the command line or in the
	// environment: they override the fields of a --json payload.
	set map[string]bool
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Site, "site", "", "site the beacon is about, e.g. datacenter-east (required)")
	fs.StringVar(&f.Event, "event", "", "event name, e.g. deployment_start, deployment_finish, config_change (required)")
	fs.StringVar(&f.Session, "session", "", `session the beacon belongs to, e.g. the pipeline's id (default "cli-" and the Unix time of --ts)`)
	fs.StringVar(&f.TS, "ts", "", "event time, RFC 3339 such as 2026-01-19T15:30:00Z (default now)")
	fs.StringVar(&f.Scope, "scope", "", "what the structure describes inside the site; drift keeps one baseline per site and scope (default: --url)")
	fs.Var(&f.Labels, "label", "label key=value, repeatable: --label service=api --label version=1.8.0")
	fs.StringVar(&f.EventID, "event-id", "", "idempotency key ([A-Za-z0-9._:-], at most 128); the server stores an id once (default derived from the content)")
	fs.StringVar(&f.URL, "url", "", `structure.url (default "`+DefaultURL+`")`)
	fs.StringVar(&f.Title, "title", "", "structure.title (default the event name)")
	fs.Int64Var(&f.NavCount, "nav-count", 0, "structure.nav_count")
	fs.Int64Var(&f.MainCount, "main-count", 0, "structure.main_count")
	fs.Int64Var(&f.FormCount, "form-count", 0, "structure.form_count")
	fs.Int64Var(&f.ButtonCount, "button-count", 0, "structure.button_count")
	fs.Int64Var(&f.DomNodes, "dom-nodes", 0, "structure.dom_nodes")
	fs.StringVar(&f.TopologyFile, "topology-file", "", `JSON file ("-": stdin) with the topology, each node mapped to its dependencies: {"api":["db"],"db":[]}`)
	fs.StringVar(&f.FlowsFile, "flows-file", "", `JSON file ("-": stdin) with observed flows: [{"path":["ingress","api","db"],"latency_ms":12}]`)
	fs.StringVar(&f.JSON, "json", "", `JSON file ("-": stdin) with a whole beacon payload; flags given too override its fields`)
	fs.StringVar(&f.URLBase, "url-base", "", "rtt API base URL (default $RTT_URL, else "+client.DefaultBaseURL+")")
	fs.StringVar(&f.Token, "token", "", "bearer token (default $RTT_TOKEN)")
	fs.DurationVar(&f.Timeout, "timeout", DefaultTimeout, "give up after this long, retries included")
	fs.IntVar(&f.Attempts, "attempts", client.DefaultMaxAttempts, "HTTP attempts in all; retries (503, network errors) re-send the same event id")
	fs.BoolVar(&f.Quiet, "quiet", false, "print nothing on success, only the exit code tells")
}

// Labels is a repeatable key=value flag.
type Labels map[string]string

// String lists the labels as key=value, sorted.
func (l Labels) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + l[k]
	}
	return strings.Join(keys, ",")
}

// Set adds one key=value; a key given again takes the later value.
func (l *Labels) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	if *l == nil {
		*l = Labels{}
	}
	(*l)[k] = val
	return nil
}

// Parse parses args (and RTT_BEACON_* variables) into a Flags. It returns
// flag.ErrHelp for -h, after printing the usage to stderr, and an *Error
// with ExitUsage for anything else wrong.
func Parse(args []string, stderr io.Writer) (Flags, error) {
	var f Flags
	fs := flag.NewFlagSet("rtt beacon", flag.ContinueOnError)
	// The flag package would print an error and the whole usage on every
	// typo; rtt prints the error once and points at the help instead.
	fs.SetOutput(io.Discard)
	f.Register(fs)
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix(EnvPrefix)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stderr, fs)
			return f, err
		}
		return f, usageError("%s (see 'rtt help beacon')", flagProblem(err))
	}
	if fs.NArg() > 0 {
		return f, usageError("unexpected arguments %q (see 'rtt help beacon')", fs.Args())
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	switch {
	case f.Timeout <= 0:
		return f, usageError("--timeout: must be positive, got %v", f.Timeout)
	case f.Attempts < 1:
		return f, usageError("--attempts: must be at least 1, got %d", f.Attempts)
	}
	if err := checkBaseURL(f.URLBase); err != nil {
		return f, err
	}
	return f, nil
}

// flagProblem is a parse error without ff's "error parsing commandline
// arguments" prefix.
func flagProblem(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing commandline arguments: ")
}

// checkBaseURL rejects a base URL the client could never send to, so that
// a typo is a usage error rather than five failed attempts.
func checkBaseURL(flagValue string) error {
	base := client.New(flagValue).BaseURL()
	u, err := url.Parse(base)
	if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
		err = errors.New("want http:// or https:// and a host")
	}
	if err == nil {
		return nil
	}
	from := "--url-base"
	if flagValue == "" {
		from = "RTT_URL"
	}
	return usageError("%s: %q is not an API base URL like %s: %v", from, base, client.DefaultBaseURL, err)
}

// Build makes the beacon the flags describe: the --json payload, if any,
// with the given flags overriding its fields; without --json, the flags
// with their defaults. A missing ts becomes now. stdin is read for a file
// named "-". Errors are *Error with ExitUsage.
func Build(f Flags, stdin io.Reader, now time.Time) (client.Beacon, error) {
	var b client.Beacon
	files := 0
	for _, name := range []string{f.JSON, f.TopologyFile, f.FlowsFile} {
		if name == "-" {
			files++
		}
	}
	if files > 1 {
		return b, usageError(`only one of --json, --topology-file and --flows-file can read stdin ("-")`)
	}
	if f.JSON != "" {
		if err := readJSON("--json", f.JSON, stdin, &b); err != nil {
			return b, err
		}
	}
	given := func(name string) bool { return f.JSON == "" || f.set[name] }
	if given("site") {
		b.Site = f.Site
	}
	if given("event") {
		b.Event = f.Event
	}
	if given("session") {
		b.Session = f.Session
	}
	if given("scope") {
		b.Scope = f.Scope
	}
	if given("event-id") {
		b.EventID = f.EventID
	}
	if given("url") {
		b.Structure.URL = f.URL
	}
	if given("title") {
		b.Structure.Title = f.Title
	}
	counts := []struct {
		name string
		dst  *int64
		v    int64
	}{
		{"nav-count", &b.Structure.NavCount, f.NavCount},
		{"main-count", &b.Structure.MainCount, f.MainCount},
		{"form-count", &b.Structure.FormCount, f.FormCount},
		{"button-count", &b.Structure.ButtonCount, f.ButtonCount},
		{"dom-nodes", &b.Structure.DomNodes, f.DomNodes},
	}
	for _, c := range counts {
		if given(c.name) {
			*c.dst = c.v
		}
	}
	for k, v := range f.Labels {
		if b.Labels == nil {
			b.Labels = map[string]string{}
		}
		b.Labels[k] = v
	}
	if f.TS != "" {
		ts, err := time.Parse(time.RFC3339Nano, f.TS)
		if err != nil {
			return b, usageError("--ts: %q is not an RFC 3339 date-time such as 2026-01-19T15:30:00Z", f.TS)
		}
		b.TS = ts
	}
	if b.TS.IsZero() {
		b.TS = now.UTC().Truncate(time.Millisecond)
	}
	if f.TopologyFile != "" {
		var topo map[string][]string
		if err := readJSON("--topology-file", f.TopologyFile, stdin, &topo); err != nil {
			return b, err
		}
		if topo == nil {
			topo = map[string][]string{}
		}
		b.Topology = topo
	}
	if f.FlowsFile != "" {
		var flows []client.Flow
		if err := readJSON("--flows-file", f.FlowsFile, stdin, &flows); err != nil {
			return b, err
		}
		if flows == nil {
			flows = []client.Flow{}
		}
		b.Flows = flows
	}
	if f.JSON == "" {
		if b.Session == "" {
			b.Session = "cli-" + strconv.FormatInt(b.TS.Unix(), 10)
		}
		if b.Structure.URL == "" {
			b.Structure.URL = DefaultURL
		}
		if b.Structure.Title == "" {
			b.Structure.Title = b.Event
		}
	}
	switch {
	case b.Site == "":
		return b, usageError("--site is required (or %s_SITE, or \"site\" in --json)", EnvPrefix)
	case b.Event == "":
		return b, usageError("--event is required, e.g. --event deployment_start (or %s_EVENT, or \"event\" in --json)", EnvPrefix)
	}
	return b, nil
}

// readJSON decodes the JSON file name ("-": stdin) into v, strictly: an
// unknown field is an error rather than silently dropped.
func readJSON(flagName, name string, stdin io.Reader, v any) error {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return usageError("%s: %v", flagName, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return usageError("%s %s: empty, want JSON", flagName, name)
		}
		return usageError("%s %s: %s", flagName, name, jsonProblem(err))
	}
	if dec.More() {
		return usageError("%s %s: data after the JSON value", flagName, name)
	}
	return nil
}

// jsonProblem says what is wrong with a JSON input, naming the field.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var pe *time.ParseError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("%s: got %s, want %s", te.Field, te.Value, jsonKind(te.Type))
	case errors.As(err, &te):
		return fmt.Sprintf("got %s, want %s", te.Value, jsonKind(te.Type))
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &pe):
		return "ts: want an RFC 3339 date-time such as 2026-01-19T15:30:00Z"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			return "date-time string"
		}
		return "object"
	}
	return t.String()
}

// Send sends b with a client configured by f and returns the server's
// answer. A failure is an *Error: ExitRefused when the server refused the
// beacon, ExitUnavailable when it could not be stored now.
func Send(ctx context.Context, f Flags, b client.Beacon) (client.BeaconResult, error) {
	c := NewClient(f)
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	res, err := c.Beacon(ctx, b)
	if err != nil {
		return res, classify(err, c.BaseURL(), res.EventID)
	}
	return res, nil
}

// NewClient returns the client f configures: its base URL and token, each
// attempt bounded by the whole timeout (at most the client's default).
func NewClient(f Flags) *client.Client {
	opts := []client.Option{
		client.WithTimeout(min(f.Timeout, client.DefaultTimeout)),
		client.WithRetry(f.Attempts, 0),
	}
	if f.Token != "" {
		opts = append(opts, client.WithToken(f.Token))
	}
	return client.New(f.URLBase, opts...)
}

// classify turns a failed send into the command's error and exit code.
func classify(err error, base, id string) error {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode < 500 && !apiErr.Is(client.ErrUnavailable) {
		return &Error{Code: ExitRefused, Err: refusal(apiErr, base)}
	}
	return &Error{Code: ExitUnavailable, Err: fmt.Errorf(
		"beacon %s not stored: %w\nsend it again later; with --event-id %s it is stored once however often it is sent", id, err, id)}
}

// refusal describes a refused beacon, one violation per line.
func refusal(e *client.APIError, base string) error {
	what := strconv.Itoa(e.StatusCode)
	if e.Kind != "" {
		what += " " + e.Kind
	}
	var hint string
	switch {
	case len(e.Violations) > 0:
		lines := make([]string, len(e.Violations))
		for i, v := range e.Violations {
			lines[i] = "  " + v.String()
		}
		return fmt.Errorf("server refused the beacon (%s):\n%s", what, strings.Join(lines, "\n"))
	case e.Is(client.ErrUnauthorized):
		hint = "; give the server's token with --token or RTT_TOKEN"
	case e.StatusCode == 404 || e.StatusCode == 405:
		hint = "; is " + base + " the API's base URL (like " + client.DefaultBaseURL + ")? set --url-base or RTT_URL"
	}
	msg := e.Message
	if msg == "" {
		msg = "no reason given"
	}
	return fmt.Errorf("server refused the beacon (%s): %s%s", what, msg, hint)
}

// Main runs rtt beacon with args: it prints the stored beacon's event id to
// stdout, followed by " duplicate" when the server already held it (nothing
// with --quiet). stdin is read for a file named "-". Errors are *Error (or
// flag.ErrHelp after -h printed the usage to stderr).
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f, err := Parse(args, stderr)
	if err != nil {
		return err
	}
	b, err := Build(f, stdin, time.Now())
	if err != nil {
		return err
	}
	res, err := Send(ctx, f, b)
	if err != nil {
		return err
	}
	if !f.Quiet {
		if res.Duplicate {
			fmt.Fprintln(stdout, res.EventID, "duplicate")
		} else {
			fmt.Fprintln(stdout, res.EventID)
		}
	}
	return nil
}
