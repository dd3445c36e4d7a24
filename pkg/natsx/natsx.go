package natsx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Streams and the subjects they hold.
const (
	StreamBeacons = "RTT_BEACONS" // rtt.beacon.<site>.<event>, rtt.batch[.<site>]: the system of record
	StreamControl = "RTT_CONTROL" // rtt.profile.<site>, rtt.diag.<kind>.<site>
	StreamDerived = "RTT_DERIVED" // rtt.drift[.<site>], rtt.alignment[.<site>]
	StreamDLQ     = "RTT_DLQ"     // rtt.dlq.<service>

	SubjectBeacons    = "rtt.beacon.>"
	SubjectBatch      = "rtt.batch" // a batch of beacons of several sites
	SubjectBatches    = "rtt.batch.>"
	SubjectProfiles   = "rtt.profile.>"
	SubjectDiag       = "rtt.diag.>"
	SubjectDrift      = "rtt.drift.>"
	SubjectAlignments = "rtt.alignment.>"
	// Derived records of several sites, published together, have no site
	// token.
	SubjectDriftMixed      = "rtt.drift"
	SubjectAlignmentsMixed = "rtt.alignment"
	SubjectDLQ             = "rtt.dlq.>"

	// BucketProfiles is the KV bucket holding each site's current profile.
	BucketProfiles = "rtt_profiles"
)

// Headers rtt sets on its messages, beside nats.MsgIdHdr (the event id).
const (
	HeaderReceivedAt = "Rtt-Received-At" // RFC 3339 with nanoseconds, set by ingest
	HeaderEventID    = "Rtt-Event-Id"
	HeaderEventIDs   = "Rtt-Event-Ids" // a batch message's event ids, in order, comma-separated
	HeaderItems      = "Rtt-Items"     // how many records a message carries, when more than one
	HeaderSite       = "Rtt-Site"
	HeaderKind       = "Rtt-Kind"
	HeaderRunID      = "Rtt-Run-Id"
	HeaderReason     = "Rtt-Dlq-Reason"
	HeaderSubject    = "Rtt-Dlq-Subject"
	HeaderStream     = "Rtt-Dlq-Stream"
	HeaderSeq        = "Rtt-Dlq-Seq"
	HeaderIndex      = "Rtt-Dlq-Index" // the item's index when one item of a batch was dead-lettered
	HeaderService    = "Rtt-Dlq-Service"
)

// EmbeddedConfig configures the in-process NATS server.
type EmbeddedConfig struct {
	Dir      string // JetStream storage folder
	Host     string // listen host; default 127.0.0.1
	Port     int    // client port; -1 picks a free one
	MaxStore int64  // JetStream file storage limit in bytes; 0 = server default
	Name     string
}

// StartEmbedded starts a NATS server with JetStream in this process and
// returns once it accepts connections. The caller shuts it down with
// Shutdown and WaitForShutdown.
func StartEmbedded(c EmbeddedConfig, log zerolog.Logger) (*server.Server, error) {
	if c.Dir == "" {
		return nil, errors.New("natsx: embedded server needs a storage folder")
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("natsx: storage folder: %w", err)
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	opts := &server.Options{
		ServerName:            c.Name,
		Host:                  c.Host,
		Port:                  c.Port,
		JetStream:             true,
		StoreDir:              c.Dir,
		JetStreamMaxStore:     c.MaxStore,
		MaxPayload:            8 << 20,
		NoSigs:                true,
		NoLog:                 true,
		DisableShortFirstPing: true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsx: embedded server: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("natsx: embedded server on %s:%d not ready after 15s", c.Host, c.Port)
	}
	log.Info().Str("url", s.ClientURL()).Str("store", c.Dir).Msg("embedded NATS server started")
	return s, nil
}

// Connect dials url, retrying on the first connect and reconnecting forever
// after, and logs state changes. It returns once connected or ctx ends.
func Connect(ctx context.Context, url, name string, log zerolog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(err).Msg("NATS disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("NATS reconnected")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Warn().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("NATS async error")
		}),
	}
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		log.Warn().Err(err).Str("url", url).Msg("NATS not reachable yet, retrying")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
		case <-time.After(time.Second):
		}
	}
}

// Limits are the retention settings of the streams.
type Limits struct {
	BeaconMaxAge   time.Duration // RTT_BEACONS retention by age
	BeaconMaxBytes int64         // RTT_BEACONS retention by size; -1 unlimited
	DerivedMaxAge  time.Duration
	Duplicates     time.Duration // duplicate window for Nats-Msg-Id
	Replicas       int
}

// DefaultLimits keeps beacons 30 days (replay's system of record) and
// recognises re-sends within two minutes at the stream; ClickHouse's keys
// collapse later ones.
func DefaultLimits() Limits {
	return Limits{
		BeaconMaxAge:   30 * 24 * time.Hour,
		BeaconMaxBytes: -1,
		DerivedMaxAge:  30 * 24 * time.Hour,
		Duplicates:     2 * time.Minute,
		Replicas:       1,
	}
}

