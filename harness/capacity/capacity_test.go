package capacity_test

import (
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/keystorm/keystorm/harness/capacity"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := capacity.Config{Pacer: vegeta.ConstantPacer{Freq: 10, Per: time.Second}, Duration: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*capacity.Config)
		want []string // substrings, one per expected error; none = valid
	}{
		{"Defaults - valid", func(*capacity.Config) {}, nil},
		{"Sine pacer below its mean - valid", func(c *capacity.Config) {
			c.Pacer = vegeta.SinePacer{Period: time.Second, Mean: vegeta.Rate{Freq: 10, Per: time.Second}, Amp: vegeta.Rate{Freq: 9, Per: time.Second}}
		}, nil},
		{"No pacer - error", func(c *capacity.Config) { c.Pacer = nil }, []string{"pacer: required"}},
		// vegeta reads a zero rate as "unbounded": the dispatcher would spin.
		{"Zero rate - error", func(c *capacity.Config) { c.Pacer = vegeta.ConstantPacer{} }, []string{"want a finite rate above 0"}},
		// vegeta stops such a SinePacer before its first hit.
		{"Sine amplitude equal to mean - error", func(c *capacity.Config) {
			c.Pacer = vegeta.SinePacer{Period: time.Second, Mean: vegeta.Rate{Freq: 10, Per: time.Second}, Amp: vegeta.Rate{Freq: 10, Per: time.Second}}
		}, []string{"amplitude must be below the mean"}},
		{"Zero duration - error", func(c *capacity.Config) { c.Duration = 0 }, []string{"duration 0s"}},
		{"Negative workers - error", func(c *capacity.Config) { c.Workers = -1 }, []string{"workers -1"}},
		{"Payload over 4096 - error", func(c *capacity.Config) { c.Payload = 4097 }, []string{"payload 4097: want 1..4096"}},
		{"Mix of zero weights - error", func(c *capacity.Config) { c.Mix = capacity.Mix{capacity.Encrypt: 0} }, []string{"mix: no op"}},
		{"Several problems - all reported", func(c *capacity.Config) { c.Duration, c.Payload = -time.Second, -1 }, []string{"duration", "payload"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tc.edit(&c)
			errs := c.Validate()
			if len(errs) != len(tc.want) {
				t.Fatalf("errors %v, want %d containing %q", errs, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
		})
	}
}

func TestNewRejectsIncompleteTarget(t *testing.T) {
	t.Parallel()
	cfg := capacity.Config{Pacer: vegeta.ConstantPacer{Freq: 10, Per: time.Second}, Duration: time.Second}
	for _, tc := range []struct {
		name string
		tgt  *capacity.Target
		want string
	}{
		{"Nil target", nil, "target: required"},
		{"Empty target", &capacity.Target{}, "target: no pool"},
	} {
		if _, err := capacity.New(cfg, tc.tgt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestParseMix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    string // the mix's String, or the error's text
		wantErr bool
	}{
		{"encrypt=1,decrypt=1", "decrypt=1,encrypt=1", false},
		{" encrypt = 3 , decrypt=0 ", "decrypt=0,encrypt=3", false},
		{"decrypt=2", "decrypt=2", false},
		{"encrypt", `"encrypt": want op=weight`, true},
		{"sign=1", `unknown op "sign"`, true},
		{"encrypt=-1", "weight must be a whole number >= 0", true},
		{"encrypt=1,encrypt=2", "given twice", true},
		{"encrypt=0", "no op has a weight above 0", true},
		{"", "no op has a weight above 0", true},
	} {
		m, err := capacity.ParseMix(tc.in)
		switch {
		case tc.wantErr && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("ParseMix(%q) = %v, %v; want error containing %q", tc.in, m, err, tc.want)
		case !tc.wantErr && (err != nil || m.String() != tc.want):
			t.Errorf("ParseMix(%q) = %v, %v; want %s", tc.in, m, err, tc.want)
		}
	}
}
