package nodes

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Leftovers are the containers, networks and volumes labelled LabelStack.
type Leftovers struct {
	Containers, Networks, Volumes []string
}

// Empty tells whether nothing is left.
func (l Leftovers) Empty() bool {
	return len(l.Containers)+len(l.Networks)+len(l.Volumes) == 0
}

// labelFilter selects what one stack (stackID) or every stack ("") started.
func labelFilter(stackID string) client.Filters {
	if stackID == "" {
		return make(client.Filters).Add("label", LabelStack)
	}
	return make(client.Filters).Add("label", LabelStack+"="+stackID)
}

// Find lists what a stack (or, for "", every keystorm stack) left on the
// Docker engine.
func Find(ctx context.Context, stackID string) (Leftovers, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return Leftovers{}, fmt.Errorf("docker: %w", err)
	}
	defer cli.Close()
	return find(ctx, cli, stackID)
}

func find(ctx context.Context, cli *testcontainers.DockerClient, stackID string) (Leftovers, error) {
	f := labelFilter(stackID)
	var l Leftovers
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return l, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Items {
		l.Containers = append(l.Containers, c.ID)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return l, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns.Items {
		l.Networks = append(l.Networks, n.ID)
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return l, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vs.Items {
		l.Volumes = append(l.Volumes, v.Name)
	}
	return l, nil
}

// Clean removes what a stack (or, for "", every keystorm stack) left:
// containers first (killed), then networks and volumes. It returns what it
// removed.
func Clean(ctx context.Context, stackID string) (Leftovers, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return Leftovers{}, fmt.Errorf("docker: %w", err)
	}
	defer cli.Close()
	l, err := find(ctx, cli, stackID)
	if err != nil {
		return Leftovers{}, err
	}
	var errs []error
	for _, id := range l.Containers {
		if _, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", id, err))
		}
	}
	for _, id := range l.Networks {
		if _, err := cli.NetworkRemove(ctx, id, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", id, err))
		}
	}
	for _, name := range l.Volumes {
		if _, err := cli.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true}); err != nil {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", name, err))
		}
	}
	return l, errors.Join(errs...)
}
