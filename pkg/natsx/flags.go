package natsx

import (
	"flag"
	"fmt"
	"time"
)

// Register adds the stream retention flags (RTT_BEACON_RETENTION,
// RTT_BEACON_MAX_BYTES, RTT_DERIVED_RETENTION, RTT_DEDUP_WINDOW,
// RTT_NATS_REPLICAS), with DefaultLimits as defaults.
func (l *Limits) Register(fs *flag.FlagSet) {
	d := DefaultLimits()
	*l = d
	fs.Func("beacon-retention", fmt.Sprintf("how long RTT_BEACONS keeps beacons for replay (default %s)", d.BeaconMaxAge), durationFlag(&l.BeaconMaxAge))
	fs.Int64Var(&l.BeaconMaxBytes, "beacon-max-bytes", d.BeaconMaxBytes, "size limit of RTT_BEACONS in bytes (-1: up to the server's storage limit); when full, ingest answers 503")
	fs.Func("derived-retention", fmt.Sprintf("how long RTT_DERIVED and RTT_DLQ keep messages (default %s)", d.DerivedMaxAge), durationFlag(&l.DerivedMaxAge))
	fs.DurationVar(&l.Duplicates, "dedup-window", d.Duplicates, "window in which JetStream drops re-sent event ids")
	fs.IntVar(&l.Replicas, "nats-replicas", d.Replicas, "stream replicas (3 on a NATS cluster)")
}

// Validate reports the first unusable limit, naming its flag.
func (l Limits) Validate() error {
	switch {
	case l.BeaconMaxAge <= 0:
		return fmt.Errorf("beacon-retention: must be positive")
	case l.DerivedMaxAge <= 0:
		return fmt.Errorf("derived-retention: must be positive")
	case l.Duplicates <= 0 || l.Duplicates > l.BeaconMaxAge:
		return fmt.Errorf("dedup-window: must be positive and at most beacon-retention")
	case l.BeaconMaxBytes == 0 || l.BeaconMaxBytes < -1:
		return fmt.Errorf("beacon-max-bytes: must be positive or -1 for unlimited")
	case l.Replicas < 1 || l.Replicas > 5:
		return fmt.Errorf("nats-replicas: must be between 1 and 5")
	}
	return nil
}

func durationFlag(dst *time.Duration) func(string) error {
	return func(s string) error {
		d, err := parseDays(s)
		if err != nil {
			return err
		}
		*dst = d
		return nil
	}
}

// parseDays accepts Go durations and whole or fractional days ("30d").
func parseDays(s string) (time.Duration, error) {
	if len(s) > 1 && s[len(s)-1] == 'd' {
		var days float64
		if _, err := fmt.Sscanf(s[:len(s)-1], "%g", &days); err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}
