package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// build builds image ref from the Dockerfile among files, with the build
// argument BASE naming the image it starts from. It uses the legacy builder:
// BuildKit would look for its frontend image in a registry. The build runs
// without a network, which none of its steps needs.
func (b *builder) build(ctx context.Context, ref, base string, files []file) error {
	var buildContext bytes.Buffer
	if err := writeContext(&buildContext, files); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	res, err := b.cli.ImageBuild(ctx, &buildContext, client.ImageBuildOptions{
		Tags:        []string{ref},
		BuildArgs:   map[string]*string{"BASE": &base},
		Remove:      true,
		ForceRemove: true,
		NetworkMode: "none",
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("start build: %w", err)
	}
	defer res.Body.Close()
	return readStream(res.Body)
}

// contextTime is the modification time of the build context's files, fixed
// so that equal files give equal layers.
var contextTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// writeContext writes files as a tar build context.
func writeContext(w io.Writer, files []file) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.name,
			Mode:     int64(f.mode.Perm()),
			Size:     int64(len(f.data)),
			ModTime:  contextTime,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// message is one message of the engine's JSON stream in answer to a build or
// an import: a line of output, a status, or an error.
type message struct {
	jsonstream.Message
	// ErrorText is the error as a string, the older form of Error, which
	// engines still send with it.
	ErrorText string `json:"error,omitempty"`
}

// outputLines is how many of the last lines of output an error quotes.
const outputLines = 20

// readStream reads a build's or an import's message stream to its end and
// returns the error it reports, with the output before it: the engine answers
// 200 as soon as it starts, and a failed step is a message in the stream.
func readStream(r io.Reader) error {
	var out []string
	dec := json.NewDecoder(r)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the engine's messages: %w", err)
		}
		if m.Error != nil || m.ErrorText != "" {
			text := m.ErrorText
			if m.Error != nil && m.Error.Message != "" {
				text = m.Error.Message
			}
			if len(out) == 0 {
				return errors.New(text)
			}
			return fmt.Errorf("%s; output before it:\n%s", text, strings.Join(out, "\n"))
		}
		for line := range strings.Lines(m.Stream) {
			if line = strings.TrimRight(line, "\r\n"); line != "" {
				out = append(out, line)
			}
		}
		if len(out) > outputLines {
			out = out[len(out)-outputLines:]
		}
	}
}
