package capacity

import (
	"syscall"
	"time"
)

// sleepPrecise sleeps for d in the kernel. The Go runtime parks a timer
// wait in the network poller, which sleeps whole milliseconds, so a
// sub-millisecond time.Sleep overshoots by up to a millisecond; nanosleep
// overshoots by the thread's timer slack (50µs by default). Blocking in a
// syscall only costs this goroutine its thread for the moment.
func sleepPrecise(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		// Interrupted by a signal: ts holds what was left.
	}
}

// timerSlack is Linux's default timer slack: what a nanosleep overshoots by.
const timerSlack = 50 * time.Microsecond
