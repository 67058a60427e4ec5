package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keystorm/keystorm/fakes/clock"
)

func TestStackTimeRunsAtItsSpeed(t *testing.T) {
	t.Parallel()
	c, err := clock.New(1000)
	if err != nil {
		t.Fatal(err)
	}
	realStart, stackStart := time.Now(), c.Now()
	// A minute of stack time is 60 ms of real time at 1000x.
	if err := c.Sleep(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := c.Since(stackStart); got < time.Minute {
		t.Errorf("slept %v of stack time, want at least a minute", got)
	}
	if real := time.Since(realStart); real >= 30*time.Second {
		t.Errorf("a stack minute at 1000x took %v of real time", real)
	}
}

func TestAdvanceEndsAWaitAtOnce(t *testing.T) {
	t.Parallel()
	c := clock.Real()
	done := make(chan error, 1)
	go func() { done <- c.Sleep(context.Background(), 7*24*time.Hour) }()
	time.Sleep(10 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("a 7-day sleep ended by itself")
	default:
	}
	before := c.Now()
	c.Advance(7 * 24 * time.Hour)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Advance did not end the wait")
	}
	if got := c.Now().Sub(before); got < 7*24*time.Hour {
		t.Errorf("Advance moved the clock by %v", got)
	}
}

func TestSetSpeedShortensAWaitInProgress(t *testing.T) {
	t.Parallel()
	c := clock.Real()
	done := make(chan error, 1)
	go func() { done <- c.Sleep(context.Background(), time.Hour) }()
	time.Sleep(10 * time.Millisecond)
	if err := c.SetSpeed(1e6); err != nil { // an hour in 3.6 ms
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a faster clock did not shorten the wait")
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	t.Parallel()
	c := clock.Real()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sleep: %v, want the context's deadline", err)
	}
}

func TestSpeedMustBePositive(t *testing.T) {
	t.Parallel()
	for _, s := range []float64{0, -1} {
		if _, err := clock.New(s); err == nil {
			t.Errorf("New(%v) accepted", s)
		}
	}
	if err := clock.Real().SetSpeed(0); err == nil {
		t.Error("SetSpeed(0) accepted")
	}
}
