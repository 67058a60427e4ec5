package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keystorm/keystorm/docker"
	"github.com/keystorm/keystorm/fakes/dockertest"
)

func TestMain(m *testing.M) {
	// The tests remove their containers themselves; Ryuk's image would have
	// to come from a registry.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	os.Exit(m.Run())
}

func TestRefs(t *testing.T) {
	t.Parallel()
	rec := recipe{suite: "trixie", packages: []string{"p11-kit", "softhsm2"}}
	files := []file{
		{name: "Dockerfile", mode: 0o644, data: []byte("FROM ${BASE}\n")},
		{name: "keystorm", mode: 0o755, data: []byte("\x7fELF binary")},
	}
	base := baseRef(rec)
	kms := childRef(kindKMS, base, files)
	form := regexp.MustCompile(`^keystorm-(base|hsm|kms):[0-9a-f]{12}$`)
	for _, r := range []string{base, kms} {
		if !form.MatchString(r) {
			t.Errorf("ref %q is not repository:12-hex", r)
		}
	}
	if again := baseRef(recipe{suite: "trixie", packages: []string{"p11-kit", "softhsm2"}}); again != base {
		t.Errorf("same recipe, base %s then %s", base, again)
	}
	if again := childRef(kindKMS, base, clone(files)); again != kms {
		t.Errorf("same files, kms %s then %s", kms, again)
	}

	changed := func(f func([]file)) []file { c := clone(files); f(c); return c }
	tests := []struct {
		name  string
		a, b  string
		equal bool
	}{
		{"Base - another suite - new tag", base, baseRef(recipe{suite: "forky", packages: rec.packages}), false},
		{"Base - a package more - new tag", base, baseRef(recipe{suite: "trixie", packages: []string{"p11-kit", "socat", "softhsm2"}}), false},
		{"Base - a package less - new tag", base, baseRef(recipe{suite: "trixie", packages: []string{"softhsm2"}}), false},
		{"Any - bytes moved between inputs - new tag", ref(kindBase, "ab", "c"), ref(kindBase, "a", "bc"), false},
		{"Any - same inputs, other kind - new tag", ref(kindHSM, "x"), ref(kindKMS, "x"), false},
		{"Any - recipe version in the inputs - new tag", ref(kindBase, "1", "x"), ref(kindBase, "2", "x"), false},
		{"KMS - another base - new tag", kms, childRef(kindKMS, "keystorm-base:000000000000", files), false},
		{"KMS - another binary - new tag", kms, childRef(kindKMS, base, changed(func(f []file) { f[1].data = []byte("\x7fELF binary 2") })), false},
		{"KMS - Dockerfile edited - new tag", kms, childRef(kindKMS, base, changed(func(f []file) { f[0].data = []byte("FROM ${BASE}\n#\n") })), false},
		{"KMS - file renamed - new tag", kms, childRef(kindKMS, base, changed(func(f []file) { f[1].name = "keystorm2" })), false},
		{"KMS - file mode changed - new tag", kms, childRef(kindKMS, base, changed(func(f []file) { f[1].mode = 0o644 })), false},
		{"KMS - a file more - new tag", kms, childRef(kindKMS, base, append(clone(files), file{name: "x", mode: 0o644})), false},
		{"KMS and HSM - same files - different tags", kms, childRef(kindHSM, base, files), false},
	}
	for _, tt := range tests {
		if got := tt.a == tt.b; got != tt.equal {
			t.Errorf("%s: %s and %s equal = %v", tt.name, tt.a, tt.b, got)
		}
	}
}

func clone(files []file) []file {
	c := make([]file, len(files))
	copy(c, files)
	return c
}

func TestReadRecipe(t *testing.T) {
	t.Parallel()
	rec, err := readRecipe(docker.Files)
	if err != nil {
		t.Fatal(err)
	}
	if rec.suite != "trixie" {
		t.Errorf("suite = %q, want trixie (bookworm's p11-kit cannot forward AES-GCM)", rec.suite)
	}
	for _, p := range []string{"softhsm2", "p11-kit", "p11-kit-modules", "socat", "iptables", "iproute2"} {
		if !strings.Contains(" "+strings.Join(rec.packages, " ")+" ", " "+p+" ") {
			t.Errorf("packages %q lack %s", rec.packages, p)
		}
	}
	for _, dir := range []string{"hsm", "kms"} {
		if _, err := recipeFiles(docker.Files, dir); err != nil {
			t.Error(err)
		}
	}

	tests := []struct {
		name     string
		packages string
		want     []string // nil: an error
	}{
		{"Comments and blank lines - skipped", "# head\n\nbb # why bb\n  aa\n", []string{"aa", "bb"}},
		{"Duplicates - once", "aa\naa\n", []string{"aa"}},
		{"Several on a line - each", "bb aa\n", []string{"aa", "bb"}},
		{"A comma - error: it would split debootstrap's --include", "aa,bb\n", nil},
		{"An option - error", "--foo\n", nil},
		{"Nothing - error", "# none\n", nil},
	}
	for _, tt := range tests {
		fsys := fstest.MapFS{
			"base/suite":    {Data: []byte("trixie\n")},
			"base/packages": {Data: []byte(tt.packages)},
		}
		rec, err := readRecipe(fsys)
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("%s: got %q, want an error", tt.name, rec.packages)
		case tt.want != nil && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != nil && strings.Join(rec.packages, " ") != strings.Join(tt.want, " "):
			t.Errorf("%s: got %q, want %q", tt.name, rec.packages, tt.want)
		}
	}
}

func TestReadStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stream string
		want   string // "": no error; else in the error
	}{
		{"Build that works - no error",
			`{"stream":"Step 1/2 : ARG BASE\n"}{"aux":{"ID":"sha256:ab"}}{"stream":"Successfully tagged x:y\n"}`, ""},
		{"Failed step - the builder's message, after the output before it",
			`{"stream":"Step 3/5 : RUN false\n"}{"stream":" ---> Running in 1234\n"}` +
				`{"errorDetail":{"code":1,"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"The command '/bin/sh -c false' returned a non-zero code: 1"}`,
			"The command '/bin/sh -c false' returned a non-zero code: 1; output before it:\nStep 3/5 : RUN false\n ---> Running in 1234"},
		{"Error in the older form only - its text", `{"error":"no space left"}`, "no space left"},
		{"Not JSON - error", `<html>`, "read the engine's messages"},
	}
	for _, tt := range tests {
		err := readStream(strings.NewReader(tt.stream))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestWriteRootfs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "usr/bin/tool"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Link(filepath.Join(dir, "usr/bin/tool"), filepath.Join(dir, "usr/bin/tool2")))
	must(os.Symlink("usr/bin", filepath.Join(dir, "bin")))
	must(os.Chmod(filepath.Join(dir, "usr/bin/tool"), 0o755|os.ModeSetuid))

	var buf bytes.Buffer
	must(writeRootfs(context.Background(), &buf, dir))
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(err)
		got[hdr.Name] = fmt.Sprintf("%c %o %s", hdr.Typeflag, hdr.Mode, hdr.Linkname)
	}
	want := map[string]string{
		"bin":           fmt.Sprintf("%c 777 usr/bin", tar.TypeSymlink),
		"usr/":          fmt.Sprintf("%c 755 ", tar.TypeDir),
		"usr/bin/":      fmt.Sprintf("%c 755 ", tar.TypeDir),
		"usr/bin/tool":  fmt.Sprintf("%c 4755 ", tar.TypeReg),
		"usr/bin/tool2": fmt.Sprintf("%c 4755 usr/bin/tool", tar.TypeLink),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tar entries\n got %v\nwant %v", got, want)
	}
}

// buildSet calls Build, skipping the test where the base image cannot be
// bootstrapped (not root, no debootstrap), unless CI=true.
func buildSet(ctx context.Context, t *testing.T, bin string) Set {
	t.Helper()
	start := time.Now()
	set, err := Build(ctx, Options{Binary: bin, Log: dockertest.Log(t)})
	if errors.Is(err, errCannotBootstrap) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Build: %s", time.Since(start).Round(time.Millisecond))
	return set
}

// imageIDs are the IDs of set's images, after checking their labels.
func imageIDs(ctx context.Context, t *testing.T, set Set) Set {
	t.Helper()
	cli, err := newClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var ids Set
	for _, img := range []struct {
		kind, ref string
		id        *string
	}{{kindBase, set.Base, &ids.Base}, {kindHSM, set.HSM, &ids.HSM}, {kindKMS, set.KMS, &ids.KMS}} {
		if !strings.HasPrefix(img.ref, "keystorm-"+img.kind+":") {
			t.Errorf("%s image is %q", img.kind, img.ref)
		}
		res, err := cli.ImageInspect(ctx, img.ref)
		if err != nil {
			t.Fatalf("inspect %s: %v", img.ref, err)
		}
		if got := res.Config.Labels[LabelImage]; got != img.kind {
			t.Errorf("%s: label %s=%q, want %q", img.ref, LabelImage, got, img.kind)
		}
		*img.id = res.ID
	}
	return ids
}

