package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/moby/moby/client"
)

// baseChanges are the Dockerfile instructions the import applies to the base
// image: its label, and the PATH and command an imported file system lacks.
var baseChanges = []string{
	"LABEL " + LabelImage + "=" + kindBase,
	"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	`CMD ["/bin/bash"]`,
}

// errCannotBootstrap is why this machine cannot build the base image: not
// root, no debootstrap, not Linux. A Build that finds the base image needs
// none of these.
var errCannotBootstrap = errors.New("cannot bootstrap the base image here")

// importBase bootstraps the base image's root file system into a temporary
// directory with debootstrap, imports it as ref, and removes the directory,
// whether or not the import worked.
func (b *builder) importBase(ctx context.Context, ref string, rec recipe, mirror string) (err error) {
	deboot, err := findDebootstrap()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "keystorm-base-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := removeRootfs(dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	start := time.Now()
	if err := debootstrap(ctx, deboot, dir, rec, mirror); err != nil {
		return err
	}
	b.logf("base %s: debootstrap %s from %s: %s; importing", ref, rec.suite, mirror, since(start))
	return b.importRootfs(ctx, dir, ref, rec)
}

// errImportEnded stops the writing of a root file system's tar once the
// import no longer reads it.
var errImportEnded = errors.New("import ended")

// importRootfs streams dir as a tar into the engine's image import, as ref.
func (b *builder) importRootfs(ctx context.Context, dir, ref string, rec recipe) error {
	pr, pw := io.Pipe()
	wrote := make(chan error, 1)
	go func() {
		err := writeRootfs(ctx, pw, dir)
		pw.CloseWithError(err) // nil: the import reads EOF
		wrote <- err
	}()
	err := b.importTar(ctx, pr, ref, rec)
	pr.CloseWithError(errImportEnded)
	if werr := <-wrote; werr != nil && !errors.Is(werr, errImportEnded) {
		return fmt.Errorf("tar %s: %w", dir, werr)
	}
	return err
}

// importTar imports the root file system tar r as image ref.
func (b *builder) importTar(ctx context.Context, r io.Reader, ref string, rec recipe) error {
	res, err := b.cli.ImageImport(ctx, client.ImageImportSource{Source: r, SourceName: "-"}, ref, client.ImageImportOptions{
		Message: "debootstrap --variant=minbase " + rec.suite,
		Changes: baseChanges,
	})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer res.Close()
	if err := readStream(res); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}
