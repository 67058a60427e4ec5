package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Two machine-wide locks per image, flocks on files under os.TempDir named
// after its reference:
//
//   - the build lock (".lock"), exclusive, held while the image is built, so
//     that concurrent Builds (the test binaries of several packages, say) do
//     not build it twice: the second waits, then reuses the first's image;
//   - the lease (".lease"), shared, taken by every process whose Build named
//     the image and held until that process exits, so that no other Build
//     removes the image as superseded while a process may still start
//     containers from it. A Build removing an older image first takes its
//     lease exclusively, without waiting: if it cannot, the image is in use.
//
// The files stay: removing one could let a second process lock a new file
// while a third still holds the old one. They are empty.

// lockPoll is how often a waiting lock tries again.
const lockPoll = 250 * time.Millisecond

func lockPath(ref, suffix string) string {
	return filepath.Join(os.TempDir(),
		"keystorm-image-"+strings.NewReplacer(":", "-", "/", "-").Replace(ref)+suffix)
}

// buildLock takes the build lock of ref, waiting until it is free or ctx is
// done; it calls waiting once if it has to wait.
func buildLock(ctx context.Context, ref string, waiting func()) (unlock func(), err error) {
	f, err := flock(ctx, lockPath(ref, ".lock"), syscall.LOCK_EX, waiting)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// leases are the images this process has leased, and the files holding the
// leases, which stay open until it exits.
var leases = struct {
	sync.Mutex
	files map[string]*os.File
}{files: make(map[string]*os.File)}

// lease takes this process's shared lease on ref, if it has not already; it
// waits only while another process is removing the image.
func lease(ctx context.Context, ref string) error {
	leases.Lock()
	defer leases.Unlock()
	if leases.files[ref] != nil {
		return nil
	}
	f, err := flock(ctx, lockPath(ref, ".lease"), syscall.LOCK_SH, nil)
	if err != nil {
		return err
	}
	leases.files[ref] = f
	return nil
}

// leasedHere tells whether this process holds the lease on ref.
func leasedHere(ref string) bool {
	leases.Lock()
	defer leases.Unlock()
	return leases.files[ref] != nil
}

// unleased takes the lease on ref exclusively if no process holds it, and
// returns its release, or ok false if the image is in use.
func unleased(ref string) (release func(), ok bool, err error) {
	if leasedHere(ref) {
		return nil, false, nil
	}
	f, err := openLock(lockPath(ref, ".lease"))
	if err != nil {
		return nil, false, err
	}
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
		return func() { f.Close() }, true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		f.Close()
		return nil, false, nil
	default:
		f.Close()
		return nil, false, fmt.Errorf("flock %s: %w", f.Name(), err)
	}
}

// openLock opens (creating) a lock file. Read-only is enough for flock, and
// lets users other than the file's creator (root, who built the base) open
// it.
func openLock(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|os.O_CREATE, 0o644)
}

// flock opens the lock file name and locks it (how: LOCK_SH or LOCK_EX),
// polling until it gets the lock or ctx is done.
func flock(ctx context.Context, name string, how int, waiting func()) (*os.File, error) {
	f, err := openLock(name)
	if err != nil {
		return nil, err
	}
	var tick *time.Ticker
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", name, err)
		}
		if tick == nil {
			tick = time.NewTicker(lockPoll)
			defer tick.Stop()
			if waiting != nil {
				waiting()
			}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
