package kms

import (
	"context"
	"sync/atomic"
	"time"
)

// Bugs break the service on purpose. keystorm's own tests set them to show
// that its checks catch a stack that fails the wrong way (as Jepsen runs
// against known-broken systems); nothing else should. The zero value is a
// correct service.
type Bugs struct {
	// ConnectionErrorCode, if set, replaces the code of every failed
	// connection attempt.
	ConnectionErrorCode string
	// StuckConnecting leaves every connection attempt CONNECTING until it
	// is disconnected.
	StuckConnecting bool
	// CorruptEveryNth, if above 0, makes every Nth Encrypt of a custom key
	// store key acknowledge a ciphertext that can never be decrypted: a
	// lost ciphertext.
	CorruptEveryNth int
	// Exceptions maps a data-plane exception to the one answered instead
	// (such as KMSInvalidStateException to KMSInternalException).
	Exceptions map[string]string
	// CryptoLatency is added to every cryptographic operation of a custom
	// key store key.
	CryptoLatency time.Duration
}

// bugState is the service's running state of its Bugs.
type bugState struct {
	Bugs
	encrypts atomic.Int64
}

// corrupt reports whether this Encrypt's ciphertext is to be lost.
func (b *bugState) corrupt() bool {
	return b.CorruptEveryNth > 0 && b.encrypts.Add(1)%int64(b.CorruptEveryNth) == 0
}

// exception applies the Exceptions bug to a data-plane error.
func (b *bugState) exception(err error) error {
	if len(b.Exceptions) == 0 {
		return err
	}
	if e, ok := err.(*Error); ok {
		if to, ok := b.Exceptions[e.Code]; ok {
			return &Error{Code: to, Message: e.Message}
		}
	}
	return err
}

// delay applies CryptoLatency, in real time (it models a slow path, not
// stack time), or until ctx ends.
func (b *bugState) delay(ctx context.Context) {
	if b.CryptoLatency <= 0 {
		return
	}
	t := time.NewTimer(b.CryptoLatency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
