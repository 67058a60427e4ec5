package nodes

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/keystorm/keystorm/fakes/dockertest"
)

// TestCleanRemovesWhatAStackLeft: a network labelled as a stack's is found by
// Find, removed by Clean, and gone after; another stack's stays.
func TestCleanRemovesWhatAStackLeft(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dockertest.Require(t)
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	mine, other := "clean-test-a", "clean-test-b"
	made := map[string]string{}
	for _, id := range []string{mine, other} {
		res, err := cli.NetworkCreate(ctx, "keystorm-"+id, client.NetworkCreateOptions{Labels: map[string]string{LabelStack: id}})
		if err != nil {
			t.Fatal(err)
		}
		made[id] = res.ID
	}
	defer Clean(context.Background(), other)

	left, err := Find(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left.Networks, []string{made[mine]}) || len(left.Containers)+len(left.Volumes) != 0 {
		t.Fatalf("Find(%s) = %+v, want only network %s", mine, left, made[mine])
	}
	removed, err := Clean(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed.Networks, []string{made[mine]}) {
		t.Errorf("Clean removed %+v", removed)
	}
	if left, err := Find(ctx, mine); err != nil || !left.Empty() {
		t.Errorf("after Clean: %+v, %v", left, err)
	}
	if left, err := Find(ctx, other); err != nil || !slices.Equal(left.Networks, []string{made[other]}) {
		t.Errorf("Clean(%s) touched stack %s: %+v, %v", mine, other, left, err)
	}
}
