package scenarios_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keystorm/keystorm/fakes/dockertest"
	"github.com/keystorm/keystorm/fakes/nodes"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/run"
	"github.com/keystorm/keystorm/harness/scenario"
	"github.com/keystorm/keystorm/harness/target"
)

// containerScenarios run on the containers stack: the flagship and the
// library scenarios whose faults containers make real (a deleted HSM is a
// container removed, a blocked path dropped packets, a deleted subnet a
// network removed), and those only containers can run.
var containerScenarios = []string{
	"hsm-deleted-under-load.yaml",
	"code-subnet-not-found.yaml",
	"dataplane-network.yaml",
	"code-network-errors.yaml",
	"dataplane-session-exhaustion.yaml",
	"dataplane-kmsuser-locked-out.yaml",
	"containers/hsm-node-killed-under-load.yaml",
	"containers/subnet-network-removed-under-load.yaml",
	"containers/hsm-node-paused-under-load.yaml",
}

// TestContainers runs containerScenarios on the containers stack, one stack
// each, and requires each to pass with no expectation passing vacuously;
// then nothing keystorm started may be left on the Docker engine.
func TestContainers(t *testing.T) {
	dockertest.Require(t)
	bin := dockertest.BuildKeystorm(t)
	for _, path := range containerScenarios {
		sc, err := scenario.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(sc.Name, func(t *testing.T) {
			res := runOnContainers(t, sc, bin)
			if res.ExitCode != result.ExitPass {
				t.Errorf("exit %d (%s)%s", res.ExitCode, res.Invalid, verdicts(res))
				return
			}
			notVacuous(t, sc, res)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	left, err := nodes.Find(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !left.Empty() {
		t.Errorf("left on the Docker engine after every stack closed: %+v", left)
		nodes.Clean(ctx, "")
	}
}

// TestContainerOnlyScenariosNeedContainers: what the scenarios of
// scenarios/containers/ check, only containers give (a machine to kill or
// freeze, a subnet's network to remove). On the embedded stack each of them
// has an expectation that is not applicable (the fault needs machines) or
// that fails (an in-process subnet's HSMs stay reachable); none passes
// whole.
func TestContainerOnlyScenariosNeedContainers(t *testing.T) {
	files, err := filepath.Glob("containers/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no container-only scenarios: %v", err)
	}
	for _, f := range files {
		sc, err := scenario.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			res := runOnEmbedded(t, sc)
			for _, e := range res.Expectations {
				if e.Status == result.NotApplicable || e.Status == result.Fail {
					return
				}
			}
			t.Errorf("every expectation held on the embedded stack%s", verdicts(res))
		})
	}
}

func runOnContainers(t *testing.T, sc *scenario.Scenario, bin string) *result.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sc.Timeout+5*time.Minute)
	defer cancel()
	st, err := target.StartContainers(ctx, target.ContainersOptions{
		Clusters: sc.Stack.Clusters, Speed: sc.Stack.Speed, ConnectDuration: sc.Stack.ConnectDuration,
		Binary: bin, Log: dockertest.Log(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := st.Close(closeCtx); err != nil {
			t.Errorf("close the containers stack: %v", err)
		}
	}()
	res, err := run.Run(ctx, sc, st, run.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
