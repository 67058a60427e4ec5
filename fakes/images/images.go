// Package images builds keystorm's container images offline, through the
// Docker API: a Debian base bootstrapped with debootstrap and imported, and on
// it the HSM node and the KMS service, built by the engine's legacy builder
// from the recipes embedded in package docker. No registry is involved: the
// engines keystorm runs on have no images and reach none.
//
// Each image is tagged by a hash of its inputs, so a Build whose inputs are
// unchanged reuses the local images, and a changed input gives a new tag. When
// Build makes a new image it removes the older ones of its kind that no
// container uses, so repeated runs do not pile images up.
package images

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/keystorm/keystorm/docker"
)

const (
	// LabelImage is the label on keystorm's images; its value is the kind:
	// base, hsm or kms. Prune removes every image that has it.
	LabelImage = "io.keystorm.image"
	// LabelStack is the label on the containers, networks and volumes a
	// keystorm stack starts; its value is the stack's id.
	LabelStack = "io.keystorm.stack"
)

// The kinds of image, LabelImage's values; each is also the repository
// name's suffix ("keystorm-hsm").
const (
	kindBase = "base"
	kindHSM  = "hsm"
	kindKMS  = "kms"
)

// MirrorEnv names the environment variable that overrides the Debian mirror
// the base image is bootstrapped from.
const MirrorEnv = "KEYSTORM_DEBIAN_MIRROR"

// DefaultMirror is the Debian mirror used when neither Options.Mirror nor
// MirrorEnv names one.
const DefaultMirror = "http://deb.debian.org/debian"

// Set names the images of one build: references like "keystorm-hsm:<12 hex>".
type Set struct{ Base, HSM, KMS string }

// Options are the inputs of Build that are not in the embedded recipes.
type Options struct {
	// Binary is the keystorm binary put in the KMS image: a Linux executable
	// for this machine's architecture. It may be dynamically linked against
	// glibc: the base image's is newer than bookworm's.
	Binary string
	// Mirror is the Debian mirror; default $KEYSTORM_DEBIAN_MIRROR, else
	// DefaultMirror. It is not part of the base image's tag: any mirror of the
	// suite serves the same packages.
	Mirror string
	// Log gets one line per step: what is built or reused, and how long it
	// took. Nil is silent.
	Log io.Writer
}

func (o Options) mirror() string {
	return cmp.Or(o.Mirror, os.Getenv(MirrorEnv), DefaultMirror)
}

// Build makes sure the three images of the current recipes and binary exist
// in the local Docker engine, building those that do not, and names them.
// Building the base image runs debootstrap, which needs root and the Debian
// mirror; once it exists, Build needs neither. Concurrent Builds, in this
// process or others on the machine, do not build the same image twice.
//
// Build leases the images it names for the rest of the process's life: no
// other Build removes them as superseded while this process runs, so it can
// start containers from them at any time. A Build removes the superseded
// images of earlier processes that have exited.
func Build(ctx context.Context, opts Options) (Set, error) {
	bin, err := readBinary(opts.Binary)
	if err != nil {
		return Set{}, err
	}
	rec, err := readRecipe(docker.Files)
	if err != nil {
		return Set{}, err
	}
	hsmFiles, err := recipeFiles(docker.Files, kindHSM)
	if err != nil {
		return Set{}, err
	}
	kmsFiles, err := recipeFiles(docker.Files, kindKMS)
	if err != nil {
		return Set{}, err
	}
	kmsFiles = append(kmsFiles, file{name: "keystorm", mode: 0o755, data: bin})

	cli, err := newClient(ctx)
	if err != nil {
		return Set{}, err
	}
	defer cli.Close()
	b := &builder{cli: cli, log: opts.Log}

	var set Set
	set.Base = baseRef(rec)
	err = b.ensure(ctx, kindBase, set.Base, func(ctx context.Context) error {
		return b.importBase(ctx, set.Base, rec, opts.mirror())
	})
	if err != nil {
		return Set{}, err
	}
	set.HSM = childRef(kindHSM, set.Base, hsmFiles)
	err = b.ensure(ctx, kindHSM, set.HSM, func(ctx context.Context) error {
		return b.build(ctx, set.HSM, set.Base, hsmFiles)
	})
	if err != nil {
		return Set{}, err
	}
	set.KMS = childRef(kindKMS, set.Base, kmsFiles)
	err = b.ensure(ctx, kindKMS, set.KMS, func(ctx context.Context) error {
		return b.build(ctx, set.KMS, set.Base, kmsFiles)
	})
	if err != nil {
		return Set{}, err
	}
	return set, nil
}

// Prune removes every image labelled LabelImage, the KMS and HSM images
// before the base they are built on, and returns the references (or, for an
// untagged image, the IDs) it removed. An image a container still uses is
// left, and reported in the error. Prune ignores Build's leases: it is for
// when no keystorm process is running (`keystorm clean --images`).
func Prune(ctx context.Context) (removed []string, err error) {
	cli, err := newClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return prune(ctx, cli, make(client.Filters).Add("label", LabelImage))
}

