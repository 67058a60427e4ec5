package reports

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/keystorm/keystorm/harness/result"
)

// PushJob is the Pushgateway job keystorm pushes a run's metrics under.
const PushJob = "keystorm"

// Push sends r's metrics (those Prometheus writes) to the Pushgateway at
// url, as a batch job does when it ends: job PushJob, grouped by instance =
// the scenario's name, so that each scenario's last run replaces its own
// group and no other.
func Push(ctx context.Context, url string, r *result.Result) error {
	s, err := snapshotOf(r)
	if err != nil {
		return fmt.Errorf("reports: push: %w", err)
	}
	if err := push.New(url, PushJob).Collector(s).Grouping("instance", r.Scenario).PushContext(ctx); err != nil {
		return fmt.Errorf("reports: push to %s: %w", url, err)
	}
	return nil
}
