package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/keystorm/keystorm/fakes/sessionpool"
	"github.com/keystorm/keystorm/harness/capacity"
)

// pinEnv is read when --pin is not given, so the PIN of a real HSM need not
// show in the process list.
const pinEnv = "KEYSTORM_PKCS11_PIN"

// maxEmbeddedHSMs keeps an embedded run to a sensible number of SoftHSM
// tokens (each costs a token initialisation and its files).
const maxEmbeddedHSMs = 32

// capacityFlags are the flags of `keystorm capacity`.
type capacityFlags struct {
	rate, burst                       int
	period, duration, waitBudget      time.Duration
	payload, sessions, workers        int
	hsms                              int
	mix, jsonPath                     string
	module, tokenLabel, pin, keyLabel string
}

func (f *capacityFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.rate, "rate", 2000, "mean `N` arrivals per second")
	fs.IntVar(&f.burst, "burst-rate", 0, "if above 0, the arrival rate swings as a sine wave between rate-`N` and rate+N\nper second, one cycle per --period, starting at --rate and rising (vegeta's\nSinePacer); the mean over whole cycles stays --rate. Must be below --rate")
	fs.DurationVar(&f.period, "period", 2*time.Second, "length of one burst cycle, with --burst-rate")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long arrivals are scheduled; work in flight at the end is waited for")
	fs.IntVar(&f.payload, "payload", capacity.DefaultPayload, fmt.Sprintf("plaintext size in bytes, 1..%d", capacity.MaxPayload))
	fs.StringVar(&f.mix, "mix", "encrypt=1,decrypt=1", "operation weights, op=weight,... (ops: encrypt, decrypt)")
	fs.IntVar(&f.sessions, "sessions", sessionpool.DefaultMaxSessions, "most sessions the pool opens per HSM")
	fs.DurationVar(&f.waitBudget, "wait-budget", sessionpool.DefaultWaitBudget, "how long a call waits for a free session before it fails as exhausted")
	fs.IntVar(&f.workers, "workers", capacity.DefaultWorkers, "most arrivals in flight; an arrival that finds every worker busy is counted late and skipped")
	fs.IntVar(&f.hsms, "hsms", 2, fmt.Sprintf("embedded mode: number of SoftHSM tokens to pool, 1..%d", maxEmbeddedHSMs))
	fs.StringVar(&f.jsonPath, "json", "", "also write the result as JSON to `FILE`")
	fs.StringVar(&f.module, "module", "", "external mode: measure a token of the PKCS#11 library at `PATH` (an HSM vendor's)")
	fs.StringVar(&f.tokenLabel, "token-label", "", "external mode: label of the token to use")
	fs.StringVar(&f.pin, "pin", "", "external mode: the token's user PIN (default $"+pinEnv+")")
	fs.StringVar(&f.keyLabel, "key-label", "", "external mode: CKA_LABEL of an existing AES key in the token")
}

func capacityUsage(fs *flag.FlagSet) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, `Usage: keystorm capacity [flags]

Drives encrypt/decrypt load straight through the PKCS#11 session pool, on a
fixed schedule of arrivals (open model), and reports throughput, latency from
each arrival's intended time, errors by kind (exhausted: no session within
--wait-budget), late arrivals and the sessions each HSM needed.

Embedded mode (default) measures --hsms fresh SoftHSM tokens, each with an
AES-256 key generated for the run. External mode (--module) measures one token
of any PKCS#11 module, found by --token-label, with the existing AES key
--key-label in it.

Exit codes: 0 every arrival ran and succeeded; 1 an operation failed, an
arrival was late or the run was interrupted (the report is printed anyway);
2 bad flags, or the HSMs could not be set up.

Flags:
`)
		fs.PrintDefaults()
	}
}

func runCapacity(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keystorm capacity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = capacityUsage(fs)
	var f capacityFlags
	f.register(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if f.pin == "" {
		f.pin = os.Getenv(pinEnv)
	}
	cfg, errs := f.config(set, fs.Args())
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintf(stderr, "keystorm capacity: %v\n", err)
		}
		fmt.Fprintf(stderr, "Run 'keystorm capacity -h' for usage.\n")
		return exitUsage
	}

	tgt, err := f.target(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "keystorm capacity: %v\n", err)
		return exitUsage
	}
	defer func() {
		if err := tgt.Close(); err != nil {
			fmt.Fprintf(stderr, "keystorm capacity: clean up: %v\n", err)
		}
	}()

	progress := showProgress(stdout)
	if progress {
		cfg.Progress = func(p capacity.Progress) {
			fmt.Fprintf(stdout, "\r%6.1fs of %v  arrivals %d  ok %d  failed %d  late %d\x1b[K",
				p.Elapsed.Seconds(), p.Duration, p.Arrivals, p.OK, p.Failed, p.Late)
		}
	}
	res, err := capacity.Run(ctx, cfg, tgt)
	if progress {
		fmt.Fprint(stdout, "\r\x1b[K") // Run has returned: no more progress lines
	}
	if err != nil {
		fmt.Fprintf(stderr, "keystorm capacity: %v\n", err)
		return exitUsage
	}
	code := exitOK
	if !res.Passed() {
		code = exitFailed
	}
	if err := capacity.WriteText(stdout, res); err != nil {
		fmt.Fprintf(stderr, "keystorm capacity: %v\n", err)
		code = exitFailed
	}
	if f.jsonPath != "" {
		if err := writeJSONFile(f.jsonPath, res); err != nil {
			fmt.Fprintf(stderr, "keystorm capacity: %v\n", err)
			code = exitFailed
		}
	}
	return code
}