// prune removes the images filters select, as Prune.
func prune(ctx context.Context, cli *testcontainers.DockerClient, filters client.Filters) (removed []string, err error) {
	list, err := cli.ImageList(ctx, client.ImageListOptions{Filters: filters})
	if err != nil {
		return nil, fmt.Errorf("list keystorm images: %w", err)
	}
	order := func(kind string) int {
		switch kind {
		case kindKMS, kindHSM:
			return 0
		case kindBase:
			return 2
		}
		return 1
	}
	imgs := list.Items
	slices.SortStableFunc(imgs, func(a, b image.Summary) int {
		return cmp.Compare(order(a.Labels[LabelImage]), order(b.Labels[LabelImage]))
	})
	var errs []error
	for _, img := range imgs {
		refs := tags(img.RepoTags)
		if len(refs) == 0 {
			refs = []string{img.ID}
		}
		for _, ref := range refs {
			if ctx.Err() != nil {
				return removed, fmt.Errorf("prune keystorm images: %w", ctx.Err())
			}
			// PruneChildren also deletes the untagged parents: the legacy
			// builder's intermediate images.
			_, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
			switch {
			case err == nil:
				removed = append(removed, ref)
			case cerrdefs.IsNotFound(err):
				// Gone already, as the parent of an image removed before it.
			default:
				errs = append(errs, fmt.Errorf("remove %s: %w", ref, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("prune keystorm images: %w", err)
	}
	return removed, nil
}

// newClient connects to the Docker engine testcontainers-go finds, the one
// the stack's containers run on; the API version is negotiated.
func newClient(ctx context.Context) (*testcontainers.DockerClient, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to the Docker engine: %w", err)
	}
	return cli, nil
}

// builder makes the images of one Build.
type builder struct {
	cli *testcontainers.DockerClient
	log io.Writer
}

func (b *builder) logf(format string, args ...any) {
	if b.log != nil {
		fmt.Fprintf(b.log, format+"\n", args...)
	}
}

// ensure makes sure image ref of kind exists and leases it for this
// process. It reuses the image if the engine has it, and otherwise calls
// build, holding the build lock on ref so that a concurrent Build waits for
// this one and then reuses its image. Then it removes the older images of the
// kind that no process leases.
func (b *builder) ensure(ctx context.Context, kind, ref string, build func(context.Context) error) error {
	start := time.Now()
	// The lease comes first: once held, no other Build removes the image
	// between this one finding it and using it.
	if err := lease(ctx, ref); err != nil {
		return fmt.Errorf("lease %s: %w", ref, err)
	}
	ok, err := b.exists(ctx, ref)
	if err != nil {
		return err
	}
	if !ok {
		unlock, err := buildLock(ctx, ref, func() {
			b.logf("%s %s: waiting for another build of it", kind, ref)
		})
		if err != nil {
			return fmt.Errorf("lock %s: %w", ref, err)
		}
		defer unlock()
		if ok, err = b.exists(ctx, ref); err != nil {
			return err
		}
	}
	if ok {
		b.logf("%s %s: reused (%s)", kind, ref, since(start))
	} else {
		b.logf("%s %s: building", kind, ref)
		if err := build(ctx); err != nil {
			return fmt.Errorf("build %s image %s: %w", kind, ref, err)
		}
		b.logf("%s %s: built in %s", kind, ref, since(start))
	}
	b.removeOlder(ctx, kind, ref)
	return nil
}

// exists tells whether the engine has image ref.
func (b *builder) exists(ctx context.Context, ref string) (bool, error) {
	_, err := b.cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("inspect image %s: %w", ref, err)
}

// removeOlder removes the images of kind tagged in its repository other than
// keep, unless a live process leases one (its Build named it) or a container
// uses it (the engine refuses). Untagged images are left too: one may be a
// concurrent build's intermediate image. Failures are logged, not returned:
// the Build they follow succeeded.
func (b *builder) removeOlder(ctx context.Context, kind, keep string) {
	list, err := b.cli.ImageList(ctx, client.ImageListOptions{
		Filters: make(client.Filters).Add("label", LabelImage+"="+kind),
	})
	if err != nil {
		b.logf("%s: list older images: %v", kind, err)
		return
	}
	repo := repository(kind) + ":"
	for _, img := range list.Items {
		for _, ref := range tags(img.RepoTags) {
			if ref == keep || !strings.HasPrefix(ref, repo) {
				continue
			}
			if err := b.removeUnleased(ctx, ref); err != nil {
				b.logf("%s %s: remove superseded image: %v", kind, ref, err)
			}
		}
	}
}

// removeUnleased removes image ref, holding its lease exclusively, if no
// process leases it and no container uses it.
func (b *builder) removeUnleased(ctx context.Context, ref string) error {
	release, ok, err := unleased(ref)
	if err != nil || !ok {
		return err
	}
	defer release()
	_, err = b.cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	switch {
	case err == nil:
		b.logf("%s: removed (superseded, unused)", ref)
	case cerrdefs.IsConflict(err), cerrdefs.IsNotFound(err):
		// In use by a container, or removed by a concurrent Build.
	default:
		return err
	}
	return nil
}

// tags are the references among an image's RepoTags, without the
// placeholder the engine gives an untagged image.
func tags(repoTags []string) []string {
	return slices.DeleteFunc(slices.Clone(repoTags), func(t string) bool {
		return t == "<none>:<none>"
	})
}

func since(start time.Time) time.Duration {
	return time.Since(start).Round(time.Millisecond)
}
