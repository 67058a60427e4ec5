//go:build !linux

package capacity

import "time"

// sleepPrecise falls back to time.Sleep where nanosleep is not wired up:
// arrivals may then go out up to a millisecond late, which shows in the
// result's lag.
func sleepPrecise(d time.Duration) { time.Sleep(d) }

const timerSlack = 0
