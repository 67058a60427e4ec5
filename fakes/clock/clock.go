// Package clock is the stack's clock: wall time that can run faster than real
// time, and jump ahead, so that the real service's 20-minute connects and
// 7-day deletion windows fit in a CI run.
//
// Stack time starts at the real time of New and then advances speed stack
// seconds per real second, plus whatever Advance adds. Waits (Sleep, After)
// are in stack time and follow changes of speed and jumps while they wait.
package clock

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Clock is a stack clock; safe for concurrent use. The zero value is not
// usable; call New.
type Clock struct {
	mu      sync.Mutex
	speed   float64
	anchor  time.Time // real time at the last change
	stack   time.Time // stack time at the last change
	changed chan struct{}
}

// New returns a clock reading the real time now, running at speed (1 is
// real time; 60 makes a minute pass in a second). speed must be positive.
func New(speed float64) (*Clock, error) {
	if !(speed > 0) {
		return nil, fmt.Errorf("clock: speed %v: want > 0", speed)
	}
	now := time.Now()
	return &Clock{speed: speed, anchor: now, stack: now, changed: make(chan struct{})}, nil
}

// Real returns a clock at real time, for callers that want no scaling.
func Real() *Clock {
	c, _ := New(1)
	return c
}

// Now returns the stack time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked(time.Now())
}

func (c *Clock) nowLocked(real time.Time) time.Time {
	return c.stack.Add(time.Duration(float64(real.Sub(c.anchor)) * c.speed))
}

// Speed returns how many stack seconds pass per real second.
func (c *Clock) Speed() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}

// SetSpeed changes the speed from now on; stack time does not jump.
func (c *Clock) SetSpeed(speed float64) error {
	if !(speed > 0) {
		return fmt.Errorf("clock: speed %v: want > 0", speed)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rebase(time.Now())
	c.speed = speed
	c.wake()
	return nil
}

// Advance moves stack time forward by d (d > 0), waking the waits it ends.
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rebase(time.Now())
	c.stack = c.stack.Add(d)
	c.wake()
}

func (c *Clock) rebase(real time.Time) {
	c.stack = c.nowLocked(real)
	c.anchor = real
}

// wake tells every wait that the clock changed; c.mu is held.
func (c *Clock) wake() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Sleep waits until d of stack time has passed, or ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	return c.SleepUntil(ctx, c.Now().Add(d))
}

// SleepUntil waits until the stack time reaches t, or ctx is done.
func (c *Clock) SleepUntil(ctx context.Context, t time.Time) error {
	_, err := c.SleepUntilOrWake(ctx, t, nil)
	return err
}

// Since returns the stack time elapsed since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// SleepUntilOrWake waits until the stack time reaches t, wake receives or
// closes, or ctx is done. It reports whether t was reached. A zero t waits
// for wake or ctx alone.
func (c *Clock) SleepUntilOrWake(ctx context.Context, t time.Time, wake <-chan struct{}) (bool, error) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		left := time.Duration(1<<62 - 1)
		if !t.IsZero() {
			left = t.Sub(c.nowLocked(time.Now()))
		}
		speed, changed := c.speed, c.changed
		c.mu.Unlock()
		if left <= 0 {
			return true, nil
		}
		var tick <-chan time.Time
		if !t.IsZero() {
			timer.Reset(time.Duration(float64(left)/speed) + time.Microsecond)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-wake:
			return false, nil
		case <-changed:
		case <-tick:
		}
	}
}
