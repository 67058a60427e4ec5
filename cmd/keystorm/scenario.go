package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/result"
	scenariorun "github.com/keystorm/keystorm/harness/run"
	"github.com/keystorm/keystorm/harness/scenario"
	"github.com/keystorm/keystorm/harness/target"
	"github.com/keystorm/keystorm/reports"
)

const runUsage = `Usage: keystorm run [flags] SCENARIO.yaml...

Runs each scenario: spins up its stack (or uses --target), makes its setup,
drives its load, fires its faults and recovery steps, watches the states,
then checks its expectations and writes the reports (result.json,
report.html, junit.xml, summary.md, metrics.prom, the History) into a
directory of its own under --out, named after the scenario and the time.
With more than one scenario, index.html in --out lists every one that ran
(also when a run was interrupted) with its verdict and links to its reports.

Exit codes: 0 every expectation held; 1 one failed (or could not be
decided); 2 bad input, the stack or the load generator failed, or nothing
applicable was left (the worst over all scenarios).

Flags:
`

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keystorm run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stackKind := fs.String("stack", "embedded", "where to run: embedded (in this process), containers (Docker: a container per HSM, a network per subnet) or external (--target)")
	binary := fs.String("binary", "", "for --stack containers: the keystorm `PATH` the KMS image carries (default: this program)")
	targetFile := fs.String("target", "", "the target's info `FILE` (the format keystorm serve --info writes), for --stack external")
	out := fs.String("out", "keystorm-out", "write each scenario's reports into a directory under `DIR`")
	seed := fs.Int64("seed", 0, "override every scenario's seed (0: the scenario's, or a fresh one)")
	quiet := fs.Bool("quiet", false, "no progress line, even on a terminal")
	metricsAddr := fs.String("metrics-addr", "", "serve the harness's own Prometheus metrics on `ADDR` (such as 127.0.0.1:9464) while it runs")
	pushGateway := fs.String("push-gateway", "", "after each scenario, push its metrics (those of metrics.prom) to the Pushgateway at `URL` (job keystorm, instance the scenario)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), runUsage); fs.PrintDefaults() }
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "keystorm run: no scenario file given")
		fs.Usage()
		return exitUsage
	}
	var info target.Info
	switch *stackKind {
	case "embedded":
		if *targetFile != "" {
			fmt.Fprintln(stderr, "keystorm run: --target goes with --stack external")
			return exitUsage
		}
	case "external":
		if *targetFile == "" {
			fmt.Fprintln(stderr, "keystorm run: --stack external needs --target FILE")
			return exitUsage
		}
		var err error
		if info, err = target.ReadInfo(*targetFile); err != nil {
			fmt.Fprintf(stderr, "keystorm run: %v\n", err)
			return exitUsage
		}
	case "containers":
		if *targetFile != "" {
			fmt.Fprintln(stderr, "keystorm run: --target goes with --stack external")
			return exitUsage
		}
	default:
		fmt.Fprintf(stderr, "keystorm run: --stack %q: want embedded, containers or external\n", *stackKind)
		return exitUsage
	}
	if *binary != "" && *stackKind != "containers" {
		fmt.Fprintln(stderr, "keystorm run: --binary goes with --stack containers")
		return exitUsage
	}
	// Every file is checked before anything runs: a typo in the last one
	// must not surface after the first has run for ten minutes.
	var scenarios []*scenario.Scenario
	bad := false
	for _, path := range fs.Args() {
		sc, err := scenario.Load(path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			bad = true
			continue
		}
		scenarios = append(scenarios, sc)
	}
	if bad {
		return exitUsage
	}
	progress := !*quiet && isTerminal(stderr)
	var reg *prometheus.Registry
	var pool *scenariorun.PoolMetrics
	if *metricsAddr != "" {
		// The harness's own metrics, and beside them the stack's session
		// pool as each run's observer scrapes it.
		reg, pool = prometheus.NewRegistry(), scenariorun.NewPoolMetrics()
		reg.MustRegister(pool)
		stopMetrics, err := serveMetrics(*metricsAddr, reg, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "keystorm run: --metrics-addr: %v\n", err)
			return exitUsage
		}
		defer stopMetrics()
	}
	worst := exitOK
	var ran []reports.IndexEntry
	for _, sc := range scenarios {
		if ctx.Err() != nil {
			break
		}
		cfg := runConfig{
			stack:   stackChoice{kind: *stackKind, info: info, binary: *binary},
			outRoot: *out, seed: *seed, progress: progress, reg: reg, pool: pool, pushGateway: *pushGateway,
		}
		entry, code := runOne(ctx, sc, cfg, stdout, stderr)
		ran = append(ran, entry)
		worst = worse(worst, code)
	}
	// The index lists what ran, even when ^C cut the series short: the
	// runs before it are as good as ever.
	if len(scenarios) > 1 && len(ran) > 0 {
		p, err := reports.WriteIndex(*out, ran)
		if err != nil {
			fmt.Fprintf(stderr, "keystorm run: %v\n", err)
			worst = exitUsage
		} else {
			fmt.Fprintf(stdout, "index: %s\n", p)
		}
	}
	if ctx.Err() != nil {
		return exitUsage
	}
	return worst
}