// config checks the flags, naming each bad one, and builds the run's config.
func (f *capacityFlags) config(set map[string]bool, rest []string) (capacity.Config, []error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, a := range rest {
		bad("unexpected argument %q", a)
	}
	if f.rate < 1 {
		bad("--rate %d: must be at least 1 arrival per second", f.rate)
	}
	switch {
	case f.burst < 0:
		bad("--burst-rate %d: must be 0 (a constant rate) or more", f.burst)
	case f.burst > 0 && f.burst >= f.rate:
		bad("--burst-rate %d: must be below --rate %d (the rate would fall to 0 or below)", f.burst, f.rate)
	}
	if f.burst > 0 && f.period <= 0 {
		bad("--period %v: must be above 0", f.period)
	}
	if set["period"] && f.burst == 0 {
		bad("--period applies only with --burst-rate above 0")
	}
	if f.duration <= 0 {
		bad("--duration %v: must be above 0", f.duration)
	}
	if f.payload < 1 || f.payload > capacity.MaxPayload {
		bad("--payload %d: want 1..%d bytes", f.payload, capacity.MaxPayload)
	}
	mix, err := capacity.ParseMix(f.mix)
	if err != nil {
		bad("--mix %q: %v", f.mix, err)
	}
	if f.sessions < 1 {
		bad("--sessions %d: must be at least 1", f.sessions)
	}
	if f.waitBudget <= 0 {
		bad("--wait-budget %v: must be above 0", f.waitBudget)
	}
	if f.workers < 1 {
		bad("--workers %d: must be at least 1", f.workers)
	}
	if f.module == "" {
		if f.hsms < 1 || f.hsms > maxEmbeddedHSMs {
			bad("--hsms %d: want 1..%d", f.hsms, maxEmbeddedHSMs)
		}
		for _, name := range []string{"token-label", "pin", "key-label"} {
			if set[name] {
				bad("--%s applies only with --module", name)
			}
		}
	} else {
		if set["hsms"] {
			bad("--hsms applies only to embedded mode (without --module)")
		}
		if f.tokenLabel == "" {
			bad("--token-label: required with --module")
		}
		if f.keyLabel == "" {
			bad("--key-label: required with --module")
		}
		if f.pin == "" {
			bad("--pin: required with --module (or set $%s)", pinEnv)
		}
	}

	var pacer vegeta.Pacer = vegeta.ConstantPacer{Freq: f.rate, Per: time.Second}
	if f.burst > 0 {
		pacer = vegeta.SinePacer{
			Period:  f.period,
			Mean:    vegeta.Rate{Freq: f.rate, Per: time.Second},
			Amp:     vegeta.Rate{Freq: f.burst, Per: time.Second},
			StartAt: vegeta.MeanUp,
		}
	}
	return capacity.Config{
		Pacer:    pacer,
		Duration: f.duration,
		Workers:  f.workers,
		Payload:  f.payload,
		Mix:      mix,
	}, errs
}

// target sets up the HSMs: embedded SoftHSM tokens, or the --module token.
func (f *capacityFlags) target(ctx context.Context) (*capacity.Target, error) {
	pc := capacity.PoolConfig{MaxSessions: f.sessions, WaitBudget: f.waitBudget}
	if f.module == "" {
		return capacity.Embedded(ctx, f.hsms, pc)
	}
	return capacity.OpenModule(ctx, capacity.ModuleSpec{
		Path: f.module, TokenLabel: f.tokenLabel, PIN: f.pin, KeyLabel: f.keyLabel,
	}, pc)
}

func writeJSONFile(path string, res *capacity.Result) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	if err := capacity.WriteJSON(fh, res); err != nil {
		fh.Close()
		return fmt.Errorf("--json %s: %w", path, err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("--json %s: %w", path, err)
	}
	return nil
}

// showProgress tells whether to draw a progress line: only for a person at
// a terminal, never in CI logs or when output is captured.
func showProgress(stdout io.Writer) bool {
	if os.Getenv("CI") == "true" {
		return false
	}
	fh, ok := stdout.(*os.File)
	if !ok {
		return false
	}
	st, err := fh.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