func TestBuild(t *testing.T) {
	dockertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin := dockertest.BuildKeystorm(t)
	set := buildSet(ctx, t, bin)
	ids := imageIDs(ctx, t, set)
	stack := map[string]string{LabelStack: "images-test-" + strconv.Itoa(os.Getpid())}

	t.Run("second Build reuses the images", func(t *testing.T) {
		again := buildSet(ctx, t, bin)
		if again != set {
			t.Errorf("second Build %+v, first %+v", again, set)
		}
		if againIDs := imageIDs(ctx, t, again); againIDs != ids {
			t.Errorf("second Build's images %+v, first's %+v", againIDs, ids)
		}
	})

	t.Run("HSM node serves SoftHSM over p11-kit's RPC on 2225", func(t *testing.T) {
		ctr, err := testcontainers.Run(ctx, set.HSM,
			testcontainers.WithExposedPorts("2225/tcp"),
			testcontainers.WithLabels(stack),
			// Checked from inside: the engine's published port may not be
			// reachable where testcontainers-go guesses (its guess in a
			// container is the default gateway).
			testcontainers.WithWaitStrategy(wait.ForListeningPort("2225/tcp").
				SkipExternalCheck().WithStartupTimeout(time.Minute)))
		testcontainers.CleanupContainer(t, ctr)
		if err != nil {
			t.Fatal(err)
		}

		run := func(cmd ...string) string {
			t.Helper()
			code, r, err := ctr.Exec(ctx, cmd, tcexec.Multiplexed())
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			out, _ := io.ReadAll(r)
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", cmd, code, out)
			}
			return string(out)
		}
		// p11-kit's RPC opens with the client's protocol version byte, which
		// `p11-kit remote` answers with the version both speak: 0.
		answer := run("timeout", "10", "bash", "-c",
			`exec 3<>/dev/tcp/127.0.0.1/2225 && printf '\0' >&3 && head -c1 <&3 | od -An -tu1`)
		if strings.TrimSpace(answer) != "0" {
			t.Errorf("answer to RPC version 0 on port 2225: %q, want 0", answer)
		}

		// p11-kit has no --version; its package's version is its own.
		version := run("dpkg-query", "--show", "--showformat=${Version}", "p11-kit")
		m := regexp.MustCompile(`^(\d+)\.(\d+)\.`).FindStringSubmatch(version)
		if m == nil {
			t.Fatalf("p11-kit version %q", version)
		}
		if major, _ := strconv.Atoi(m[1]); major == 0 {
			if minor, _ := strconv.Atoi(m[2]); minor < 25 {
				t.Errorf("p11-kit %s, want 0.25 or later (AES-GCM over the RPC)", version)
			}
		}
		// The token directory exists and is writable.
		run("softhsm2-util", "--init-token", "--free", "--label", "images-test", "--pin", "1234", "--so-pin", "123456")
		if out := run("softhsm2-util", "--show-slots"); !strings.Contains(out, "images-test") {
			t.Errorf("softhsm2-util --show-slots lacks the new token:\n%s", out)
		}
	})

	t.Run("KMS image runs keystorm", func(t *testing.T) {
		ctr, err := testcontainers.Run(ctx, set.KMS,
			testcontainers.WithCmd("faults"),
			testcontainers.WithLabels(stack),
			testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(time.Minute)))
		testcontainers.CleanupContainer(t, ctr)
		if err != nil {
			t.Fatal(err)
		}
		state, err := ctr.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		logs, err := ctr.Logs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(logs)
		logs.Close()
		if state.ExitCode != 0 || len(out) == 0 {
			t.Errorf("keystorm faults: exit %d\n%s", state.ExitCode, out)
		}
	})

	t.Run("Build removes older images no process leases", func(t *testing.T) {
		cli, err := newClient(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		// An older KMS image no process leases, as a previous run's would be:
		// another tag of this one. (TestRefs shows a new binary gives a new tag.)
		const older = "keystorm-kms:000000000000"
		if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: set.KMS, Target: older}); err != nil {
			t.Fatal(err)
		}
		if again := buildSet(ctx, t, bin); again != set {
			t.Errorf("Build %+v, first %+v", again, set)
		}
		if _, err := cli.ImageInspect(ctx, older); !cerrdefs.IsNotFound(err) {
			t.Errorf("older unleased image %s: inspect error %v, want not found", older, err)
		}
		// This process leases its images: they stay.
		if again := imageIDs(ctx, t, set); again != ids {
			t.Errorf("leased images %+v, before %+v", again, ids)
		}
	})

	t.Run("Prune - children before parents; a second tag only untagged", func(t *testing.T) {
		cli, err := newClient(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		// Only this subtest's images: others' images on the engine stay.
		const parent, child = "keystorm-prunetest-base:1", "keystorm-prunetest-hsm:1"
		if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: set.Base, Target: parent}); err != nil {
			t.Fatal(err)
		}
		err = (&builder{cli: cli}).build(ctx, child, parent, []file{
			{name: "Dockerfile", mode: 0o644, data: []byte("ARG BASE\nFROM ${BASE}\nLABEL " + LabelImage + "=hsm\n")},
		})
		if err != nil {
			t.Fatal(err)
		}
		removed, err := prune(ctx, cli, make(client.Filters).
			Add("label", LabelImage).Add("reference", "keystorm-prunetest-*"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(removed, " "); got != child+" "+parent {
			t.Errorf("removed %q, want %q", got, child+" "+parent)
		}
		// The tag went; the base image it named is still the base.
		if again := imageIDs(ctx, t, set); again != ids {
			t.Errorf("images after the prune %+v, before %+v", again, ids)
		}
	})
}
