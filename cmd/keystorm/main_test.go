package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// runMainEnv makes the test binary run main instead of the tests, so that
// TestCapacitySIGINT can signal a real keystorm process.
const runMainEnv = "KEYSTORM_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main() // exits
	}
	goleak.VerifyTestMain(m)
}

// keystorm runs the command in-process, as main would with args.
func keystorm(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCapacityEmbeddedRun(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "result.json")
	code, out, errOut := keystorm(t, "capacity", "--duration", "300ms", "--rate", "500",
		"--burst-rate", "200", "--period", "100ms", "--hsms", "2", "--json", jsonPath)
	if code != exitOK {
		t.Fatalf("exit %d, want 0; stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"keystorm capacity: Sine{Constant{500 hits/1s} ± Constant{200 hits/1s} / 100ms",
		"arrivals ", "throughput ", "encrypt", "decrypt", "ks-cap-1", "ks-cap-2",
		"PASS: every arrival ran and succeeded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Error("progress drawn into a captured stdout")
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Arrivals uint64 `json:"arrivals"`
		Total    struct {
			Count uint64 `json:"count"`
			OK    uint64 `json:"ok"`
		} `json:"total"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("--json file: %v\n%s", err, b)
	}
	if res.Arrivals == 0 || res.Total.OK != res.Total.Count || res.Total.Count != res.Arrivals {
		t.Errorf("--json result: %+v, want every arrival ok", res)
	}
}

// TestCapacityInterruptedRunReports cancels a minute-long run: it must
// stop, still print its report, and exit 1.
func TestCapacityInterruptedRunReports(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"capacity", "--duration", "1m", "--rate", "200", "--hsms", "1"}, &out, &errb)
	}()
	// Setup takes a fraction of this; cancelling during setup would fail
	// the test with exit 2 and a setup error, not pass it.
	time.Sleep(time.Second)
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if code != exitFailed {
		t.Fatalf("exit %d, want 1; stderr:\n%s\nstdout:\n%s", code, errb.String(), out.String())
	}
	for _, want := range []string{"arrivals ", "ks-cap-1", "FAIL: interrupted after"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestCapacitySIGINT runs the real binary (this test binary, re-entering
// main) and interrupts it as a user would with ^C.
func TestCapacitySIGINT(t *testing.T) {
	cmd := exec.Command(os.Args[0], "capacity", "--duration", "1m", "--rate", "200", "--hsms", "1")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "CI=true")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past setup, as above
	if code := interrupt(t, cmd); code != exitFailed {
		t.Fatalf("exit %d, want status 1; stderr:\n%s\nstdout:\n%s", code, errb.String(), out.String())
	}
	if !strings.Contains(out.String(), "FAIL: interrupted after") {
		t.Errorf("no report after SIGINT:\n%s", out.String())
	}
}

// interrupt sends SIGINT to a running keystorm, as ^C would, and returns
// its exit code; a keystorm that has not exited 30 s later fails the test.
func interrupt(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-waited
		t.Fatal("keystorm did not exit after SIGINT")
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("wait for keystorm: %v", err)
	}
	return 0
}

func TestCapacityBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"Zero payload names --payload", []string{"--payload", "0"}, []string{"--payload 0: want 1..4096 bytes"}},
		{"Burst not below rate", []string{"--rate", "100", "--burst-rate", "100"}, []string{"--burst-rate 100: must be below --rate 100"}},
		{"Unknown op in mix", []string{"--mix", "encrypt=1,sign=1"}, []string{`--mix "encrypt=1,sign=1"`, `unknown op "sign"`}},
		{"Every problem at once", []string{"--rate", "0", "--duration", "0s", "--sessions", "0"}, []string{"--rate 0", "--duration 0s", "--sessions 0"}},
		{"External mode needs its flags", []string{"--module", "/nonexistent.so", "--hsms", "3"}, []string{"--hsms applies only", "--token-label: required", "--key-label: required", "--pin: required"}},
		{"External flags need --module", []string{"--token-label", "t"}, []string{"--token-label applies only with --module"}},
		{"Unparsable value - from the flag package", []string{"--rate", "lots"}, []string{`invalid value "lots" for flag -rate`}},
		{"Stray argument", []string{"extra"}, []string{`unexpected argument "extra"`}},
		{"Missing module - setup error", []string{"--module", "/nonexistent.so", "--token-label", "t", "--key-label", "k", "--pin", "1"}, []string{"cannot load /nonexistent.so"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := keystorm(t, append([]string{"capacity"}, tc.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if out != "" {
				t.Errorf("stdout not empty:\n%s", out)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"No command - usage", nil, exitUsage, "Usage:\n  keystorm <command>"},
		{"Help - usage", []string{"help"}, exitUsage, "capacity      drive paced"},
		{"Unknown command - named", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"Subcommand help - its flags", []string{"capacity", "-h"}, exitOK, "-burst-rate N"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := keystorm(t, tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut, tc.wantCode, tc.wantErr)
			}
		})
	}
}
