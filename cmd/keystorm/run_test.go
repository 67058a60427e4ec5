package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/result"
)

// TestRunRejectsBadScenarios: bad files exit 2 before anything runs, with
// file:line:column messages naming the field.
func TestRunRejectsBadScenarios(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file string
		want       *regexp.Regexp
	}{
		{"an unknown field", "unknown-field.yaml",
			regexp.MustCompile(`testdata/unknown-field\.yaml:7:32: load\.shape\.constant: unknown field "burst"`)},
		{"a wrong type", "wrong-type.yaml",
			regexp.MustCompile(`testdata/wrong-type\.yaml:6:13: load\.duration: .*ten seconds.*`)},
		{"an unknown fault", "unknown-fault.yaml",
			regexp.MustCompile(`testdata/unknown-fault\.yaml:10:\d+: timeline\[0\]\.fault: unknown fault "delete-hsn".*delete-hsm`)},
		{"an impossible timeline", "impossible-timeline.yaml",
			regexp.MustCompile(`testdata/impossible-timeline\.yaml:\d+:\d+: timeline\[\d\]\.(when\.after|at): `)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, cmd := range []string{"run", "validate"} {
				out := t.TempDir()
				args := []string{cmd, filepath.Join("testdata", tc.file)}
				if cmd == "run" {
					args = []string{cmd, "--out", out, filepath.Join("testdata", tc.file)}
				}
				code, _, stderr := keystorm(t, args...)
				if code != exitUsage {
					t.Errorf("%s: exit %d, want 2; stderr:\n%s", cmd, code, stderr)
				}
				if !tc.want.MatchString(stderr) {
					t.Errorf("%s: stderr does not match %s:\n%s", cmd, tc.want, stderr)
				}
				if cmd == "run" {
					if entries, _ := os.ReadDir(out); len(entries) != 0 {
						t.Errorf("run wrote %d entries into --out for a bad file", len(entries))
					}
				}
			}
		})
	}
}

