package images

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// findDebootstrap returns debootstrap's path, or why it cannot run.
func findDebootstrap() (string, error) {
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%w: debootstrap needs root: run one Build as root "+
			"(later ones reuse the image)", errCannotBootstrap)
	}
	// /usr/sbin may be missing from a user's PATH even when root.
	for _, p := range []string{"debootstrap", "/usr/sbin/debootstrap"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("%w: debootstrap not found: install it (make deps, or apt-get install debootstrap)",
		errCannotBootstrap)
}

// debootstrap installs rec's suite and packages into dir from mirror. Its
// output goes into the error if it fails, with the end of its log, which
// goes with dir. Cancelling ctx kills it and whatever it runs in the chroot.
func debootstrap(ctx context.Context, deboot, dir string, rec recipe, mirror string) error {
	cmd := exec.CommandContext(ctx, deboot,
		"--variant=minbase", "--include="+strings.Join(rec.packages, ","),
		rec.suite, dir, mirror)
	cmd.Env = append(os.Environ(),
		"LC_ALL=C", "DEBIAN_FRONTEND=noninteractive",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out := &tail{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("debootstrap %s: %w", rec.suite, ctx.Err())
	}
	if err != nil {
		msg := fmt.Sprintf("debootstrap %s from %s: %v\n%s", rec.suite, mirror, err, out.buf)
		if log, lerr := os.ReadFile(filepath.Join(dir, "debootstrap", "debootstrap.log")); lerr == nil {
			l := &tail{max: 4 << 10}
			l.Write(log)
			msg += "\nend of debootstrap.log:\n" + string(l.buf)
		}
		return errors.New(msg)
	}
	return nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = slices.Delete(t.buf, 0, over)
	}
	return len(p), nil
}

// writeRootfs writes the root file system in dir as a tar, the form docker
// import takes: names relative to dir, numeric owners, modes, symlinks and
// hard links as they are. Device nodes and sockets are left out (the engine
// gives every container its own /dev), and so is anything on another file
// system than dir: what is mounted under it is not part of it.
func writeRootfs(ctx context.Context, w io.Writer, dir string) error {
	root, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	dev := root.Sys().(*syscall.Stat_t).Dev
	links := make(map[uint64]string) // inode of a hard-linked file: its first name
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Dev != dev {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeSocket) != 0 {
			return nil
		}
		var target string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, target)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		// The host's user and group names mean nothing in the image: the
		// numeric ids, which the import uses, are the image's own.
		hdr.Uname, hdr.Gname = "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if fi.Mode().IsRegular() && st.Nlink > 1 {
			if first, ok := links[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				return tw.WriteHeader(hdr)
			}
			links[st.Ino] = hdr.Name
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// removeRootfs removes a bootstrapped root file system. debootstrap mounts
// proc and sysfs in it, and unmounts them only when it exits normally; after
// it was killed they are still mounted, and removing the tree would reach
// into them. So what is mounted under dir is unmounted first, and dir is left
// in place, with an error, if anything stays mounted.
func removeRootfs(dir string) error {
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	mounts, err := mountsUnder(resolved)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	for _, m := range mounts { // deepest first
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	if len(mounts) > 0 {
		if mounts, err = mountsUnder(resolved); err != nil || len(mounts) > 0 {
			return fmt.Errorf("not removing %s: still mounted under it: %q (%v)", dir, mounts, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// mountsUnder returns the mount points at or under dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": the fifth field
		// is the mount point, with space, tab, newline and backslash octal-escaped.
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := unescapeMount(fields[4])
		if m == dir || strings.HasPrefix(m, dir+"/") {
			mounts = append(mounts, m)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	return mounts, nil
}

// unescapeMount undoes mountinfo's octal escapes ("\040" for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
