package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

// Node is one HSM's container. It implements cloudhsm.Machine.
type Node struct {
	host     *Host
	hsmID    string
	subnetID string
	c        testcontainers.Container
	ip       string
	bridge   *bridge
	module   *softhsm.Module

	mu      sync.Mutex
	removed bool
}

var _ cloudhsm.Machine = (*Node)(nil)

// startTimeout bounds how long a new node may take to serve PKCS#11.
const startTimeout = 60 * time.Second

// StartNode implements cloudhsm.NodeHost: a container from the HSM image on
// the subnet's network, its SoftHSM dialled through a bridge.
func (h *Host) StartNode(ctx context.Context, hsmID, subnetID string) (_ cloudhsm.Machine, err error) {
	network, err := h.network(ctx, subnetID)
	if err != nil {
		return nil, fmt.Errorf("start node %s: %w", hsmID, err)
	}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:    h.cfg.Image,
			Name:     fmt.Sprintf("keystorm-%s-%s", h.cfg.StackID, hsmID),
			Networks: []string{network},
			Labels:   map[string]string{LabelStack: h.cfg.StackID, "io.keystorm.hsm": hsmID},
			HostConfigModifier: func(hc *container.HostConfig) {
				// iptables inside the node drops its packets for a partition.
				hc.CapAdd = append(hc.CapAdd, "NET_ADMIN")
			},
		},
		Started: true,
	})
	n := &Node{host: h, hsmID: hsmID, subnetID: subnetID, c: c}
	if c != nil {
		h.mu.Lock()
		h.all[n] = true
		h.mu.Unlock()
	}
	defer func() {
		if err != nil {
			n.Remove(context.WithoutCancel(ctx))
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("start node %s: %w", hsmID, err)
	}
	if n.ip, err = c.ContainerIP(ctx); err != nil {
		return nil, fmt.Errorf("start node %s: address: %w", hsmID, err)
	}
	remote := net.JoinHostPort(n.ip, RPCPort)
	if err := waitListening(ctx, remote); err != nil {
		return nil, fmt.Errorf("start node %s: %w", hsmID, err)
	}
	b, err := newBridge(filepath.Join(h.dir, hsmID+".sock"), remote)
	if err != nil {
		return nil, fmt.Errorf("start node %s: %w", hsmID, err)
	}
	h.mu.Lock() // RemoveSubnet reads it
	n.bridge = b
	h.mu.Unlock()
	if n.module, err = softhsm.Dial(ctx, n.bridge.address()); err != nil {
		return nil, fmt.Errorf("start node %s: %w", hsmID, err)
	}
	return n, nil
}

// waitListening waits until addr accepts TCP connections.
func waitListening(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not answer: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Module implements cloudhsm.Machine.
func (n *Node) Module() *softhsm.Module { return n.module }

// Address implements cloudhsm.Machine.
func (n *Node) Address() string { return n.ip }

// dropRule is the iptables rule that cuts the node off: every packet to its
// RPC port is dropped, so calls wait and connections neither open nor reset.
var dropRule = []string{"INPUT", "-p", "tcp", "--dport", RPCPort, "-j", "DROP"}

// Block implements cloudhsm.Machine with iptables inside the container.
func (n *Node) Block(ctx context.Context, blocked bool) error {
	// Delete first, so that blocking twice leaves one rule and unblocking
	// an unblocked node is no error.
	for n.iptables(ctx, append([]string{"-D"}, dropRule...)) == nil {
	}
	if !blocked {
		return nil
	}
	return n.iptables(ctx, append([]string{"-I"}, dropRule...))
}

func (n *Node) iptables(ctx context.Context, args []string) error {
	cmd := append([]string{"iptables", "-w"}, args...)
	code, out, err := n.c.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return fmt.Errorf("node %s: %s: %w", n.hsmID, strings.Join(cmd, " "), err)
	}
	if code != 0 {
		msg, _ := io.ReadAll(out)
		return fmt.Errorf("node %s: %s: exit %d: %s", n.hsmID, strings.Join(cmd, " "), code, strings.TrimSpace(string(msg)))
	}
	return nil
}

// Kill implements cloudhsm.Machine: SIGKILL, calls in flight included.
func (n *Node) Kill(ctx context.Context) error {
	if _, err := n.host.cli.ContainerKill(ctx, n.c.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("kill node %s: %w", n.hsmID, err)
	}
	return nil
}

// Pause implements cloudhsm.Machine: the container's processes freeze.
func (n *Node) Pause(ctx context.Context) error {
	if _, err := n.host.cli.ContainerPause(ctx, n.c.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause node %s: %w", n.hsmID, err)
	}
	return nil
}

// Resume implements cloudhsm.Machine.
func (n *Node) Resume(ctx context.Context) error {
	if _, err := n.host.cli.ContainerUnpause(ctx, n.c.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("resume node %s: %w", n.hsmID, err)
	}
	return nil
}

// Remove implements cloudhsm.Machine: the connection is cut (calls waiting on
// the node end with an error) and the container removed. The module stays
// open for its owner to close.
func (n *Node) Remove(ctx context.Context) error {
	n.mu.Lock()
	if n.removed {
		n.mu.Unlock()
		return nil
	}
	n.removed = true
	n.mu.Unlock()
	var errs []error
	if n.bridge != nil {
		errs = append(errs, n.bridge.Close(ctx))
	}
	if n.c != nil {
		// A paused container must thaw to stop; one that is not refuses,
		// which is fine.
		n.host.cli.ContainerUnpause(ctx, n.c.GetContainerID(), client.ContainerUnpauseOptions{})
		if err := testcontainers.TerminateContainer(n.c, testcontainers.StopContext(ctx), testcontainers.StopTimeout(0)); err != nil {
			errs = append(errs, fmt.Errorf("remove node %s: %w", n.hsmID, err))
		}
	}
	n.host.mu.Lock()
	delete(n.host.all, n)
	n.host.mu.Unlock()
	return errors.Join(errs...)
}
