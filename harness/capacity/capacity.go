// Package capacity drives paced PKCS#11 work through a session pool and
// measures it.
//
// It answers the capacity planner's question about an HSM: how many sessions
// and how much encrypt/decrypt throughput does it give before callers start
// waiting past their budget? The load is an open model: arrivals come on a
// vegeta Pacer's schedule whether or not earlier ones have finished, a bounded
// set of workers takes them, and an arrival that finds no free worker at its
// intended time is counted late instead of being queued (as k6 counts
// dropped_iterations). Latency runs from the intended send time, so a stalled
// HSM shows up as latency rather than as a quietly slower schedule (no
// coordinated omission).
//
// A run is New (check the Config), Init (seal the ciphertexts Decrypt opens)
// and Run; the package function Run does all three. The Target is a
// sessionpool.Pool over tokens of one PKCS#11 module with an AES key on each:
// Embedded builds one on private SoftHSM tokens, OpenModule on an existing
// token of any module.
package capacity

import (
	"errors"
	"fmt"
	"math"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Defaults of Config.
const (
	// DefaultWorkers bounds the arrivals in flight. It is far above what a
	// 16-session HSM can serve at once, so the pool, not the driver, is what
	// a run measures; when workers do run out, arrivals are counted late.
	DefaultWorkers = 64
	// DefaultPayload is the plaintext size: a data key's worth.
	DefaultPayload = 32
	// MaxPayload is the largest plaintext, the KMS Encrypt limit.
	MaxPayload = 4096
)

// Config describes one run. Zero fields take the defaults above.
type Config struct {
	// Pacer schedules the arrivals (vegeta.ConstantPacer, vegeta.SinePacer,
	// or any vegeta.Pacer). Required.
	Pacer vegeta.Pacer
	// Duration is how long arrivals are scheduled for; work in flight at the
	// end is waited for. Required.
	Duration time.Duration
	// Workers bounds the arrivals in flight.
	Workers int
	// Payload is the plaintext size in bytes, 1..MaxPayload.
	Payload int
	// Mix weighs the operations; nil means DefaultMix.
	Mix Mix
	// Progress, if set, is called about once per ProgressInterval during the
	// run, from a goroutine of Run's (never after Run returns).
	Progress func(Progress)
}

// ProgressInterval is how often Config.Progress is called.
const ProgressInterval = time.Second

// Progress is a snapshot of a run in flight.
type Progress struct {
	Elapsed  time.Duration // since the run started
	Duration time.Duration // the configured arrival window
	Arrivals uint64        // scheduled so far, late ones included
	Late     uint64        // found no free worker
	OK       uint64        // finished without error
	Failed   uint64        // finished with an error (cancelled ones included)
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Payload == 0 {
		c.Payload = DefaultPayload
	}
	if len(c.Mix) == 0 {
		c.Mix = DefaultMix()
	}
	return c
}

// Validate reports every problem of the config at once, as k6 does, so a
// user fixes them in one go.
func (c Config) Validate() []error {
	c = c.withDefaults()
	var errs []error
	if c.Pacer == nil {
		errs = append(errs, errors.New("pacer: required"))
	} else if err := checkPacer(c.Pacer); err != nil {
		errs = append(errs, fmt.Errorf("pacer %v: %w", c.Pacer, err))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %v: must be above 0", c.Duration))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d: must be at least 1", c.Workers))
	}
	if c.Payload < 1 || c.Payload > MaxPayload {
		errs = append(errs, fmt.Errorf("payload %d: want 1..%d bytes", c.Payload, MaxPayload))
	}
	if err := c.Mix.validate(); err != nil {
		errs = append(errs, fmt.Errorf("mix: %w", err))
	}
	return errs
}

// checkPacer rejects pacers that would never schedule a sensible run: vegeta
// reads a zero ConstantPacer as "as fast as possible" (which would spin the
// dispatcher) and stops at once on a SinePacer whose amplitude is not below
// its mean.
func checkPacer(p vegeta.Pacer) error {
	if r := p.Rate(0); !(r > 0) || math.IsInf(r, 0) {
		return fmt.Errorf("rate at start is %v per second, want a finite rate above 0", r)
	}
	if _, stop := p.Pace(0, 0); stop {
		return errors.New("stops before the first arrival (for a SinePacer: amplitude must be below the mean)")
	}
	return nil
}
