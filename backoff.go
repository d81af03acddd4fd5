package courier

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff with jitter: the n-th delay is Initial*Multiplier^(n-1),
// capped at Max, then moved at random by up to ±Jitter of itself.
type Backoff struct {
	Initial    time.Duration // first delay; must be > 0
	Max        time.Duration // largest delay; must be >= Initial
	Multiplier float64       // growth per attempt; must be >= 1
	Jitter     float64       // fraction in [0, 1]
}

// DefaultBackoff is used where a Backoff is left zero: 100ms, doubling, up to 30s, ±20%.
var DefaultBackoff = Backoff{Initial: 100 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.2}

// Validate says what is wrong with b. The zero Backoff is valid: it stands for the default.
func (b Backoff) Validate() error {
	if b == (Backoff{}) {
		return nil
	}
	switch {
	case b.Initial <= 0:
		return fmt.Errorf("backoff Initial %v must be > 0", b.Initial)
	case b.Max < b.Initial:
		return fmt.Errorf("backoff Max %v is below Initial %v", b.Max, b.Initial)
	case b.Multiplier < 1 || math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0):
		return fmt.Errorf("backoff Multiplier %v must be a finite number >= 1", b.Multiplier)
	case b.Jitter < 0 || b.Jitter > 1 || math.IsNaN(b.Jitter):
		return fmt.Errorf("backoff Jitter %v must be in [0, 1]", b.Jitter)
	}
	return nil
}

// Delay returns the delay before attempt+1, after attempt (1, 2...) failed. The zero Backoff
// uses DefaultBackoff.
func (b Backoff) Delay(attempt int) time.Duration {
	if b == (Backoff{}) {
		b = DefaultBackoff
	}
	if attempt < 1 {
		attempt = 1
	}
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(attempt-1))
	if d > float64(b.Max) || math.IsInf(d, 0) {
		d = float64(b.Max)
	}
	if b.Jitter > 0 {
		d += d * b.Jitter * (2*rand.Float64() - 1)
	}
	return time.Duration(d)
}
