// Package cloudhsm is the CloudHSM control plane of keystorm's stack:
// clusters of HSM nodes (fakes/hsm) in subnets of a VPC, their users, backups
// and related clusters, and the network between KMS and the HSMs, with the
// faults that have no operator action (a blocked path, a deleted subnet, used
// up addresses, added latency).
//
// The plane keeps what the real service keeps of a cluster's users to clone
// HSMs: the users' password digests, and the key owner's password, which is
// the token PIN of every HSM and which SoftHSM needs in clear to set. Every
// change of a password goes through the plane, so it always knows it.
package cloudhsm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/keystorm/keystorm/fakes/clock"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

// Errors of the control plane. The CloudHSM API maps ErrNotFound to
// CloudHsmResourceNotFoundException and ErrInvalidRequest to
// CloudHsmInvalidRequestException.
var (
	ErrNotFound       = errors.New("resource not found")
	ErrInvalidRequest = errors.New("invalid request")
	// ErrUnreachable is what a call to an HSM gets when the network path to
	// it is blocked.
	ErrUnreachable = errors.New("network path to the HSM is blocked")
)

// DefaultHsmType is the HSM type of seeded clusters.
const DefaultHsmType = "hsm1.medium"

// Config configures a Plane.
type Config struct {
	// Module is the process's SoftHSM: it holds every HSM's token unless
	// Nodes runs them on machines of their own.
	Module  *softhsm.Module
	Nodes   NodeHost
	Clock   *clock.Clock
	Region  string // default us-east-1
	Account string // default 111122223333
}

// Plane is the CloudHSM service of one account and Region. It is safe for
// concurrent use.
type Plane struct {
	module  *softhsm.Module
	nodes   NodeHost
	clock   *clock.Clock
	region  string
	account string
	vpcID   string

	mu       sync.Mutex
	subnets  map[string]*Subnet
	clusters map[string]*Cluster
	backups  map[string]*Backup
	closed   bool
}

// New returns an empty plane with one VPC.
func New(cfg Config) (*Plane, error) {
	if cfg.Module == nil {
		return nil, errors.New("cloudhsm: no SoftHSM module")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Account == "" {
		cfg.Account = "111122223333"
	}
	return &Plane{
		module: cfg.Module, nodes: cfg.Nodes, clock: cfg.Clock, region: cfg.Region, account: cfg.Account,
		vpcID:   newHexID("vpc"),
		subnets: map[string]*Subnet{}, clusters: map[string]*Cluster{}, backups: map[string]*Backup{},
	}, nil
}

// Region returns the plane's Region.
func (p *Plane) Region() string { return p.region }

// Account returns the plane's account id.
func (p *Plane) Account() string { return p.account }

// Clock returns the stack clock the plane stamps its resources with.
func (p *Plane) Clock() *clock.Clock { return p.clock }

// Close deletes every HSM, wiping its token or removing its machine. The
// plane is unusable after.
func (p *Plane) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	var hsms []*HSM
	for _, c := range p.clusters {
		hsms = append(hsms, c.hsms...)
		c.hsms = nil
	}
	p.mu.Unlock()
	var errs []error
	for _, h := range hsms {
		errs = append(errs, h.retire(ctx))
	}
	return errors.Join(errs...)
}

// Subnet is a private subnet of the plane's VPC.
type Subnet struct {
	ID, AZ, CIDR string
	free         int  // guarded by Plane.mu
	deleted      bool // guarded by Plane.mu
}

// SubnetInfo describes a subnet.
type SubnetInfo struct {
	ID, AZ, CIDR  string
	FreeAddresses int
	Deleted       bool
}

// DefaultFreeAddresses is what a /28 subnet offers: 16 less the 5 AWS keeps.
const DefaultFreeAddresses = 11

// AddSubnet makes a subnet in az with free addresses.
func (p *Plane) AddSubnet(az string, free int) SubnetInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &Subnet{ID: newHexID("subnet"), AZ: az, CIDR: fmt.Sprintf("10.0.%d.0/28", len(p.subnets)), free: free}
	p.subnets[s.ID] = s
	return s.info()
}

