package run_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	kmsfake "github.com/keystorm/keystorm/fakes/kms"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/run"
	"github.com/keystorm/keystorm/harness/scenario"
	"github.com/keystorm/keystorm/harness/target"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runScenario runs a testdata scenario on a fresh embedded stack with the
// given bugs.
func runScenario(t *testing.T, file string, bugs kmsfake.Bugs) *result.Result {
	t.Helper()
	sc, err := scenario.Load(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := target.StartEmbedded(ctx, target.EmbeddedOptions{
		Clusters: sc.Stack.Clusters, Speed: sc.Stack.Speed, ConnectDuration: sc.Stack.ConnectDuration, Bugs: bugs,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	res, err := run.Run(ctx, sc, st, run.Options{OutDir: t.TempDir(), ObserveInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func describe(res *result.Result) string {
	var b strings.Builder
	b.WriteString("invalid: " + res.Invalid + "\n")
	for _, e := range res.Expectations {
		b.WriteString("  " + string(e.Status) + " " + e.ID + ": " + e.Description + " -- " + e.Detail + "\n")
	}
	for _, i := range res.Timeline {
		b.WriteString("  timeline " + i.ID + " " + i.Action + " " + i.Error + "\n")
	}
	return b.String()
}

// TestEngineCatchesBrokenStacks runs each scenario on the correct stack,
// where it must pass, and on a stack broken on purpose, where it must
// exit 1 with the expectation that caught the bug failing.
func TestEngineCatchesBrokenStacks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		bugs   kmsfake.Bugs
		caught string // the expectation that must fail
	}{
		{"a wrong ConnectionErrorCode - fails the state expectation", "wrong-connection-error-code.yaml",
			kmsfake.Bugs{ConnectionErrorCode: "INTERNAL_ERROR"}, "fails-with-network-errors"},
		{"a store stuck in CONNECTING - fails the state expectation", "stuck-connecting.yaml",
			kmsfake.Bugs{StuckConnecting: true}, "connects-in-time"},
		{"a lost ciphertext - fails integrity", "lost-ciphertext.yaml",
			kmsfake.Bugs{CorruptEveryNth: 7}, "no-ciphertext-lost"},
		{"the wrong exception under a fault - fails the errors expectation", "wrong-exception.yaml",
			kmsfake.Bugs{Exceptions: map[string]string{"KMSInvalidStateException": "KMSInternalException"}}, "documented-exception"},
		{"a latency budget exceeded - fails the latency expectation", "latency-budget.yaml",
			kmsfake.Bugs{CryptoLatency: 400 * time.Millisecond}, "p99-budget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := runScenario(t, tc.file, kmsfake.Bugs{})
			if good.ExitCode != result.ExitPass {
				t.Fatalf("correct stack: exit %d, want 0\n%s", good.ExitCode, describe(good))
			}
			bad := runScenario(t, tc.file, tc.bugs)
			if bad.ExitCode != result.ExitFail {
				t.Fatalf("broken stack: exit %d, want 1\n%s", bad.ExitCode, describe(bad))
			}
			for _, e := range bad.Expectations {
				if e.ID == tc.caught && e.Status != result.Fail {
					t.Errorf("broken stack: %s is %s, want fail\n%s", e.ID, e.Status, describe(bad))
				}
			}
		})
	}
}

// TestNotApplicableOnATargetWithoutTheFault: a target without the CloudHSM
// API cannot delete an HSM, so the expectations that depend on the fault
// are not applicable (never passed); the rest are judged; with nothing
// applicable left the run exits 2.
func TestNotApplicableOnATargetWithoutTheFault(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	embedded, err := target.StartEmbedded(ctx, target.EmbeddedOptions{Speed: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer embedded.Close(context.Background())
	info := embedded.Info()
	info.CloudHSMEndpoint = ""
	st := target.External(info)

	sc, err := scenario.Load("testdata/not-applicable.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := run.Run(ctx, sc, st, run.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]result.Status{"fails-after-kill": result.NotApplicable, "fine-before-kill": result.NotApplicable, "fine-overall": result.Pass}
	for _, e := range res.Expectations {
		if e.Status != want[e.ID] {
			t.Errorf("%s: %s (%s), want %s", e.ID, e.Status, e.Detail, want[e.ID])
		}
	}
	if res.ExitCode != result.ExitPass || len(res.Timeline) == 0 {
		t.Errorf("exit %d, want 0\n%s", res.ExitCode, describe(res))
	}
	var kill *result.Injection
	for i := range res.Timeline {
		if res.Timeline[i].ID == "kill" {
			kill = &res.Timeline[i]
		}
	}
	if kill == nil || !kill.NotApplicable || !strings.Contains(kill.Error, "cloudhsm-api") {
		t.Errorf("the fault is not marked not applicable: %+v", kill)
	}

	// Without the one independent expectation, nothing applicable is left.
	sc.Expect = sc.Expect[:2]
	res, err = run.Run(ctx, sc, st, run.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != result.ExitInvalid || res.Status != result.NotApplicable || !strings.Contains(res.Invalid, "no expectation was applicable") {
		t.Errorf("exit %d status %s invalid %q, want 2, not-applicable\n%s", res.ExitCode, res.Status, res.Invalid, describe(res))
	}
}

// TestAbortStopsARunEarly: with every request failing after the fault, the
// abort condition stops the 20 s load within a few seconds, and the run
// fails naming it.
func TestAbortStopsARunEarly(t *testing.T) {
	start := time.Now()
	res := runScenario(t, "abort.yaml", kmsfake.Bugs{})
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the run took %s: the abort did not stop it", took)
	}
	if res.ExitCode != result.ExitFail || !strings.Contains(res.Aborted, "error rate") {
		t.Fatalf("exit %d aborted %q, want 1 and an error-rate abort\n%s", res.ExitCode, res.Aborted, describe(res))
	}
	var abort *result.Expectation
	for i := range res.Expectations {
		if res.Expectations[i].ID == "abort" {
			abort = &res.Expectations[i]
		}
	}
	if abort == nil || abort.Status != result.Fail {
		t.Errorf("no failing abort expectation\n%s", describe(res))
	}
	if res.Load.Sent >= res.Load.Planned/2 {
		t.Errorf("sent %d of %d planned: the load was not stopped", res.Load.Sent, res.Load.Planned)
	}
}

// TestHarnessMetricsDuringARun: the harness's own metrics count the load's
// requests while it runs, the stack's pool metrics are served beside them
// with the scenario's name, and both are gone from the registry after it.
func TestHarnessMetricsDuringARun(t *testing.T) {
	sc, err := scenario.Load("testdata/latency-budget.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := target.StartEmbedded(ctx, target.EmbeddedOptions{Speed: sc.Stack.Speed})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	reg := prometheus.NewRegistry()
	pool := run.NewPoolMetrics()
	reg.MustRegister(pool)
	poolSeen := make(chan string, 1)
	seen := make(chan float64, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			families, _ := reg.Gather()
			for _, f := range families {
				// The stack's pool calls, re-exported with the scenario.
				if f.GetName() == "keystorm_pkcs11_operations_total" {
					for _, m := range f.GetMetric() {
						for _, l := range m.GetLabel() {
							if l.GetName() == "scenario" && m.GetCounter().GetValue() > 0 {
								select {
								case poolSeen <- l.GetValue():
								default:
								}
							}
						}
					}
				}
				if f.GetName() != "keystorm_load_requests_total" {
					continue
				}
				var n float64
				for _, m := range f.GetMetric() {
					n += m.GetCounter().GetValue()
				}
				if n > 10 {
					select {
					case seen <- n:
					default:
					}
				}
			}
		}
	}()
	res, err := run.Run(ctx, sc, st, run.Options{OutDir: t.TempDir(), Registerer: reg, PoolMetrics: pool})
	close(stop)
	<-done
	close(seen)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := <-seen; !ok || n <= 10 {
		t.Errorf("keystorm_load_requests_total never went past 10 during the run (%v)", n)
	}
	select {
	case got := <-poolSeen:
		if got != sc.Name {
			t.Errorf("pool metrics labelled scenario=%q, want %q", got, sc.Name)
		}
	default:
		t.Error("the stack's keystorm_pkcs11_operations_total was never served during the run")
	}
	if res.ExitCode != result.ExitPass {
		t.Errorf("exit %d\n%s", res.ExitCode, describe(res))
	}
	if families, _ := reg.Gather(); len(families) != 0 {
		t.Errorf("%d metric families left registered after the run", len(families))
	}
}
