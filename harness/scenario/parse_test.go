package scenario_test

import (
	"errors"
	"io/fs"
	"reflect"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/load"
	"github.com/keystorm/keystorm/harness/scenario"
)

func dur(d time.Duration) *time.Duration { return &d }
func i64(n int64) *int64                 { return &n }
func f64(f float64) *float64             { return &f }

// TestLoadFull reads testdata/full.yaml, which uses every block and leaves
// out what has a default, and checks every value, defaults included.
func TestLoadFull(t *testing.T) {
	t.Parallel()
	s, err := scenario.Load("testdata/full.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", what, got, want)
		}
	}
	check("file", s.File, "testdata/full.yaml")
	check("name", s.Name, "hsm-loss-under-burst")
	check("description", s.Description, "Every HSM of the cluster is deleted under square-wave bursts; the keys fail KMSInvalidStateException until CreateHsm brings one back (procedure 7).\n")
	check("covers", s.Covers, []string{"code:INSUFFICIENT_CLOUDHSM_HSMS", "exception:KMSInvalidStateException", "procedure:7"})
	check("seed", s.Seed, int64(42))
	check("timeout (load.duration + 2m)", s.Timeout, 3*time.Minute)
	check("stack (clusters from setup.clusters, connect-duration default)", s.Stack,
		scenario.StackConfig{Clusters: 2, Speed: 60, ConnectDuration: 20 * time.Minute})
	check("setup", s.Setup, scenario.Setup{
		Clusters:    []string{"main", "spare"},
		Stores:      []scenario.StoreSetup{{Name: "s1", Cluster: "main", Connect: true}},
		Keys:        []scenario.KeySetup{{Name: "k1", Store: "s1"}, {Name: "soft"}},
		Ciphertexts: []scenario.CiphertextKeep{{Key: "k1", Count: 10, Size: 64}},
	})
	check("load", s.Load, load.Config{
		Duration: time.Minute,
		Shape: load.Shape{Sequence: []load.Shape{
			{Constant: &load.Constant{Rate: 100, For: 10 * time.Second}},
			{Square: &load.Square{Low: 50, High: 400, Period: 5 * time.Second, Duty: 0.2, For: 50 * time.Second}},
		}},
		Mix:             []load.MixEntry{{Op: "Encrypt", Weight: 3}, {Op: "Decrypt", Weight: 1}},
		Keys:            []string{"k1", "soft"},
		Sizes:           []int{32},
		Timeout:         5 * time.Second,
		LateTolerance:   100 * time.Millisecond,
		MaxLateFraction: 0.01,
	})

	type entry struct {
		ID          string
		At          *time.Duration
		When        *scenario.Condition
		Fault, Step string
		Timeout     time.Duration
		Action      faults.Action
		Line        int
	}
	var got []entry
	for _, e := range s.Timeline {
		got = append(got, entry{e.ID, e.At, e.When, e.Fault, e.Step, e.Timeout, e.Action, e.Line})
	}
	two := 2
	check("timeline", got, []entry{
		{"backup", dur(5 * time.Second), nil, "", "take-backup", 2 * time.Minute, &faults.TakeBackup{Cluster: "main", As: "before-loss"}, 35},
		{"delete-hsm", dur(20 * time.Second), nil, "delete-hsm", "", 2 * time.Minute, &faults.DeleteHSM{Cluster: "main", Count: "all"}, 39},
		{"disconnect-store", nil, &scenario.Condition{After: "delete-hsm+5s"}, "", "disconnect-store", 2 * time.Minute, &faults.DisconnectStore{Store: "s1", Wait: true}, 43},
		{"restore", nil, &scenario.Condition{After: "delete-hsm+5s"}, "", "create-cluster-from-backup", 5 * time.Minute,
			&faults.CreateClusterFromBackup{Cluster: "main", Backup: "before-loss", As: "restored", HSMs: two, Subnets: "source"}, 46},
		{"move", nil, &scenario.Condition{After: "restore.end", Store: "s1", State: "DISCONNECTED"}, "", "update-store", 2 * time.Minute,
			&faults.UpdateStore{Store: "s1", Cluster: "restored"}, 52},
		{"reconnect", nil, &scenario.Condition{After: "move.end"}, "", "connect-store", 2 * time.Minute, &faults.ConnectStore{Store: "s1", Wait: true}, 56},
	})

	// Line and Column are checked apart; zero them to compare the rest.
	var lines []int
	expect := append([]scenario.Expectation(nil), s.Expect...)
	for i := range expect {
		lines = append(lines, expect[i].Line)
		expect[i].Line, expect[i].Column = 0, 0
	}
	check("expectation lines", lines, []int{61, 65, 72, 75, 77, 80, 81})
	all := scenario.Window{From: "start", To: "end"}
	check("expect", expect, []scenario.Expectation{
		{ID: "expect[1]", Errors: &scenario.ErrorsExpect{Exception: "KMSInvalidStateException", Window: scenario.Window{From: "delete-hsm", To: "restore.end+5s"}, Min: i64(1)}},
		{ID: "back", State: &scenario.StateExpect{Store: "s1", To: "CONNECTED", After: "reconnect.end", Within: time.Minute, Stays: true}},
		{ID: "expect[3]", Latency: &scenario.LatencyExpect{Window: all, OKOnly: true, P99: 2 * time.Second}},
		{ID: "expect[4]", ErrorRate: &scenario.ErrorRateExpect{Window: all, Max: f64(0.5)}},
		{ID: "expect[5]", Throughput: &scenario.ThroughputExpect{Window: scenario.Window{From: "start", To: "delete-hsm"}, MinOfTarget: 0.8}},
		{ID: "expect[6]", Integrity: &scenario.IntegrityExpect{}},
		{ID: "expect[7]", SteadyState: &scenario.SteadyExpect{ErrorRate: f64(0.01), Settle: 5 * time.Second, MinRequests: 20}},
	})
	check("abort", s.Abort, []scenario.Abort{{Window: 5 * time.Second, ErrorRate: f64(0.9), After: 5 * time.Second}})
}

