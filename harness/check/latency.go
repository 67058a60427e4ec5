package check

import (
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Latencies estimates latency percentiles with vegeta's t-digest, keeping
// the count vegeta's LatencyMetrics leaves to its caller. The zero value
// is ready.
type Latencies struct {
	N int64
	m vegeta.LatencyMetrics
}

// Add records one latency.
func (l *Latencies) Add(d time.Duration) {
	l.N++
	l.m.Add(d)
}

// Quantile returns the q-th quantile (0..1); 1 is the maximum.
func (l *Latencies) Quantile(q float64) time.Duration {
	if l.N == 0 {
		return 0
	}
	if q >= 1 {
		return l.m.Max
	}
	return l.m.Quantile(q)
}

// Max is the slowest; Mean the average.
func (l *Latencies) Max() time.Duration { return l.m.Max }
func (l *Latencies) Mean() time.Duration {
	if l.N == 0 {
		return 0
	}
	return l.m.Total / time.Duration(l.N)
}