// worse orders exit codes: 2 (invalid) over 1 (failed) over 0.
func worse(a, b int) int {
	rank := map[int]int{exitOK: 0, exitFailed: 1, exitUsage: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// stackChoice is what `keystorm run` was told to run scenarios on.
type stackChoice struct {
	kind   string      // embedded, containers or external
	info   target.Info // external's
	binary string      // containers': the keystorm binary of the KMS image
}

// start starts the stack of one scenario (or takes the external one).
func (c stackChoice) start(ctx context.Context, sc *scenario.Scenario, stdout io.Writer) (target.Stack, error) {
	switch c.kind {
	case "embedded":
		return target.StartEmbedded(ctx, target.EmbeddedOptions{
			Clusters: sc.Stack.Clusters, Speed: sc.Stack.Speed, ConnectDuration: sc.Stack.ConnectDuration,
		})
	case "containers":
		return target.StartContainers(ctx, target.ContainersOptions{
			Clusters: sc.Stack.Clusters, Speed: sc.Stack.Speed, ConnectDuration: sc.Stack.ConnectDuration,
			Binary: c.binary, Log: stdout,
		})
	}
	return target.External(c.info), nil
}

// runConfig is how `keystorm run` runs each scenario.
type runConfig struct {
	stack       stackChoice
	outRoot     string // reports go in a directory under it
	seed        int64  // overrides the scenario's, if not 0
	progress    bool   // a progress line on stderr
	reg         *prometheus.Registry
	pool        *scenariorun.PoolMetrics // registered on reg
	pushGateway string                   // where to push each run's metrics, if set
}

// runOne runs one scenario, writes its reports and prints its summary. It
// returns the run's entry for the index (a made-up invalid result, with no
// files, when the run could not even start) and its exit code.
func runOne(ctx context.Context, sc *scenario.Scenario, cfg runConfig, stdout, stderr io.Writer) (reports.IndexEntry, int) {
	started := time.Now()
	st, err := cfg.stack.start(ctx, sc, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "keystorm run %s: %v\n", sc.Name, err)
		return notRun(sc, cfg, started, err), exitUsage
	}
	defer func() {
		// Containers take a while to stop: the KMS container removes its HSM
		// containers and networks first.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := st.Close(cctx); err != nil {
			fmt.Fprintf(stderr, "keystorm run %s: stop the stack: %v\n", sc.Name, err)
		}
	}()
	dir, err := newRunDir(cfg.outRoot, sc.Name, started)
	if err != nil {
		fmt.Fprintf(stderr, "keystorm run %s: %v\n", sc.Name, err)
		return notRun(sc, cfg, started, err), exitUsage
	}
	fmt.Fprintf(stdout, "keystorm: %s on the %s stack (%s), load %s\n", sc.Name, st.Kind(), st.Info().KMSEndpoint, sc.Load.Duration)
	opts := scenariorun.Options{OutDir: dir, Seed: cfg.seed}
	if cfg.reg != nil {
		opts.Registerer, opts.PoolMetrics = cfg.reg, cfg.pool
	}
	if cfg.progress {
		opts.Progress = func(p scenariorun.Progress) {
			fmt.Fprintf(stderr, "\r\033[K%s/%s  %5.0f req/s  p99 %-8s  sent %d  errors %d  %s",
				p.Elapsed.Truncate(time.Second), p.Duration, p.Rate, p.P99.Round(time.Millisecond), p.Sent, p.Errors, strings.Join(p.States, " "))
		}
	}
	res, err := scenariorun.Run(ctx, sc, st, opts)
	if cfg.progress {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintf(stderr, "keystorm run %s: %v\n", sc.Name, err)
		return notRun(sc, cfg, started, err), exitUsage
	}
	files, err := reports.Write(dir, res, res.Started)
	if err != nil {
		fmt.Fprintf(stderr, "keystorm run %s: reports: %v\n", sc.Name, err)
		res.ExitCode = exitUsage
	}
	if cfg.pushGateway != "" {
		// Pushed even when the run was interrupted: its metrics say so.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := reports.Push(pctx, cfg.pushGateway, res)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "keystorm run %s: --push-gateway: %v\n", sc.Name, err)
			res.ExitCode = exitUsage
		}
	}
	reports.Text(stdout, res)
	if p, ok := files["html"]; ok {
		fmt.Fprintf(stdout, "report: %s\n", p)
	}
	fmt.Fprintf(stdout, "results: %s\n", dir)
	return reports.IndexEntry{Result: res, Files: files}, res.ExitCode
}

