// Package nodes runs the HSM nodes of the containers stack: one container per
// HSM, from the HSM image of docker/, on a Docker network of its own subnet.
// Each container serves its SoftHSM over p11-kit's RPC on TCP port 2225, so
// every PKCS#11 call of the stack crosses a Docker network, and a node or
// network fault is a real one: a killed container stops answering mid-call,
// a removed network takes its nodes away, dropped packets leave calls
// waiting. The Host implements cloudhsm.NodeHost.
package nodes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/images"
)

// LabelStack labels every container and network a stack starts, with the
// stack's id, so that what it leaves behind can be found and removed.
const LabelStack = images.LabelStack

// RPCPort is where a node serves p11-kit's RPC (2225 is the CloudHSM
// client's port).
const RPCPort = "2225"

// DisableReaper turns off testcontainers-go's Ryuk reaper for this process
// (unless the user set TESTCONTAINERS_RYUK_DISABLED): its image would be
// pulled from a registry, which the machines keystorm runs on cannot reach,
// and keystorm removes what it starts itself. testcontainers-go reads its
// configuration once, at its first use in the process: call this before.
func DisableReaper() {
	if _, ok := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !ok {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
}

func init() { DisableReaper() }

// Config configures a Host.
type Config struct {
	// StackID labels what the host starts and prefixes the names.
	StackID string
	// Image is the HSM node image (images.Set.HSM).
	Image string
	// Self is the container this process runs in, which joins each subnet's
	// network to reach its nodes (as KMS's ENIs do); empty when the process
	// runs on the Docker host, which reaches bridge networks directly.
	Self string
}

// Host starts and removes the node containers and subnet networks of one
// stack. It is safe for concurrent use.
type Host struct {
	cfg  Config
	cli  *testcontainers.DockerClient
	dir  string // the bridges' Unix sockets
	mu   sync.Mutex
	nets map[string]string // subnet id -> network name
	all  map[*Node]bool
}

var _ cloudhsm.NodeHost = (*Host)(nil)

// New connects to the Docker engine.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if cfg.StackID == "" || cfg.Image == "" {
		return nil, errors.New("nodes: StackID and Image are required")
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("nodes: docker: %w", err)
	}
	dir, err := os.MkdirTemp("", "keystorm-nodes-")
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("nodes: %w", err)
	}
	return &Host{cfg: cfg, cli: cli, dir: dir, nets: map[string]string{}, all: map[*Node]bool{}}, nil
}

// network returns the Docker network of a subnet, creating it (and joining
// this process's container to it) on first use.
func (h *Host) network(ctx context.Context, subnetID string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if name, ok := h.nets[subnetID]; ok {
		return name, nil
	}
	name := fmt.Sprintf("keystorm-%s-%s", h.cfg.StackID, subnetID)
	_, err := h.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge",
		Labels: map[string]string{LabelStack: h.cfg.StackID, "io.keystorm.subnet": subnetID},
	})
	if err != nil {
		return "", fmt.Errorf("network of %s: %w", subnetID, err)
	}
	if h.cfg.Self != "" {
		if _, err := h.cli.NetworkConnect(ctx, name, client.NetworkConnectOptions{Container: h.cfg.Self}); err != nil {
			h.cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
			return "", fmt.Errorf("join network of %s: %w", subnetID, err)
		}
	}
	h.nets[subnetID] = name
	return name, nil
}

// RemoveSubnet implements cloudhsm.NodeHost: every container leaves the
// subnet's network, which is then removed.
func (h *Host) RemoveSubnet(ctx context.Context, subnetID string) error {
	h.mu.Lock()
	name, ok := h.nets[subnetID]
	delete(h.nets, subnetID)
	h.mu.Unlock()
	if !ok {
		return nil // no node ever ran in it
	}
	err := h.removeNetwork(ctx, name)
	h.mu.Lock()
	for n := range h.all {
		if n.subnetID == subnetID && n.bridge != nil {
			n.bridge.sever()
		}
	}
	h.mu.Unlock()
	return err
}

func (h *Host) removeNetwork(ctx context.Context, name string) error {
	info, err := h.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	var errs []error
	for id := range info.Network.Containers {
		if _, err := h.cli.NetworkDisconnect(ctx, name, client.NetworkDisconnectOptions{Container: id, Force: true}); err != nil {
			errs = append(errs, fmt.Errorf("disconnect %s from %s: %w", id, name, err))
		}
	}
	if _, err := h.cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil {
		errs = append(errs, fmt.Errorf("remove network %s: %w", name, err))
	}
	return errors.Join(errs...)
}

// Close removes every node and network the host started.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	var all []*Node
	for n := range h.all {
		all = append(all, n)
	}
	nets := h.nets
	h.nets = map[string]string{}
	h.mu.Unlock()
	var errs []error
	for _, n := range all {
		errs = append(errs, n.Remove(ctx))
	}
	for _, name := range nets {
		errs = append(errs, h.removeNetwork(ctx, name))
	}
	errs = append(errs, os.RemoveAll(h.dir), h.cli.Close())
	return errors.Join(errs...)
}