// StreamConfigs returns the configuration of every rtt stream. All use
// limits retention and discard new messages when full, so a full stream turns
// into a refused publish (a 503 at ingest), never into silent loss.
func StreamConfigs(l Limits) []jetstream.StreamConfig {
	base := func(name, desc string, subjects []string, age time.Duration, bytes int64) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    subjects,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardNew,
			MaxAge:      age,
			MaxBytes:    bytes,
			Storage:     jetstream.FileStorage,
			Replicas:    max(l.Replicas, 1),
			Duplicates:  l.Duplicates,
		}
	}
	return []jetstream.StreamConfig{
		base(StreamBeacons, "Accepted beacons, the system of record for replay", []string{SubjectBeacons, SubjectBatch, SubjectBatches}, l.BeaconMaxAge, l.BeaconMaxBytes),
		base(StreamControl, "Profiles and diagnostics submissions", []string{SubjectProfiles, SubjectDiag}, l.BeaconMaxAge, -1),
		derived(base(StreamDerived, "Drift events and corridor alignment records", []string{SubjectDrift, SubjectAlignments, SubjectDriftMixed, SubjectAlignmentsMixed}, l.DerivedMaxAge, -1)),
		derived(base(StreamDLQ, "Messages that could never be processed, with the reason", []string{SubjectDLQ}, l.DerivedMaxAge, -1)),
	}
}

// DerivedDuplicates caps the duplicate window of the streams written by
// rtt's own workers: their ids only guard a re-publish after a rolled-back
// batch, which happens within the ack wait (15 s), and every id held costs
// the server memory for the whole window. ClickHouse's keys collapse any
// later copy.
const DerivedDuplicates = 30 * time.Second

func derived(c jetstream.StreamConfig) jetstream.StreamConfig {
	c.Duplicates = min(c.Duplicates, DerivedDuplicates)
	return c
}

// EnsureStreams creates or updates every rtt stream and the profiles bucket.
// It is idempotent and safe to call from every service on start.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, l Limits) error {
	for _, cfg := range StreamConfigs(l) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	if _, err := ProfilesKV(ctx, js, l); err != nil {
		return err
	}
	return nil
}

// ProfilesKV creates or opens the bucket of current site profiles.
func ProfilesKV(ctx context.Context, js jetstream.JetStream, l Limits) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketProfiles,
		Description: "Current profile of each site",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(l.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", BucketProfiles, err)
	}
	return kv, nil
}

// StateKV creates or opens a service's state bucket (drift baselines,
// corridor scores).
func StateKV(ctx context.Context, js jetstream.JetStream, bucket string, l Limits) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   bucket,
		History:  1,
		Storage:  jetstream.FileStorage,
		Replicas: max(l.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// DeadLetter publishes msg to rtt.dlq.<service> with the reason and where
// it came from, and waits for the PubAck. The caller then terminates msg.
// Publishing the same message twice is deduplicated by the stream.
func DeadLetter(ctx context.Context, js jetstream.JetStream, service string, msg jetstream.Msg, reason string) error {
	return deadLetter(ctx, js, service, msg, -1, "", msg.Data(), reason)
}

// DeadLetterItem publishes item index of msg, a message carrying several
// records, to rtt.dlq.<service>: its payload data and event id, with the
// reason and where it came from, and waits for the PubAck. The caller goes
// on with the message's other items.
func DeadLetterItem(ctx context.Context, js jetstream.JetStream, service string, msg jetstream.Msg, index int, eventID string, data []byte, reason string) error {
	return deadLetter(ctx, js, service, msg, index, eventID, data, reason)
}

func deadLetter(ctx context.Context, js jetstream.JetStream, service string, msg jetstream.Msg, index int, eventID string, data []byte, reason string) error {
	out := nats.NewMsg("rtt.dlq." + service)
	out.Data = data
	stream, seq := "", uint64(0)
	if md, err := msg.Metadata(); err == nil {
		stream, seq = md.Stream, md.Sequence.Stream
	}
	out.Header.Set(HeaderReason, reason)
	out.Header.Set(HeaderSubject, msg.Subject())
	out.Header.Set(HeaderStream, stream)
	out.Header.Set(HeaderSeq, fmt.Sprint(seq))
	out.Header.Set(HeaderService, service)
	out.Header.Set(HeaderReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	id := fmt.Sprintf("dlq-%s-%s-%d", service, stream, seq)
	if index >= 0 {
		out.Header.Set(HeaderIndex, fmt.Sprint(index))
		id += fmt.Sprintf("-%d", index)
		if eventID != "" {
			out.Header.Set(HeaderEventID, eventID)
		}
	}
	out.Header.Set(nats.MsgIdHdr, id)
	for _, k := range []string{"traceparent", "tracestate"} {
		if v := msg.Headers().Get(k); v != "" {
			out.Header.Set(k, v)
		}
	}
	if _, err := js.PublishMsg(ctx, out); err != nil {
		return fmt.Errorf("dead-letter %s seq %d: %w", stream, seq, err)
	}
	return nil
}
