package images

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strings"
)

// recipeVersion is part of the base image's tag, and through it of every
// image's. Bump it when a change to this package changes what an image
// holds for the same recipe files (debootstrap's flags, what the root file
// system's tar leaves out, the import's changes), so that the next Build
// rebuilds instead of reusing.
const recipeVersion = "1"

// recipe is what docker/base says about the base image.
type recipe struct {
	suite    string   // the Debian suite, from base/suite
	packages []string // base/packages, sorted, without duplicates
}

// debianName is the form of a Debian suite or package name; it also keeps
// anything that debootstrap's command line would read otherwise (a comma in
// --include) out of it.
var debianName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// readRecipe reads base/suite and base/packages from fsys.
func readRecipe(fsys fs.FS) (recipe, error) {
	suite, err := readList(fsys, "base/suite")
	if err != nil {
		return recipe{}, err
	}
	if len(suite) != 1 {
		return recipe{}, fmt.Errorf("base/suite: want one suite, got %q", suite)
	}
	pkgs, err := readList(fsys, "base/packages")
	if err != nil {
		return recipe{}, err
	}
	if len(pkgs) == 0 {
		return recipe{}, errors.New("base/packages: no packages")
	}
	slices.Sort(pkgs)
	return recipe{suite: suite[0], packages: slices.Compact(pkgs)}, nil
}

// readList reads the names in a recipe file: whitespace-separated, with `#`
// starting a comment that runs to the end of its line.
func readList(fsys fs.FS, name string) ([]string, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read recipe: %w", err)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		for _, f := range strings.Fields(line) {
			if !debianName.MatchString(f) {
				return nil, fmt.Errorf("%s:%d: %q is not a Debian name", name, n, f)
			}
			names = append(names, f)
		}
	}
	return names, sc.Err()
}

// file is one file of a build context.
type file struct {
	name string
	mode fs.FileMode
	data []byte
}

// recipeFiles are the files under dir in fsys, in lexical order: the build
// context of the hsm or kms image.
func recipeFiles(fsys fs.FS, dir string) ([]file, error) {
	var files []file
	err := fs.WalkDir(fsys, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(name, dir+"/")
		files = append(files, file{name: rel, mode: 0o644, data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read recipe %s: %w", dir, err)
	}
	if !slices.ContainsFunc(files, func(f file) bool { return f.name == "Dockerfile" }) {
		return nil, fmt.Errorf("read recipe %s: no Dockerfile", dir)
	}
	return files, nil
}

// repository is the repository name of the images of kind.
func repository(kind string) string { return "keystorm-" + kind }

// ref names the image of kind built from inputs: its repository, and a tag of
// the first 12 hex digits of a SHA-256 over the kind and the inputs, each
// length-prefixed so that no two lists of inputs hash alike.
func ref(kind string, inputs ...string) string {
	h := sha256.New()
	for _, s := range append([]string{kind}, inputs...) {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	return repository(kind) + ":" + hex.EncodeToString(h.Sum(nil))[:12]
}

// baseRef names the base image of rec for this machine's architecture
// (debootstrap installs the host's).
func baseRef(rec recipe) string {
	return ref(kindBase, recipeVersion, runtime.GOARCH, rec.suite, strings.Join(rec.packages, " "))
}

// childRef names the image of kind built on base from the context files.
func childRef(kind, base string, files []file) string {
	inputs := []string{base}
	for _, f := range files {
		sum := sha256.Sum256(f.data)
		inputs = append(inputs, f.name, f.mode.String(), hex.EncodeToString(sum[:]))
	}
	return ref(kind, inputs...)
}

// elfMachines are the ELF machines of the architectures Build checks the
// binary against.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// readBinary reads the keystorm binary for the KMS image, and checks that it
// is an executable for the architecture of the images.
func readBinary(name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("images: Options.Binary is empty: the KMS image needs the keystorm binary")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read keystorm binary: %w", err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("keystorm binary %s is not a Linux executable: %w", path.Base(name), err)
	}
	if want, ok := elfMachines[runtime.GOARCH]; ok && f.Machine != want {
		return nil, fmt.Errorf("keystorm binary %s is for %s, the images for %s (%s)", name, f.Machine, runtime.GOARCH, want)
	}
	return data, nil
}
