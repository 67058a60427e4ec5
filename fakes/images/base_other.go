//go:build !linux

package images

import (
	"context"
	"fmt"
	"io"
)

// errNotLinux: debootstrap, and the root file system it makes, are Linux's.
var errNotLinux = fmt.Errorf("%w: debootstrap runs on Linux only: "+
	"build the images on a Linux machine with the same Docker engine", errCannotBootstrap)

func findDebootstrap() (string, error) { return "", errNotLinux }

func debootstrap(context.Context, string, string, recipe, string) error { return errNotLinux }

func writeRootfs(context.Context, io.Writer, string) error { return errNotLinux }

func removeRootfs(string) error { return errNotLinux }