// notRun is the index's entry for a scenario whose run could not start:
// an invalid result saying why, with no reports to link.
func notRun(sc *scenario.Scenario, cfg runConfig, started time.Time, err error) reports.IndexEntry {
	seed := sc.Seed
	if cfg.seed != 0 {
		seed = cfg.seed
	}
	return reports.IndexEntry{Result: &result.Result{
		Schema: result.Schema, Scenario: sc.Name, File: sc.File, Description: sc.Description,
		Stack: cfg.stack.kind, Seed: seed, Started: started.UTC(),
		Duration: time.Since(started).Seconds(),
		Status:   result.Unknown, ExitCode: result.ExitInvalid,
		Invalid: "the run did not start: " + err.Error(),
	}}
}

// newRunDir makes the directory of one run under root, named after the
// scenario and the second it started, and returns its path. Two runs of
// the same scenario in the same second (a short load run twice, or two
// keystorm processes sharing --out) would overwrite each other's reports:
// the directory is made exclusively, and a name already taken gets a
// suffix (-2, -3...).
func newRunDir(root, name string, started time.Time) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("--out: %w", err)
	}
	base := filepath.Join(root, fmt.Sprintf("%s-%s", name, started.UTC().Format("20060102T150405Z")))
	for n := 1; ; n++ {
		dir := base
		if n > 1 {
			dir = fmt.Sprintf("%s-%d", base, n)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrExist) || n >= 1000 {
			return "", fmt.Errorf("--out: make the run's directory: %w", err)
		}
	}
}

// serveMetrics serves reg's metrics on addr until the returned stop is
// called.
func serveMetrics(addr string, reg *prometheus.Registry, stdout io.Writer) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l) // returns at Close
	}()
	fmt.Fprintf(stdout, "keystorm: harness metrics on http://%s/metrics\n", l.Addr())
	return func() {
		srv.Close()
		<-done
	}, nil
}

// isTerminal tells whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keystorm validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quiet := fs.Bool("q", false, "print only errors")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: keystorm validate [-q] SCENARIO.yaml...\n\nChecks scenario files without running them: every error names file:line:column\nand the field. Exit 0 all valid, 2 otherwise.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "keystorm validate: no scenario file given")
		return exitUsage
	}
	code := exitOK
	for _, path := range fs.Args() {
		sc, err := scenario.Load(path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = exitUsage
			continue
		}
		if !*quiet {
			fmt.Fprintf(stdout, "%s: ok\n", path)
			sc.Describe(stdout)
			fmt.Fprintln(stdout)
		}
	}
	return code
}

func runFaults(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
			fmt.Fprintf(stderr, "Usage: keystorm faults\n\nLists the catalog of faults and recovery steps a scenario's timeline can name,\nwith their parameters and the target capability each needs.\n")
			return exitOK
		}
		fmt.Fprintf(stderr, "keystorm faults: unexpected argument %q\n", args[0])
		return exitUsage
	}
	kind := faults.Kind("")
	for _, e := range faults.All() {
		if e.Kind != kind {
			kind = e.Kind
			title := "Faults"
			if kind == faults.KindStep {
				title = "Recovery steps"
			}
			fmt.Fprintf(stdout, "%s:\n\n", title)
		}
		a := e.New()
		var needs []string
		for _, c := range a.Needs() {
			needs = append(needs, string(c))
		}
		fmt.Fprintf(stdout, "  %s  (needs: %s)\n      %s\n", e.Name, strings.Join(needs, ", "), e.Summary)
		for _, p := range params(a) {
			fmt.Fprintf(stdout, "      %-16s %s\n", p[0]+":", p[1])
		}
		fmt.Fprintln(stdout)
	}
	return exitOK
}

// params lists an action's yaml parameters with their docs.
func params(a faults.Action) [][2]string {
	v := reflect.ValueOf(a)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	var out [][2]string
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		doc := f.Tag.Get("doc")
		if dv := v.Field(i); !dv.IsZero() {
			doc += fmt.Sprintf(" [default %v]", dv.Interface())
		}
		out = append(out, [2]string{name, doc})
	}
	return out
}
