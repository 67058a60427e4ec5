// Package scenarios_test is keystorm's resilience gate: it runs every
// scenario of the library on the embedded stack, shows that none passes
// vacuously, and that together they cover every ConnectionErrorCode,
// data-plane exception row and recovery procedure of the spec.
package scenarios_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/check"
	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/run"
	"github.com/keystorm/keystorm/harness/scenario"
	"github.com/keystorm/keystorm/harness/target"
)

// library loads every scenario file of this directory.
func library(t *testing.T) []*scenario.Scenario {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []*scenario.Scenario
	for _, f := range files {
		sc, err := scenario.Load(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		t.Fatal("no scenarios")
	}
	return out
}

// TestLibrary runs each scenario on its own embedded stack (two at a time,
// as t.Parallel allows on two cores) and requires it to pass; then it
// judges every passing expectation's mutants on the same History, which
// must fail: a scenario that would pass whatever the stack did is caught
// here.
func TestLibrary(t *testing.T) {
	for _, sc := range library(t) {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			res := runOnEmbedded(t, sc)
			if res.ExitCode != result.ExitPass {
				t.Errorf("exit %d (%s)%s", res.ExitCode, res.Invalid, verdicts(res))
				return
			}
			notVacuous(t, sc, res)
		})
	}
}

func runOnEmbedded(t *testing.T, sc *scenario.Scenario) *result.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sc.Timeout+time.Minute)
	defer cancel()
	st, err := target.StartEmbedded(ctx, target.EmbeddedOptions{
		Clusters: sc.Stack.Clusters, Speed: sc.Stack.Speed, ConnectDuration: sc.Stack.ConnectDuration,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	res, err := run.Run(ctx, sc, st, run.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func verdicts(res *result.Result) string {
	var b strings.Builder
	for _, e := range res.Expectations {
		fmt.Fprintf(&b, "\n  %-8s %s: %s -- %s", e.Status, e.ID, e.Description, e.Detail)
	}
	for _, i := range res.Timeline {
		if i.Error != "" {
			fmt.Fprintf(&b, "\n  timeline %s (%s) at %.1fs: %s", i.ID, i.Action, i.Start, i.Error)
		}
	}
	return b.String()
}

// notVacuous judges the mutants of every expectation again on the run's
// History; each must fail. Integrity is judged on a copy of the History in
// which one verified ciphertext was lost.
func notVacuous(t *testing.T, sc *scenario.Scenario, res *result.Result) {
	t.Helper()
	tl, err := check.ReadTimeline(res.History, sc)
	if err != nil {
		t.Fatal(err)
	}
	in := check.Input{History: res.History, Timeline: tl}
	for _, e := range sc.Expect {
		for _, m := range check.Mutants(e) {
			got := check.Evaluate([]scenario.Expectation{m}, in)[0]
			if got.Status != result.Fail {
				t.Errorf("%s passes vacuously: its mutant %q is %s (%s)", e.ID, got.Description, got.Status, got.Detail)
			}
		}
		if e.Integrity != nil {
			lost := loseOneCiphertext(t, res.History)
			got := check.Evaluate([]scenario.Expectation{e}, check.Input{History: lost, Timeline: tl})[0]
			if got.Status != result.Fail {
				t.Errorf("%s passes with a lost ciphertext: %s (%s)", e.ID, got.Status, got.Detail)
			}
		}
	}
}

// loseOneCiphertext copies a History, making the first successful
// verification of a ciphertext answer InvalidCiphertextException.
func loseOneCiphertext(t *testing.T, path string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "lost.jsonl")
	w, err := history.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	done := false
	err = history.Scan(path, func(e history.Event) error {
		if r := e.Request; !done && r != nil && r.Op == check.OpVerify && r.OK() {
			r.Status, r.Exception, done = 400, "InvalidCiphertextException", true
		}
		w.Add(e)
		return nil
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if !done {
		t.Fatal("no verified ciphertext to lose")
	}
	return out
}

// required are the spec items every one of which some scenario must cover:
// the 10 ConnectionErrorCodes, the data-plane exception rows of section 4
// and the 7 recovery procedures of section 5.
var required = []string{
	"code:CLUSTER_NOT_FOUND", "code:SUBNET_NOT_FOUND", "code:INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET",
	"code:INSUFFICIENT_CLOUDHSM_HSMS", "code:NETWORK_ERRORS", "code:USER_NOT_FOUND", "code:USER_LOCKED_OUT",
	"code:USER_LOGGED_IN", "code:INVALID_CREDENTIALS", "code:INTERNAL_ERROR",
	"exception:NotFoundException:unknown-key", "exception:DisabledException:key-disabled",
	"exception:KMSInvalidStateException:pending-deletion", "exception:KMSInvalidStateException:store-not-connected",
	"exception:KMSInvalidStateException:key-material-deleted", "exception:KMSInvalidStateException:no-active-hsm",
	"exception:KMSInvalidStateException:network", "exception:KMSInvalidStateException:kmsuser-locked-out",
	"exception:KMSInternalException:no-session", "exception:InvalidCiphertextException:tampered",
	"exception:IncorrectKeyException:wrong-key",
	"procedure:1", "procedure:2", "procedure:3", "procedure:4", "procedure:5", "procedure:6", "procedure:7",
}

// vocabulary is every item a scenario may claim to cover.
var vocabulary = append(append([]string(nil), required...),
	"quick-fail:CloudHsmClusterNotActiveException", "quick-fail:CloudHsmClusterInvalidConfigurationException",
	"state-row:ConnectCustomKeyStore:FAILED", "state-row:ConnectCustomKeyStore:DISCONNECTING",
	"state-row:ConnectCustomKeyStore:CONNECTED", "state-row:DisconnectCustomKeyStore:DISCONNECTED",
	"state-row:UpdateCustomKeyStore:CONNECTED", "state-row:UpdateCustomKeyStore:FAILED",
	"state-row:DeleteCustomKeyStore:CONNECTED", "state-row:DeleteCustomKeyStore:has-keys",
	"key-state:unavailable-while-disconnected", "key-state:intents-on-reconnect", "key-state:pending-deletion-kept",
	"key-state:cancel-leaves-disabled", "key-state:orphaned-material",
	"soak",
)

// TestCoverage fails when a spec item has no scenario, or a scenario
// claims an item the spec does not have. It also writes the coverage
// table (spec item -> scenarios) to the test log.
func TestCoverage(t *testing.T) {
	t.Parallel()
	covered := map[string][]string{}
	for _, sc := range library(t) {
		if len(sc.Covers) == 0 {
			t.Errorf("%s covers nothing: say which spec items it asserts", sc.File)
		}
		for _, c := range sc.Covers {
			if !slices.Contains(vocabulary, c) {
				t.Errorf("%s covers %q, which is not a spec item (see vocabulary in library_test.go)", sc.File, c)
			}
			covered[c] = append(covered[c], sc.Name)
		}
	}
	var missing []string
	for _, r := range required {
		if len(covered[r]) == 0 {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		t.Errorf("no scenario covers: %s", strings.Join(missing, ", "))
	}
	keys := make([]string, 0, len(covered))
	for k := range covered {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%-60s %s", k, strings.Join(covered[k], ", "))
	}
}