// TestWithDefaults checks that `with:` is decoded into the struct the
// catalog's New() returns, so that a parameter left out keeps its default.
func TestWithDefaults(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		with string
		want *faults.DeleteHSM
	}{
		{"count left out stays all", "{cluster: a}", &faults.DeleteHSM{Cluster: "a", Count: "all"}},
		{"count with no value stays all", "{cluster: a, count: }", &faults.DeleteHSM{Cluster: "a", Count: "all"}},
		{"a number for count is taken as written", "{cluster: a, count: 2}", &faults.DeleteHSM{Cluster: "a", Count: "2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := scenario.Parse("x.yaml", []byte(base+"timeline:\n  - at: 1s\n    fault: delete-hsm\n    with: "+tt.with+"\n"))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, ok := s.Timeline[0].Action.(*faults.DeleteHSM)
			if !ok {
				t.Fatalf("Action is a %T, want *faults.DeleteHSM", s.Timeline[0].Action)
			}
			if *got != *tt.want {
				t.Errorf("Action = %+v, want %+v", *got, *tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := scenario.Load("testdata/no-such-file.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load = %v, want an error wrapping fs.ErrNotExist", err)
	}
}

// TestErrorsAs checks that a caller can take Parse's errors apart.
func TestErrorsAs(t *testing.T) {
	t.Parallel()
	_, err := scenario.Parse("x.yaml", []byte("name: a\nnme: b\nload: {duration: 1}\n"))
	var list *scenario.Errors
	if !errors.As(err, &list) || len(list.List) != 2 {
		t.Fatalf("Parse = %v, want an *Errors of two", err)
	}
	var one *scenario.Error
	if !errors.As(err, &one) {
		t.Fatalf("errors.As(*Error) found none in %v", err)
	}
	want := scenario.Error{File: "x.yaml", Line: 2, Column: 1, Path: "", Msg: `unknown field "nme": did you mean name? (want one of: name, description, covers, seed, timeout, stack, setup, load, timeline, chaos, expect, abort)`}
	if *one != want {
		t.Errorf("first error = %+v, want %+v", *one, want)
	}
}

// TestValidateBuiltInGo checks a scenario built in Go rather than parsed:
// defaults apply to zero values, and errors come without a position.
func TestValidateBuiltInGo(t *testing.T) {
	t.Parallel()
	s := &scenario.Scenario{
		File: "built",
		Name: "built",
		Setup: scenario.Setup{
			Clusters: []string{"a"},
			Keys:     []scenario.KeySetup{{Name: "k"}},
		},
		Load: load.Config{
			Duration: time.Minute,
			Shape:    load.Shape{Constant: &load.Constant{Rate: 1}},
			Keys:     []string{"k"},
		},
		Timeline: []scenario.TimelineEntry{{At: dur(time.Second), Fault: "delete-hsm"}},
	}
	s.ApplyDefaults()
	var got []string
	for _, err := range s.Validate() {
		got = append(got, err.Error())
	}
	want := []string{"built: timeline[0].with.cluster: required"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Validate =\n%q\nwant\n%q", got, want)
	}
	if s.Timeline[0].ID != "delete-hsm" || s.Load.Mix[0].Op != "Encrypt" || s.Timeout != 3*time.Minute {
		t.Errorf("defaults not applied: id %q, mix %v, timeout %s", s.Timeline[0].ID, s.Load.Mix, s.Timeout)
	}
}
