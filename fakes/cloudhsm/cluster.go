package cloudhsm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/keystorm/keystorm/fakes/hsm"
)

// ClusterState is a cluster's state, as the CloudHSM API names it.
type ClusterState string

// The cluster states keystorm's clusters go through.
const (
	ClusterUninitialized ClusterState = "UNINITIALIZED"
	ClusterActive        ClusterState = "ACTIVE"
	ClusterDegraded      ClusterState = "DEGRADED"
	ClusterDeleted       ClusterState = "DELETED"
)

// Cluster is a CloudHSM cluster. Its fields are guarded by the plane's lock.
type Cluster struct {
	plane   *Plane
	id      string
	created time.Time
	hsmType string

	state         ClusterState
	subnets       map[string]string // AZ -> subnet id
	sgID          string
	sgRulesBroken bool
	sourceBackup  string
	// seed is what a new HSM is cloned from when the cluster has none: the
	// backup it was made from, or the one taken before its last HSM went.
	// With HSMs, a new one is cloned from a backup taken of a live one.
	seed     snapshot
	hsms     []*HSM
	sessions map[*Session]bool
	watchers map[int]func(Event)
	nextWID  int
	network  network
}

// snapshot is the content of a backup: what it takes to clone an HSM of a
// cluster, and what makes clusters related (lineage, certificates, domain).
type snapshot struct {
	lineage  string // shared by every cluster of one backup history
	certs    certificates
	domain   *hsm.KeyDomain
	users    []hsm.UserRecord
	ownerPIN string // the key owner's password, "" if it has none
	keys     []hsm.WrappedKey
	preCo    string // the precrypto officer's password of an uninitialised cluster
}

// ID returns the cluster id.
func (c *Cluster) ID() string { return c.id }

// State returns the cluster's state.
func (c *Cluster) State() ClusterState {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	return c.state
}

// SetDegraded marks an ACTIVE cluster DEGRADED (not active: KMS refuses to
// connect to it or to put a store on it) or a DEGRADED one ACTIVE again; a
// cluster in any other state is refused. Its HSMs keep working meanwhile.
func (c *Cluster) SetDegraded(degraded bool) error {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	if c.state != ClusterActive && c.state != ClusterDegraded {
		return fmt.Errorf("cluster %s is %s, not ACTIVE or DEGRADED: %w", c.id, c.state, ErrInvalidRequest)
	}
	c.state = ClusterActive
	if degraded {
		c.state = ClusterDegraded
	}
	return nil
}

// RelatedTo reports whether two clusters share a backup history (and so the
// cluster certificate).
func (c *Cluster) RelatedTo(o *Cluster) bool {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	return c.seed.lineage == o.seed.lineage
}

// TrustAnchorPEM returns the certificate the cluster's certificate was
// signed with (customerCA.crt).
func (c *Cluster) TrustAnchorPEM() string {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	return c.seed.certs.trustAnchorPEM
}

// SeedSpec describes an ACTIVE, initialised cluster for Seed.
type SeedSpec struct {
	AZs             []string // one subnet and one HSM in each (default us-east-1a, us-east-1b)
	AdminPassword   string   // the crypto officer's
	KmsuserPassword string   // kmsuser's; empty makes no kmsuser
	FreeAddresses   int      // per subnet (default DefaultFreeAddresses)
	HsmType         string
}

