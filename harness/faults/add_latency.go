package faults

import (
	"context"
	"fmt"
	"time"

	"github.com/keystorm/keystorm/harness/target"
)

// AddLatency delays every call from KMS to a cluster, or to one of its
// HSMs, through the admin API: a slow path. Nothing fails by itself, but
// each request holds its PKCS#11 session longer, so bursts run out of
// sessions sooner (with exhaust-sessions: KMSInternalException).
type AddLatency struct {
	Cluster string        `yaml:"cluster" doc:"the cluster's name in the scenario"`
	HSM     *int          `yaml:"hsm" doc:"only this HSM: its index among the cluster's HSMs (default: the whole cluster)"`
	Latency time.Duration `yaml:"latency" doc:"added to each call, such as 50ms (at most 1m)"`
}

var _ Action = (*AddLatency)(nil)

func (*AddLatency) Name() string                 { return "add-latency" }
func (*AddLatency) Kind() Kind                   { return KindFault }
func (f *AddLatency) Needs() []target.Capability { return hsmNeeds(target.Admin, f.HSM) }

func (f *AddLatency) Validate() []error {
	errs := required(nil, "cluster", f.Cluster)
	if err := checkHSMParam("hsm", f.HSM); err != nil {
		errs = append(errs, err)
	}
	if f.Latency <= 0 || f.Latency > time.Minute {
		errs = append(errs, fmt.Errorf("latency: %v, want more than 0 and at most 1m (remove-latency removes it)", f.Latency))
	}
	return errs
}

func (f *AddLatency) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return setLatency(ctx, env, f.Cluster, f.HSM, f.Latency)
}

// setLatency sets the latency added to a cluster or an HSM; 0 removes it.
func setLatency(ctx context.Context, env *Env, cluster string, hsm *int, d time.Duration) error {
	admin, err := adminAPI(env, target.Admin)
	if err != nil {
		return err
	}
	t, err := targetOf(ctx, env, cluster, hsm)
	if err != nil {
		return err
	}
	in := struct {
		adminTarget
		Latency string `json:"latency"`
	}{t, d.String()}
	if err := admin.Post(ctx, "/v1/latency", in, nil); err != nil {
		return fmt.Errorf("set the latency of %s to %v: %w", t, d, err)
	}
	return nil
}