func (s *Subnet) info() SubnetInfo {
	return SubnetInfo{ID: s.ID, AZ: s.AZ, CIDR: s.CIDR, FreeAddresses: s.free, Deleted: s.deleted}
}

// Subnet describes a subnet.
func (p *Plane) Subnet(id string) (SubnetInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.subnets[id]
	if !ok {
		return SubnetInfo{}, fmt.Errorf("subnet %s: %w", id, ErrNotFound)
	}
	return s.info(), nil
}

// DeleteSubnet deletes a subnet, as an operator who deletes it under a
// cluster does: nothing new can go in it. In-process, its HSMs' ENIs stay
// and answer; on machines, the subnet's network goes, and its HSMs with it
// are cut off.
func (p *Plane) DeleteSubnet(ctx context.Context, id string) error {
	p.mu.Lock()
	s, ok := p.subnets[id]
	if !ok || s.deleted {
		p.mu.Unlock()
		return fmt.Errorf("subnet %s: %w", id, ErrNotFound)
	}
	s.deleted = true
	p.mu.Unlock()
	if p.nodes != nil {
		if err := p.nodes.RemoveSubnet(ctx, id); err != nil {
			return fmt.Errorf("subnet %s: %w", id, err)
		}
	}
	return nil
}

// SetFreeAddresses sets how many addresses of a subnet are free; 0 exhausts
// it.
func (p *Plane) SetFreeAddresses(id string, free int) error {
	if free < 0 {
		return fmt.Errorf("subnet %s: %d free addresses: %w", id, free, ErrInvalidRequest)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.subnets[id]
	if !ok || s.deleted {
		return fmt.Errorf("subnet %s: %w", id, ErrNotFound)
	}
	s.free = free
	return nil
}

// takeAddress takes one free address of a subnet; p.mu is held.
func (p *Plane) takeAddress(id string) (string, error) {
	s, ok := p.subnets[id]
	if !ok || s.deleted {
		return "", fmt.Errorf("subnet %s: %w", id, ErrNotFound)
	}
	if s.free <= 0 {
		return "", fmt.Errorf("subnet %s has no free address: %w", id, ErrNoFreeAddress)
	}
	s.free--
	var n int
	fmt.Sscanf(s.CIDR, "10.0.%d.0/28", &n)
	return fmt.Sprintf("10.0.%d.%d", n, 4+DefaultFreeAddresses-s.free), nil
}

// ErrNoFreeAddress is returned when a subnet has no free IP address.
var ErrNoFreeAddress = errors.New("no free IP address in subnet")

// giveAddress frees one address of a subnet (if it still exists); p.mu is
// held.
func (p *Plane) giveAddress(id string) {
	if s, ok := p.subnets[id]; ok && !s.deleted {
		s.free++
	}
}

// cluster returns a cluster by id, DELETED ones included; p.mu is held.
func (p *Plane) cluster(id string) (*Cluster, error) {
	c, ok := p.clusters[id]
	if !ok {
		return nil, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	return c, nil
}

// liveCluster returns a cluster by id that is not DELETED; p.mu is held.
func (p *Plane) liveCluster(id string) (*Cluster, error) {
	c, ok := p.clusters[id]
	if !ok || c.state == ClusterDeleted {
		return nil, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	return c, nil
}

// Cluster returns a cluster by id. A deleted cluster is still returned (its
// state says DELETED), as DescribeClusters shows it for a while.
func (p *Plane) Cluster(id string) (*Cluster, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cluster(id)
}

// Clusters returns the clusters, oldest first.
func (p *Plane) Clusters() []*Cluster {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Cluster, 0, len(p.clusters))
	for _, c := range p.clusters {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].id < out[j].id
	})
	return out
}

func (p *Plane) now() time.Time { return p.clock.Now() }