// Seed makes what `keystorm serve` starts with: subnets, an ACTIVE cluster
// initialised with the given users, and one HSM in each AZ.
func (p *Plane) Seed(ctx context.Context, spec SeedSpec) (*Cluster, error) {
	if len(spec.AZs) == 0 {
		spec.AZs = []string{p.region + "a", p.region + "b"}
	}
	if spec.FreeAddresses == 0 {
		spec.FreeAddresses = DefaultFreeAddresses
	}
	if spec.HsmType == "" {
		spec.HsmType = DefaultHsmType
	}
	users, err := initialUsers(ctx, p, spec.AdminPassword)
	if err != nil {
		return nil, fmt.Errorf("seed cluster: %w", err)
	}
	var subnetIDs []string
	for _, az := range spec.AZs {
		subnetIDs = append(subnetIDs, p.AddSubnet(az, spec.FreeAddresses).ID)
	}
	p.mu.Lock()
	c, err := p.newCluster(spec.HsmType, subnetIDs)
	if err != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("seed cluster: %w", err)
	}
	certs, err := newCertificates(c.id, c.created)
	if err != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("seed cluster: %w", err)
	}
	c.seed = snapshot{lineage: c.id, certs: certs, domain: hsm.NewKeyDomain(), users: users, ownerPIN: spec.KmsuserPassword}
	c.state = ClusterActive
	p.mu.Unlock()
	for _, az := range spec.AZs {
		if _, err := p.CreateHsm(ctx, c.id, az, ""); err != nil {
			return nil, fmt.Errorf("seed cluster %s: %w", c.id, err)
		}
	}
	return c, nil
}

// initialUsers makes the user records of a newly initialised cluster: the
// crypto officer "admin" with password. The key owner is cloned by name.
func initialUsers(ctx context.Context, p *Plane, password string) ([]hsm.UserRecord, error) {
	// A scratch node computes the records as every node would check them.
	n, err := hsm.New(ctx, p.module, hsm.Config{ID: newID("hsm-init"), AdminPassword: password})
	if err != nil {
		return nil, err
	}
	defer n.Delete()
	return n.ExportUsers(), nil
}

// newCluster registers a cluster in the given subnets, one per AZ; p.mu is
// held.
func (p *Plane) newCluster(hsmType string, subnetIDs []string) (*Cluster, error) {
	if p.closed {
		return nil, errors.New("plane closed")
	}
	if len(subnetIDs) == 0 {
		return nil, fmt.Errorf("no subnet: %w", ErrInvalidRequest)
	}
	mapping := map[string]string{}
	for _, id := range subnetIDs {
		s, ok := p.subnets[id]
		if !ok || s.deleted {
			return nil, fmt.Errorf("subnet %s: %w", id, ErrNotFound)
		}
		if other, dup := mapping[s.AZ]; dup {
			return nil, fmt.Errorf("subnets %s and %s are both in %s; give one subnet per Availability Zone: %w", other, id, s.AZ, ErrInvalidRequest)
		}
		mapping[s.AZ] = id
	}
	c := &Cluster{
		plane: p, id: newID("cluster"), created: p.now(), hsmType: hsmType,
		subnets: mapping, sgID: newHexID("sg"),
		sessions: map[*Session]bool{}, watchers: map[int]func(Event){},
	}
	p.clusters[c.id] = c
	return c, nil
}

