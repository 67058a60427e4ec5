package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/keystorm/keystorm/fakes/images"
	"github.com/keystorm/keystorm/fakes/nodes"
)

func runClean(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keystorm clean", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stackID := fs.String("stack-id", "", "remove only what the containers stack `ID` started (default: every keystorm stack's)")
	withImages := fs.Bool("images", false, "remove keystorm's images too (the next containers run rebuilds them)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: keystorm clean [flags]\n\nRemoves the containers, networks and volumes that containers stacks left on the\nDocker engine (a run that was killed leaves them), found by their %s label.\n\nFlags:\n", nodes.LabelStack)
		fs.PrintDefaults()
	}
	if code, done := parseFlagsOnly(fs, args); done {
		return code
	}
	removed, err := nodes.Clean(ctx, *stackID)
	fmt.Fprintf(stdout, "keystorm clean: removed %d containers, %d networks, %d volumes\n", len(removed.Containers), len(removed.Networks), len(removed.Volumes))
	if err != nil {
		fmt.Fprintf(stderr, "keystorm clean: %v\n", err)
		return exitUsage
	}
	if *withImages {
		gone, err := images.Prune(ctx)
		fmt.Fprintf(stdout, "keystorm clean: removed %d images\n", len(gone))
		if err != nil {
			fmt.Fprintf(stderr, "keystorm clean: %v\n", err)
			return exitUsage
		}
	}
	return exitOK
}
