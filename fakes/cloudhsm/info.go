package cloudhsm

import (
	"sort"
	"time"
)

// ClusterInfo describes a cluster, as DescribeClusters shows it.
type ClusterInfo struct {
	ID             string
	State          ClusterState
	HsmType        string
	Created        time.Time
	SubnetMapping  map[string]string // AZ -> subnet id
	VpcID          string
	SecurityGroup  string
	SourceBackupID string
	PreCoPassword  string // only while UNINITIALIZED
	TrustAnchorPEM string
	ClusterPEM     string
	HSMs           []HSMInfo
}

// Info describes the cluster.
func (c *Cluster) Info() ClusterInfo {
	p := c.plane
	p.mu.Lock()
	defer p.mu.Unlock()
	info := ClusterInfo{
		ID: c.id, State: c.state, HsmType: c.hsmType, Created: c.created,
		SubnetMapping: map[string]string{}, VpcID: p.vpcID, SecurityGroup: c.sgID,
		SourceBackupID: c.sourceBackup, TrustAnchorPEM: c.seed.certs.trustAnchorPEM, ClusterPEM: c.seed.certs.clusterPEM,
	}
	if c.state == ClusterUninitialized {
		info.PreCoPassword = c.seed.preCo
	}
	for az, id := range c.subnets {
		info.SubnetMapping[az] = id
	}
	for _, h := range c.hsms {
		info.HSMs = append(info.HSMs, h.Info())
	}
	return info
}

// SubnetIDs returns the ids of the cluster's subnets, sorted by AZ.
func (c *Cluster) SubnetIDs() []string {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	azs := make([]string, 0, len(c.subnets))
	for az := range c.subnets {
		azs = append(azs, az)
	}
	sort.Strings(azs)
	ids := make([]string, len(azs))
	for i, az := range azs {
		ids[i] = c.subnets[az]
	}
	return ids
}

// Lineage names the backup history the cluster belongs to: related clusters
// share it.
func (c *Cluster) Lineage() string {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	return c.seed.lineage
}

// SecurityGroupRulesIntact reports whether the cluster's security group
// still lets its HSMs and clients talk (TCP 2223-2225).
func (c *Cluster) SecurityGroupRulesIntact() bool {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	return !c.sgRulesBroken
}

// Reachable reports whether the network path to the HSM is open.
func (h *HSM) Reachable() bool {
	return !h.blocked.Load() && !h.cluster.network.blocked.Load()
}

// TakeAddress takes one free address of a subnet, for an ENI of a client of
// the cluster (KMS makes one per subnet on connect).
func (p *Plane) TakeAddress(subnetID string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takeAddress(subnetID)
}

// ReturnAddress frees an address TakeAddress took.
func (p *Plane) ReturnAddress(subnetID string) { p.returnAddress(subnetID) }

// Plane returns the plane the cluster belongs to.
func (c *Cluster) Plane() *Plane { return c.plane }
