package drift

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidParams is wrapped by every error of Params.Validate.
var ErrInvalidParams = errors.New("drift: invalid params")

// Params are the settings of a Tracker. DefaultParams gives working values;
// Validate says which field is wrong.
type Params struct {
	// Threshold is the drift magnitude at or above which a beacon counts as
	// drifted. 0.25 means, for example, one count 25 % off its baseline.
	Threshold float64
	// Confirm is how many drifted beacons in a row one key needs before an
	// Event fires. Values above 1 keep a single odd beacon from firing.
	Confirm int
	// Alpha is the weight of a non-drifted beacon in the baseline's
	// exponentially weighted moving average: 0 freezes the baseline between
	// events, 1 makes it the latest non-drifted beacon.
	Alpha float64
	// Cooldown is the minimum event time between two events of one key. A
	// confirmation that comes sooner is held back, not dropped: the streak
	// stays open and the first drifted beacon after the cooldown fires.
	Cooldown time.Duration
}

// DefaultParams returns the defaults: Threshold 0.25, Confirm 2, Alpha 0.05,
// no Cooldown.
func DefaultParams() Params {
	return Params{Threshold: 0.25, Confirm: 2, Alpha: 0.05}
}

// Validate reports every field that is out of range. Each problem names its
// field and wraps ErrInvalidParams; several are joined with errors.Join.
func (p Params) Validate() error {
	var errs []error
	bad := func(field, rule string, got any) {
		errs = append(errs, fmt.Errorf("%w: %s %s, got %v", ErrInvalidParams, field, rule, got))
	}
	if !(p.Threshold > 0) || math.IsInf(p.Threshold, 1) {
		bad("Threshold", "must be a finite number above 0", p.Threshold)
	}
	if p.Confirm < 1 || int64(p.Confirm) > math.MaxUint32 {
		bad("Confirm", "must be between 1 and 4294967295", p.Confirm)
	}
	if !(p.Alpha >= 0 && p.Alpha <= 1) {
		bad("Alpha", "must be between 0 and 1", p.Alpha)
	}
	if p.Cooldown < 0 {
		bad("Cooldown", "must not be negative", p.Cooldown)
	}
	return errors.Join(errs...)
}
