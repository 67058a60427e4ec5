package faults_test

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keystorm/keystorm/fakes/sessionpool"
	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/target"
)

var kebab = regexp.MustCompile(`^[a-z]+(-[a-z0-9]+)*$`)

func TestCatalog(t *testing.T) {
	t.Parallel()
	all := faults.All()
	if len(all) == 0 {
		t.Fatal("empty catalog")
	}
	seen := map[string]bool{}
	for _, e := range all {
		if seen[e.Name] {
			t.Errorf("%s: listed twice", e.Name)
		}
		seen[e.Name] = true
		if !kebab.MatchString(e.Name) {
			t.Errorf("%s: not kebab-case", e.Name)
		}
		if e.Kind != faults.KindFault && e.Kind != faults.KindStep {
			t.Errorf("%s: kind %q", e.Name, e.Kind)
		}
		if strings.TrimSpace(e.Summary) == "" {
			t.Errorf("%s: no summary", e.Name)
		}
		a := e.New()
		if a == nil {
			t.Errorf("%s: New returned nil", e.Name)
			continue
		}
		if a.Name() != e.Name || a.Kind() != e.Kind {
			t.Errorf("%s (%s): New returns %s (%s)", e.Name, e.Kind, a.Name(), a.Kind())
		}
		if e.New() == a {
			t.Errorf("%s: New returns the same action twice; each use must get its own", e.Name)
		}
		if got, ok := faults.Lookup(e.Name); !ok || got.Name != e.Name {
			t.Errorf("%s: Lookup finds %v", e.Name, got.Name)
		}
		if len(a.Needs()) == 0 {
			t.Errorf("%s: needs nothing; every action needs at least the KMS API or a hook", e.Name)
		}
	}
	if _, ok := faults.Lookup("no-such-fault"); ok {
		t.Error("Lookup found no-such-fault")
	}
	sorted := slices.IsSortedFunc(all, func(a, b faults.Entry) int {
		if a.Kind != b.Kind {
			if a.Kind == faults.KindFault {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if !sorted {
		t.Error("All is not sorted by kind (faults first), then name")
	}
	if names := faults.Names(); !sort.StringsAreSorted(names) || len(names) != len(all) {
		t.Errorf("Names: %v, want the %d names sorted", names, len(all))
	}
}

// TestParams: every action's parameters are exported fields with a
// kebab-case yaml name and a doc text, for the scenario's strict decoding
// and `keystorm faults`.
func TestParams(t *testing.T) {
	t.Parallel()
	for _, e := range faults.All() {
		v := reflect.TypeOf(e.New()).Elem()
		for i := range v.NumField() {
			fld := v.Field(i)
			if !fld.IsExported() {
				continue
			}
			name := fld.Tag.Get("yaml")
			if !kebab.MatchString(name) {
				t.Errorf("%s.%s: yaml name %q, want kebab-case", e.Name, fld.Name, name)
			}
			if fld.Tag.Get("doc") == "" {
				t.Errorf("%s.%s: no doc tag", e.Name, fld.Name)
			}
		}
	}
}

// TestDefaultSessionsPerHSM: restore-sessions restores what the stack
// starts with.
func TestDefaultSessionsPerHSM(t *testing.T) {
	if faults.DefaultSessionsPerHSM != sessionpool.DefaultMaxSessions {
		t.Fatalf("DefaultSessionsPerHSM %d, the stack's default %d", faults.DefaultSessionsPerHSM, sessionpool.DefaultMaxSessions)
	}
}

func intp(i int) *int { return &i }

// TestValidate: bad parameters are each reported, naming the parameter;
// the defaults with the required names given are valid.
func TestValidate(t *testing.T) {
	t.Parallel()
	type row struct {
		name string
		bad  func(faults.Action)
		want []string // the parameters the errors must name, one error each
	}
	rows := []row{
		{"delete-hsm", func(a faults.Action) { a.(*faults.DeleteHSM).Count = "0" }, []string{"cluster:", "count:"}},
		{"delete-hsm", func(a faults.Action) { a.(*faults.DeleteHSM).Count = "some" }, []string{"cluster:", "count:"}},
		{"create-hsm", func(a faults.Action) { a.(*faults.CreateHSM).Count = 29 }, []string{"cluster:", "count:"}},
		{"delete-cluster", func(faults.Action) {}, []string{"cluster:"}},
		{"delete-subnet", func(a faults.Action) { a.(*faults.DeleteSubnet).Subnet = "first" }, []string{"cluster:", "subnet:"}},
		{"exhaust-addresses", func(a faults.Action) { a.(*faults.ExhaustAddresses).Subnet = "-1" }, []string{"cluster:", "subnet:"}},
		{"free-addresses", func(a faults.Action) { a.(*faults.FreeAddresses).Subnet, a.(*faults.FreeAddresses).Free = "", 0 }, []string{"cluster:", "subnet:", "free:"}},
		{"block-network", func(a faults.Action) { a.(*faults.BlockNetwork).HSM = intp(-1) }, []string{"cluster:", "hsm:"}},
		{"unblock-network", func(a faults.Action) { a.(*faults.UnblockNetwork).HSM = intp(-2) }, []string{"cluster:", "hsm:"}},
		{"add-latency", func(a faults.Action) { a.(*faults.AddLatency).HSM, a.(*faults.AddLatency).Latency = intp(-1), 0 }, []string{"cluster:", "hsm:", "latency:"}},
		{"add-latency", func(a faults.Action) { a.(*faults.AddLatency).Latency = time.Hour }, []string{"cluster:", "latency:"}},
		{"remove-latency", func(a faults.Action) { a.(*faults.RemoveLatency).HSM = intp(-1) }, []string{"cluster:", "hsm:"}},
		{"break-security-group", func(faults.Action) {}, []string{"cluster:"}},
		{"restore-security-group", func(faults.Action) {}, []string{"cluster:"}},
		{"cluster-not-active", func(faults.Action) {}, []string{"cluster:"}},
		{"cluster-active", func(faults.Action) {}, []string{"cluster:"}},
		{"lock-out-kmsuser", func(a faults.Action) { a.(*faults.LockOutKmsuser).Attempts = 0 }, []string{"cluster:", "attempts:"}},
		{"rotate-kmsuser-password", func(faults.Action) {}, []string{"cluster:"}},
		{"set-kmsuser-password", func(a faults.Action) { a.(*faults.SetKmsuserPassword).Password = "short" }, []string{"cluster:", "password:"}},
		{"set-kmsuser-password", func(a faults.Action) { a.(*faults.SetKmsuserPassword).Password = "not-alnum" }, []string{"cluster:", "password:"}},
		{"set-store-password", func(a faults.Action) { a.(*faults.SetStorePassword).Password = strings.Repeat("a", 33) }, []string{"store:", "password:"}},
		{"delete-kmsuser", func(faults.Action) {}, []string{"cluster:"}},
		{"create-kmsuser", func(a faults.Action) { a.(*faults.CreateKmsuser).Password = "pass word" }, []string{"cluster:", "password:"}},
		{"login-kmsuser", func(faults.Action) {}, []string{"cluster:"}},
		{"logout-kmsuser", func(faults.Action) {}, []string{"cluster:"}},
		{"delete-key-material", func(faults.Action) {}, []string{"key:"}},
		{"delete-orphaned-material", func(faults.Action) {}, []string{"store:", "key:"}},
		{"delete-store", func(faults.Action) {}, []string{"store:"}},
		{"exhaust-sessions", func(a faults.Action) { a.(*faults.ExhaustSessions).MaxPerHSM = 0 }, []string{"max-per-hsm:"}},
		{"restore-sessions", func(a faults.Action) { a.(*faults.RestoreSessions).MaxPerHSM = -1 }, []string{"max-per-hsm:"}},
		{"internal-error", func(a faults.Action) {
			a.(*faults.InternalError).Operation, a.(*faults.InternalError).Count = "encrypt", 0
		}, []string{"operation:", "count:"}},
		{"clear-internal-error", func(a faults.Action) { a.(*faults.ClearInternalError).Operation = "" }, []string{"operation:"}},
		{"connect-store", func(faults.Action) {}, []string{"store:"}},
		{"disconnect-store", func(faults.Action) {}, []string{"store:"}},
		{"update-store", func(faults.Action) {}, []string{"store:", "password, cluster, name:"}},
		{"update-store", func(a faults.Action) {
			a.(*faults.UpdateStore).Password, a.(*faults.UpdateStore).NewName = "unknown!", strings.Repeat("n", 257)
		}, []string{"store:", "password:", "name:"}},
		{"take-backup", func(faults.Action) {}, []string{"cluster:", "as:"}},
		{"create-cluster-from-backup", func(a faults.Action) {
			s := a.(*faults.CreateClusterFromBackup)
			s.Backup, s.HSMs, s.Subnets = "", 0, "old"
		}, []string{"cluster:", "backup:", "as:", "hsms:", "subnets:"}},
		{"disable-key", func(faults.Action) {}, []string{"key:"}},
		{"enable-key", func(faults.Action) {}, []string{"key:"}},
		{"schedule-key-deletion", func(a faults.Action) { a.(*faults.ScheduleKeyDeletion).Days = 6 }, []string{"key:", "days:"}},
		{"schedule-key-deletion", func(a faults.Action) { a.(*faults.ScheduleKeyDeletion).Days = 31 }, []string{"key:", "days:"}},
		{"cancel-key-deletion", func(faults.Action) {}, []string{"key:"}},
		{"advance-clock", func(a faults.Action) { a.(*faults.AdvanceClock).By = -time.Hour }, []string{"by:"}},
		{"set-clock-speed", func(a faults.Action) { a.(*faults.SetClockSpeed).Speed = -1 }, []string{"speed:"}},
		{"kill-hsm-node", func(a faults.Action) { a.(*faults.KillHSMNode).HSM = -1 }, []string{"cluster:", "hsm:"}},
		{"pause-hsm-node", func(a faults.Action) { a.(*faults.PauseHSMNode).HSM = -2 }, []string{"cluster:", "hsm:"}},
		{"resume-hsm-node", func(faults.Action) {}, []string{"cluster:"}},
	}
	covered := map[string]bool{}
	for _, r := range rows {
		covered[r.name] = true
		e, ok := faults.Lookup(r.name)
		if !ok {
			t.Errorf("%s: not in the catalog", r.name)
			continue
		}
		a := e.New()
		r.bad(a)
		errs := a.Validate()
		if len(errs) != len(r.want) {
			t.Errorf("%s: %d errors %v, want %d naming %v", r.name, len(errs), errs, len(r.want), r.want)
			continue
		}
		for i, want := range r.want {
			if !strings.HasPrefix(errs[i].Error(), want) {
				t.Errorf("%s: error %d %q, want it to start %q", r.name, i, errs[i], want)
			}
		}
	}
	for _, e := range faults.All() {
		if !covered[e.Name] {
			t.Errorf("%s: no row", e.Name)
		}
		a := e.New()
		fillNames(a)
		if errs := a.Validate(); len(errs) > 0 {
			t.Errorf("%s: the defaults with names given: %v", e.Name, errs)
		}
	}
}

// fillNames sets what has no default: the names an action refers to, and
// the values that must be chosen (a clock's jump or speed, an update).
func fillNames(a faults.Action) {
	fillNameFields(reflect.ValueOf(a).Elem())
	switch a := a.(type) {
	case *faults.AdvanceClock:
		a.By = time.Hour
	case *faults.SetClockSpeed:
		a.Speed = 60
	case *faults.UpdateStore:
		a.NewName = "renamed"
	}
}

// fillNameFields names the scenario objects of a struct of parameters,
// inline ones included.
func fillNameFields(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			fillNameFields(v.Field(i))
			continue
		}
		switch f.Tag.Get("yaml") {
		case "cluster", "store", "key", "as":
			if v.Field(i).String() == "" {
				v.Field(i).SetString("x")
			}
		}
	}
}

// TestCheck: on a target without an admin endpoint, every action that
// needs the admin API, the HSM client or the clock is not applicable
// (target.ErrMissing), and so is its Inject, before it calls anything;
// the others are possible. Without the CloudHSM API, so are those that
// need it.
func TestCheck(t *testing.T) {
	t.Parallel()
	info := target.Info{
		Region: "us-east-1", AccessKeyID: "AKIAEXAMPLEEXAMPLE12", SecretAccessKey: "secret",
		// Nothing listens there: nothing must be called.
		KMSEndpoint: "http://127.0.0.1:9", CloudHSMEndpoint: "http://127.0.0.1:9",
	}
	noAdmin := target.External(info)
	info.CloudHSMEndpoint = ""
	kmsOnly := target.External(info)

	for _, tc := range []struct {
		stack target.Stack
		lacks []target.Capability
	}{
		{noAdmin, []target.Capability{target.Admin, target.HSMClient, target.Clock, target.Machines}},
		{kmsOnly, []target.Capability{target.Admin, target.HSMClient, target.Clock, target.ControlPlane, target.Machines}},
	} {
		env := faults.NewEnv(tc.stack)
		env.BindCluster("x", faults.Cluster{ID: "cluster-abcdefghijk", SubnetIDs: []string{"subnet-1", "subnet-2"}})
		env.BindStore("x", "cks-0123456789abcdef0")
		env.BindKey("x", "0b7e3f1c-1d2e-4f5a-8b9c-0123456789ab")
		env.BindBackup("x", "backup-abcdefghijk")
		for _, e := range faults.All() {
			a := e.New()
			fillNames(a)
			var missing target.Capability
			for _, c := range a.Needs() {
				if slices.Contains(tc.lacks, c) {
					missing = c
					break
				}
			}
			err := faults.Check(a, tc.stack)
			if missing == "" {
				if err != nil {
					t.Errorf("%s on a target lacking %v: %v, want it possible", e.Name, tc.lacks, err)
				}
				continue
			}
			var me *target.MissingError
			if !errors.Is(err, target.ErrMissing) || !errors.As(err, &me) || !strings.HasPrefix(err.Error(), e.Name+": ") {
				t.Errorf("%s on a target lacking %v: Check says %v, want ErrMissing naming the action", e.Name, tc.lacks, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = a.Inject(ctx, env)
			cancel()
			if !errors.Is(err, target.ErrMissing) {
				t.Errorf("%s on a target lacking %v: Inject says %v, want ErrMissing", e.Name, tc.lacks, err)
			}
		}
	}

	// A parameter may bring a need: an HSM by its index is found through
	// the CloudHSM API.
	withAdmin := target.External(target.Info{Region: "us-east-1", AccessKeyID: "A", SecretAccessKey: "s", KMSEndpoint: "http://127.0.0.1:9", AdminEndpoint: "http://127.0.0.1:9"})
	whole := &faults.BlockNetwork{Cluster: "x"}
	if err := faults.Check(whole, withAdmin); err != nil {
		t.Errorf("block-network of a cluster with the admin API: %v", err)
	}
	one := &faults.BlockNetwork{Cluster: "x", HSM: intp(0)}
	var me *target.MissingError
	if err := faults.Check(one, withAdmin); !errors.As(err, &me) || me.Capability != target.ControlPlane {
		t.Errorf("block-network of one HSM without the CloudHSM API: %v, want it missing %s", err, target.ControlPlane)
	}
	restore := &faults.CreateClusterFromBackup{Subnets: "new"}
	if err := faults.Check(restore, noAdmin); !errors.As(err, &me) || me.Capability != target.Admin {
		t.Errorf("create-cluster-from-backup with new subnets without the admin API: %v, want it missing %s", err, target.Admin)
	}
}
