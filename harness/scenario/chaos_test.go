package scenario_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/scenario"
)

const chaosYAML = `name: soak
seed: %SEED%
setup:
  clusters: [c1]
  keys: [{name: soft}]
load:
  duration: 60s
  shape: {constant: {rate: 10}}
  keys: [soft]
chaos:
  start: 5s
  faults:
    - {fault: block-network, with: {cluster: c1}, heal: unblock-network, heal-with: {cluster: c1}}
    - {fault: add-latency, with: {cluster: c1, latency: 20ms}, heal: remove-latency, heal-with: {cluster: c1}, weight: 2}
expect:
  - error-rate: {max: 1}
`

func parseChaos(t *testing.T, seed string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse("soak.yaml", []byte(strings.ReplaceAll(chaosYAML, "%SEED%", seed)))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestChaosDrawsAReplayableTimeline: the same seed draws the same faults
// at the same times; each fault is healed by its step after a hold within
// bounds; nothing starts before start or after the load.
func TestChaosDrawsAReplayableTimeline(t *testing.T) {
	t.Parallel()
	a, b, c := parseChaos(t, "42"), parseChaos(t, "42"), parseChaos(t, "43")
	describe := func(sc *scenario.Scenario) string {
		var out []string
		for _, e := range sc.Timeline {
			out = append(out, e.String())
		}
		return strings.Join(out, "\n")
	}
	if describe(a) != describe(b) {
		t.Errorf("the same seed drew two timelines:\n%s\n--\n%s", describe(a), describe(b))
	}
	if describe(a) == describe(c) {
		t.Errorf("seeds 42 and 43 drew the same timeline")
	}
	if len(a.Timeline) < 4 || len(a.Timeline)%2 != 0 {
		t.Fatalf("%d entries drawn, want fault/heal pairs", len(a.Timeline))
	}
	for i := 0; i < len(a.Timeline); i += 2 {
		f, h := a.Timeline[i], a.Timeline[i+1]
		if f.Action.Kind() != faults.KindFault || h.Action.Kind() != faults.KindStep || h.ID != f.ID+"-heal" {
			t.Errorf("entries %d, %d: %s %s / %s %s", i, i+1, f.ID, f.Action.Name(), h.ID, h.Action.Name())
		}
		hold := *h.At - *f.At
		if *f.At < 5*time.Second || hold < 2*time.Second || hold > 5*time.Second || *h.At > 60*time.Second {
			t.Errorf("%s at %s healed at %s", f.ID, *f.At, *h.At)
		}
		if i > 0 {
			if gap := *f.At - *a.Timeline[i-1].At; gap < 3*time.Second || gap > 8*time.Second {
				t.Errorf("%s starts %s after the last heal", f.ID, gap)
			}
		}
	}
}

func TestChaosErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, edit, want string }{
		{"no seed", "seed: %SEED%", "soak.yaml:11:3: chaos: needs a seed"},
		{"an unknown fault", "fault: block-network", `soak.yaml:13:15: chaos.faults[0].fault: unknown fault "block-netwrk"`},
		{"a fault as heal", "heal: remove-latency", `chaos.faults[1].heal: "delete-hsm" is a fault, not a recovery step`},
		{"a bad parameter", "latency: 20ms", `soak.yaml:14:48: chaos.faults[1].with: unknown field "latncy"`},
	} {
		data := chaosYAML
		switch tc.name {
		case "no seed":
			data = strings.Replace(data, tc.edit, "", 1)
		case "an unknown fault":
			data = strings.Replace(data, tc.edit, "fault: block-netwrk", 1)
		case "a fault as heal":
			data = strings.Replace(data, tc.edit, "heal: delete-hsm", 1)
		case "a bad parameter":
			data = strings.Replace(data, tc.edit, "latncy: 20ms", 1)
		}
		_, err := scenario.Parse("soak.yaml", []byte(strings.ReplaceAll(data, "%SEED%", "7")))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