// CreateCluster makes a cluster in the given subnets (one per AZ). From a
// backup it is ACTIVE at once, related to the backup's cluster, and its first
// HSM gets the backup's users and keys; otherwise it is UNINITIALIZED.
func (p *Plane) CreateCluster(ctx context.Context, hsmType string, subnetIDs []string, sourceBackupID string) (*Cluster, error) {
	if hsmType == "" {
		hsmType = DefaultHsmType
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var from *Backup
	if sourceBackupID != "" {
		b, ok := p.backups[sourceBackupID]
		if !ok || b.state != BackupReady {
			return nil, fmt.Errorf("backup %s: %w", sourceBackupID, ErrNotFound)
		}
		from = b
	}
	c, err := p.newCluster(hsmType, subnetIDs)
	if err != nil {
		return nil, err
	}
	if from != nil {
		c.seed = from.snap
		c.sourceBackup = from.id
		c.state = ClusterActive
		return c, nil
	}
	certs, err := newCertificates(c.id, c.created)
	if err != nil {
		delete(p.clusters, c.id)
		return nil, err
	}
	c.seed = snapshot{lineage: c.id, certs: certs, domain: hsm.NewKeyDomain(), preCo: randomPassword()}
	c.state = ClusterUninitialized
	return c, nil
}

// DeleteCluster deletes a cluster that has no HSM left.
func (p *Plane) DeleteCluster(id string) (*Cluster, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.cluster(id)
	if err != nil {
		return nil, err
	}
	if c.state == ClusterDeleted {
		return nil, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	if len(c.hsms) > 0 {
		return nil, fmt.Errorf("cluster %s still has %d HSM(s); delete them first: %w", id, len(c.hsms), ErrInvalidRequest)
	}
	c.state = ClusterDeleted
	return c, nil
}

// HSMs returns the cluster's HSMs, oldest first.
func (c *Cluster) HSMs() []*HSM {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	return append([]*HSM(nil), c.hsms...)
}

// CreateHsm adds an HSM in az to a cluster. As the real service does, it
// clones the new HSM from a backup: one taken of a live HSM of the cluster
// now, or, if the cluster has none, the backup it was made from or took when
// its last HSM went. ip, if set, is the address the HSM's ENI wants.
func (p *Plane) CreateHsm(ctx context.Context, clusterID, az, ip string) (*HSM, error) {
	p.mu.Lock()
	c, err := p.liveCluster(clusterID)
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	subnetID, ok := c.subnets[az]
	if !ok {
		p.mu.Unlock()
		return nil, fmt.Errorf("cluster %s has no subnet in %s: %w", clusterID, az, ErrInvalidRequest)
	}
	addr, err := p.takeAddress(subnetID)
	if err != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("create HSM in %s: %w: %w", az, ErrInvalidRequest, err)
	}
	if ip != "" {
		addr = ip
	}
	var source *HSM
	if len(c.hsms) > 0 {
		source = c.hsms[0]
	}
	snap := c.seed
	p.mu.Unlock()

	if source != nil {
		b, err := p.takeBackup(ctx, clusterID)
		if err != nil {
			p.returnAddress(subnetID)
			return nil, fmt.Errorf("create HSM in %s: back up %s: %w", clusterID, source.id, err)
		}
		snap = b.snap
	}
	h, err := p.provision(ctx, c, snap, az, subnetID, addr)
	if err != nil {
		p.returnAddress(subnetID)
		return nil, fmt.Errorf("create HSM in %s: %w", clusterID, err)
	}

	p.mu.Lock()
	if c.state == ClusterDeleted || p.closed {
		p.mu.Unlock()
		h.retire(ctx)
		p.returnAddress(subnetID)
		return nil, fmt.Errorf("cluster %s: %w", clusterID, ErrNotFound)
	}
	c.hsms = append(c.hsms, h)
	sessions := make([]*Session, 0, len(c.sessions))
	for s := range c.sessions {
		sessions = append(sessions, s)
	}
	p.mu.Unlock()
	// Whoever is logged in to the cluster is logged in to its new HSM too,
	// as the CloudHSM client logs in to every HSM it finds.
	for _, s := range sessions {
		s.extend(ctx, h)
	}
	c.notify(Event{Kind: HSMAdded, HSM: h})
	return h, nil
}

func (p *Plane) returnAddress(subnetID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.giveAddress(subnetID)
}

// provision makes a node from a snapshot.
func (p *Plane) provision(ctx context.Context, c *Cluster, snap snapshot, az, subnetID, addr string) (*HSM, error) {
	id := newID("hsm")
	cfg := hsm.Config{ID: id, Users: snap.users, KeyOwnerPassword: snap.ownerPIN}
	if len(snap.users) == 0 {
		// An uninitialised cluster: only the precrypto officer.
		cfg = hsm.Config{ID: id, AdminPassword: snap.preCo}
	}
	h := &HSM{cluster: c, id: id, az: az, subnetID: subnetID, eniID: newHexID("eni"), ip: addr, created: p.now()}
	m := p.module
	if p.nodes != nil {
		var err error
		if h.machine, err = p.nodes.StartNode(ctx, id, subnetID); err != nil {
			return nil, err
		}
		m, h.ip = h.machine.Module(), h.machine.Address()
	}
	fail := func(err error) (*HSM, error) {
		h.retire(ctx)
		return nil, err
	}
	var err error
	if h.node, err = hsm.New(ctx, m, cfg); err != nil {
		return fail(err)
	}
	if err := h.node.Join(ctx, snap.domain); err != nil {
		return fail(err)
	}
	if len(snap.keys) > 0 {
		if err := h.node.ImportKeys(ctx, snap.ownerPIN, snap.keys); err != nil {
			return fail(err)
		}
	}
	if c.network.blocked.Load() && h.machine != nil {
		if err := h.machine.Block(ctx, true); err != nil {
			return fail(err)
		}
	}
	return h, nil
}

// retire deletes the HSM's node: wipes its token, or removes its machine.
// The machine goes first: a node that is dead, frozen or cut off would hold
// a wipe forever, and its token goes with the machine anyway.
func (h *HSM) retire(ctx context.Context) error {
	if h.machine == nil {
		if h.node == nil {
			return nil
		}
		return h.node.Delete()
	}
	err := h.machine.Remove(ctx)
	h.calls.Wait() // calls left behind end with the connection
	if h.node != nil {
		h.node.Delete() // fails on the closed connection; nothing is left to wipe
	}
	if cerr := h.machine.Module().Close(); err == nil {
		err = cerr
	}
	return err
}

// DeleteHsm deletes an HSM of a cluster, named by its id, its ENI's id or
// its ENI's address. Deleting the last HSM first takes a backup, from which
// the next CreateHsm restores the cluster (choice: keystorm's spec asks that
// a cluster whose HSMs were all deleted comes back with CreateHsm).
func (p *Plane) DeleteHsm(ctx context.Context, clusterID, hsmID, eniID, eniIP string) (string, error) {
	p.mu.Lock()
	c, err := p.liveCluster(clusterID)
	if err != nil {
		p.mu.Unlock()
		return "", err
	}
	if hsmID == "" && eniID == "" && eniIP == "" {
		p.mu.Unlock()
		return "", fmt.Errorf("name the HSM by HsmId, EniId or EniIp: %w", ErrInvalidRequest)
	}
	var h *HSM
	for _, c := range c.hsms {
		if (hsmID == "" || c.id == hsmID) && (eniID == "" || c.eniID == eniID) && (eniIP == "" || c.ip == eniIP) {
			h = c
			break
		}
	}
	last := len(c.hsms) == 1
	p.mu.Unlock()
	if h == nil {
		return "", fmt.Errorf("HSM %s%s%s in cluster %s: %w", hsmID, eniID, eniIP, clusterID, ErrNotFound)
	}
	if last {
		if _, err := p.TakeBackup(ctx, clusterID); err != nil {
			return "", fmt.Errorf("delete HSM %s: back up the cluster first: %w", h.id, err)
		}
	}
	p.mu.Lock()
	for i, x := range c.hsms {
		if x == h {
			c.hsms = append(c.hsms[:i:i], c.hsms[i+1:]...)
			break
		}
	}
	p.giveAddress(h.subnetID)
	p.mu.Unlock()
	c.notify(Event{Kind: HSMRemoved, HSM: h})
	err = h.retire(ctx)
	if err != nil {
		return h.id, fmt.Errorf("delete HSM %s: %w", h.id, err)
	}
	return h.id, nil
}

// EventKind says what changed in a cluster.
type EventKind int

// Kinds of events.
const (
	HSMAdded EventKind = iota + 1
	HSMRemoved
)

// Event is a change of a cluster's HSMs, for those who keep sessions to
// them (KMS's session pool).
type Event struct {
	Kind EventKind
	HSM  *HSM
}

// Watch calls fn after every change of the cluster's HSMs until stop is
// called. fn must not block for long.
func (c *Cluster) Watch(fn func(Event)) (stop func()) {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	id := c.nextWID
	c.nextWID++
	c.watchers[id] = fn
	return func() {
		c.plane.mu.Lock()
		defer c.plane.mu.Unlock()
		delete(c.watchers, id)
	}
}

func (c *Cluster) notify(ev Event) {
	c.plane.mu.Lock()
	fns := make([]func(Event), 0, len(c.watchers))
	ids := make([]int, 0, len(c.watchers))
	for id := range c.watchers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		fns = append(fns, c.watchers[id])
	}
	c.plane.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}