func TestValidateAndFaults(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := keystorm(t, "validate", "../../scenarios/hsm-deleted-under-load.yaml")
	if code != exitOK {
		t.Fatalf("validate the flagship: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"ok", "lose-last-hsm", "fault delete-hsm", "keys-fail-without-hsms"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("validate output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = keystorm(t, "faults")
	if code != exitOK {
		t.Fatalf("faults: exit %d", code)
	}
	for _, want := range []string{"Faults:", "Recovery steps:", "delete-hsm", "block-network", "create-hsm", "(needs: cloudhsm-api)", "cluster:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("faults output lacks %q:\n%s", want, stdout)
		}
	}
	if i, j := strings.Index(stdout, "Faults:"), strings.Index(stdout, "Recovery steps:"); i < 0 || j < i {
		t.Errorf("faults are not listed before the recovery steps")
	}
}

// TestFlagshipAgainstExternalServe runs the flagship scenario with
// --stack external against a `keystorm serve` started as its own process,
// as a team gates its own endpoint.
func TestFlagshipAgainstExternalServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	infoPath := filepath.Join(dir, "target.json")
	serve := exec.Command(os.Args[0], "serve", "--speed", "600", "--info", infoPath)
	serve.Env = append(os.Environ(), runMainEnv+"=1")
	var serveOut lockedBuffer
	serve.Stdout, serve.Stderr = &serveOut, &serveOut
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- serve.Wait() }()
	t.Cleanup(func() {
		serve.Process.Signal(os.Interrupt)
		select {
		case err := <-waited:
			if err != nil {
				t.Errorf("serve: %v\n%s", err, serveOut.String())
			}
		case <-time.After(30 * time.Second):
			serve.Process.Kill()
			<-waited
			t.Error("serve did not stop on SIGINT")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(infoPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not write --info:\n%s", serveOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	out := filepath.Join(dir, "out")
	code, stdout, stderr := keystorm(t, "run", "--stack", "external", "--target", infoPath, "--out", out,
		"../../scenarios/hsm-deleted-under-load.yaml")
	if code != exitOK {
		t.Fatalf("flagship on external serve: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	matches, _ := filepath.Glob(filepath.Join(out, "hsm-deleted-under-load-*", "result.json"))
	if len(matches) != 1 {
		t.Fatalf("result.json: found %v", matches)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	var res result.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Stack != "external" || res.Status != result.Pass || len(res.Expectations) != 7 {
		t.Errorf("result: stack %q status %q with %d expectations", res.Stack, res.Status, len(res.Expectations))
	}
	for _, f := range []string{"report.html", "junit.xml", "summary.md", "metrics.prom", "history.jsonl"} {
		if _, err := os.Stat(filepath.Join(filepath.Dir(matches[0]), f)); err != nil {
			t.Errorf("missing report: %v", err)
		}
	}
}

// TestRunSIGINT interrupts a real `keystorm run` as a user would with ^C:
// it stops, cleans up its stack, still writes its reports, and exits 2
// (a run that did not finish cannot be trusted either way).
func TestRunSIGINT(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	cmd := exec.Command(os.Args[0], "run", "--out", out, "../../scenarios/hsm-deleted-under-load.yaml")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the load runs (the banner is printed before setup).
	deadline := time.Now().Add(30 * time.Second)
	for {
		matches, _ := filepath.Glob(filepath.Join(out, "*", "history.jsonl"))
		if len(matches) == 1 {
			if b, _ := os.ReadFile(matches[0]); strings.Contains(string(b), `"load-start"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the load never started:\n%s\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if code := interrupt(t, cmd); code != exitUsage {
		t.Fatalf("exit %d, want status 2\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "INVALID") || !strings.Contains(stdout.String(), "did not finish") {
		t.Errorf("no summary of the interrupted run:\n%s", stdout.String())
	}
	matches, _ := filepath.Glob(filepath.Join(out, "*", "result.json"))
	if len(matches) != 1 {
		t.Fatalf("result.json after SIGINT: %v", matches)
	}
	res, err := result.Read(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != exitUsage || res.Load.Sent == 0 || res.Load.Sent >= res.Load.Planned {
		t.Errorf("result after SIGINT: exit %d, sent %d of %d planned", res.ExitCode, res.Load.Sent, res.Load.Planned)
	}
}

// TestRunPushesEachRunsMetrics: with --push-gateway, a run's metrics go to
// the Pushgateway when it ends, under job keystorm and the scenario as
// instance; a gateway that refuses them makes the run exit 2.
func TestRunPushesEachRunsMetrics(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var paths []string
	var bodies []string
	refuse := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		bodies = append(bodies, string(b))
		if refuse {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	const sc = "../../scenarios/state-disconnect-while-disconnected.yaml"
	code, stdout, stderr := keystorm(t, "run", "--quiet", "--out", t.TempDir(), "--push-gateway", srv.URL, sc)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	mu.Lock()
	if want := "PUT /metrics/job/keystorm/instance/state-disconnect-while-disconnected"; len(paths) != 1 || paths[0] != want {
		t.Errorf("pushes %v, want one %q", paths, want)
	}
	if len(bodies) != 1 || !strings.Contains(bodies[0], "keystorm_run_exit_code") {
		t.Errorf("the push carried no run metrics")
	}
	refuse = true
	mu.Unlock()
	code, _, stderr = keystorm(t, "run", "--quiet", "--out", t.TempDir(), "--push-gateway", srv.URL, sc)
	if code != exitUsage || !strings.Contains(stderr, "--push-gateway") {
		t.Errorf("a refused push: exit %d, stderr %q; want 2 naming --push-gateway", code, stderr)
	}
}

// TestRunServesMetrics: while a scenario runs, --metrics-addr serves the
// harness's own metrics and, beside them, the stack's session-pool metrics
// scraped from the stack, both labelled with the scenario.
func TestRunServesMetrics(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	var errb strings.Builder
	done := make(chan int, 1)
	go func() {
		defer pw.Close()
		done <- run(t.Context(), []string{"run", "--quiet", "--out", t.TempDir(),
			"--metrics-addr", "127.0.0.1:0", "testdata/quick-store.yaml"}, pw, &errb)
	}()
	// The first line names the address; the rest of stdout is drained so
	// the run never blocks on it.
	addrLine := regexp.MustCompile(`harness metrics on (http://\S+/metrics)`)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := addrLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1] // one such line: the channel has room
			}
		}
		io.Copy(io.Discard, pr)
	}()
	var url string
	select {
	case url = <-urls:
	case code := <-done:
		t.Fatalf("run ended (exit %d) before serving metrics:\n%s", code, errb.String())
	}

	want := map[string]bool{
		`keystorm_load_requests_total{op="Encrypt",outcome="ok",scenario="quick-store"}`: false,
		`keystorm_pkcs11_operations_total{hsm=`:                                          false,
	}
	scrape := func() {
		resp, err := http.Get(url)
		if err != nil {
			return // the run may have ended
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(body), "\n") {
			for w := range want {
				// The pool's samples carry the stack's labels and the
				// scenario's.
				if strings.HasPrefix(line, w) && strings.Contains(line, `scenario="quick-store"`) {
					want[w] = true
				}
			}
		}
	}
	var code int
poll:
	for {
		select {
		case code = <-done:
			break poll
		case <-time.After(100 * time.Millisecond):
			scrape()
		}
	}
	if code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", code, errb.String())
	}
	for w, ok := range want {
		if !ok {
			t.Errorf("never served during the run: %s…", w)
		}
	}
}
