// Package dockertest holds what keystorm's tests of the containers stack
// share: the rule that a test needing Docker skips without it except in CI,
// the keystorm binary the KMS image carries, and a writer into the test log.
package dockertest

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Require skips tb when no Docker engine answers, except in CI (CI=true),
// where it fails: a CI run must not pass by skipping.
func Require(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err == nil {
		_, err = cli.Ping(ctx, client.PingOptions{})
		cli.Close()
	}
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("Docker is needed and not reachable: %v", err)
	}
	tb.Skipf("Docker not reachable (%v); CI=true makes this a failure", err)
}

// BuildKeystorm builds this module's keystorm binary (with cgo, as the KMS
// image needs it) into a temporary directory and returns its path.
func BuildKeystorm(tb testing.TB) string {
	tb.Helper()
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		tb.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "keystorm")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/keystorm")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(mod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./cmd/keystorm: %v\n%s", err, out)
	}
	return bin
}

// Log returns a writer whose lines go to tb's log (the progress lines of
// image builds and stacks).
func Log(tb testing.TB) io.Writer { return logWriter{tb} }

type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
