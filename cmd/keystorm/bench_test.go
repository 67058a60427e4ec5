package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/result"
	scenariorun "github.com/keystorm/keystorm/harness/run"
	"github.com/keystorm/keystorm/harness/scenario"
	"github.com/keystorm/keystorm/harness/target"
)

// BenchmarkHarnessConstant2000 runs a constant 2,000 requests/s for 30 s
// against a `keystorm serve` in its own process, so that what this process
// holds is the harness alone (load, observation, History). It reports the
// rate answered within the load's window against the target, and the
// harness's peak memory over its idle size: the Go heap in use and the
// process's resident set.
//
//	go test -run '^$' -bench HarnessConstant2000 -benchtime 1x ./cmd/keystorm/
func BenchmarkHarnessConstant2000(b *testing.B) {
	dir := b.TempDir()
	infoPath := filepath.Join(dir, "target.json")
	serve := exec.Command(os.Args[0], "serve", "--speed", "600", "--info", infoPath)
	serve.Env = append(os.Environ(), runMainEnv+"=1")
	if err := serve.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		serve.Process.Signal(os.Interrupt)
		serve.Wait()
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(infoPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("serve did not start")
		}
	}
	info, err := target.ReadInfo(infoPath)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := scenario.Load("testdata/bench-constant-2000.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		st := target.External(info)
		runtime.GC()
		idleHeap, idleRSS := heapInUse(), residentSet()
		var peakHeap, peakRSS uint64
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				peakHeap, peakRSS = max(peakHeap, heapInUse()), max(peakRSS, residentSet())
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
		res, err := scenariorun.Run(context.Background(), sc, st, scenariorun.Options{OutDir: filepath.Join(dir, strconv.Itoa(i))})
		cancel()
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if res.ExitCode != result.ExitPass {
			for _, e := range res.Expectations {
				b.Logf("%s %s: %s", e.Status, e.ID, e.Detail)
			}
			b.Fatalf("exit %d: %s", res.ExitCode, res.Invalid)
		}
		answered := answeredInWindow(b, res, sc.Load.Duration)
		target := res.Load.TargetRate
		achieved := float64(answered) / sc.Load.Duration.Seconds()
		b.ReportMetric(target, "target-req/s")
		b.ReportMetric(achieved, "achieved-req/s")
		b.ReportMetric(100*(achieved-target)/target, "rate-error-%")
		b.ReportMetric(float64(res.Load.Late), "late-sends")
		b.ReportMetric(res.Load.Latency.P99, "p99-ms")
		b.ReportMetric(float64(peakHeap-min(idleHeap, peakHeap))/(1<<20), "heap-over-idle-MiB")
		b.ReportMetric(float64(peakRSS-min(idleRSS, peakRSS))/(1<<20), "rss-over-idle-MiB")
	}
}

// answeredInWindow counts the load's requests answered (successfully or
// not) within the load's own duration, which the load-start note opens.
func answeredInWindow(b *testing.B, res *result.Result, duration time.Duration) int64 {
	var start time.Duration
	var answered int64
	err := history.Scan(res.History, func(e history.Event) error {
		if n := e.Note; n != nil && n.Kind == "load-start" {
			start = n.At
		}
		if r := e.Request; r != nil && r.Op != "Verify" && r.Op != "SetupEncrypt" && r.Done <= start+duration {
			answered++
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return answered
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// residentSet reads VmRSS from /proc/self/status (Linux), in bytes.
func residentSet() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
