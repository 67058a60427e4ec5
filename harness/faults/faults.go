// Package faults is keystorm's catalog of named faults and recovery steps.
//
// A fault breaks something the spec documents a failure for (a deleted HSM,
// a locked-out kmsuser, a blocked network path); a recovery step is an
// operator action of the spec's section 5 (create an HSM, set kmsuser's
// password, update the store's password, reconnect). Both are one small
// type in a file of its own, with typed parameters decoded from the
// scenario's `with:` block, a Validate, and the target capabilities it
// needs; one line of registry.go registers it. The runner stamps each
// injection's start and end into the History: no action stamps its own
// times.
package faults

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/keystorm/keystorm/harness/target"
)

// Kind tells a fault from a recovery step.
type Kind string

const (
	KindFault Kind = "fault"
	KindStep  Kind = "step"
)

// An Action is a fault or a recovery step.
type Action interface {
	// Name is the catalog name, such as "delete-hsm".
	Name() string
	Kind() Kind
	// Needs lists the target capabilities the action uses; on a target
	// that lacks one, the action is not applicable.
	Needs() []target.Capability
	// Validate checks the parameters alone, before anything runs; it
	// returns every problem, naming the parameter.
	Validate() []error
	// Inject performs the action. It returns when the action is done as
	// far as its caller can tell (an API answered), not when its effects
	// have been observed: observing them is what the scenario's checks do.
	Inject(ctx context.Context, env *Env) error
}

// Entry describes a catalog entry for `keystorm faults` and the schema.
type Entry struct {
	Name    string
	Kind    Kind
	Summary string
	// New returns the action with its default parameters; the scenario
	// decodes `with:` into it.
	New func() Action
}

// Env is what actions act on: the target, and the names the scenario gave
// to what it set up or an earlier step made (clusters, stores, keys,
// backups). It is safe for concurrent use.
type Env struct {
	Stack target.Stack

	mu       sync.Mutex
	clusters map[string]*Cluster
	stores   map[string]string
	keys     map[string]string
	backups  map[string]string
	// kmsuserLogins and backingKeys: see env_sessions.go.
	kmsuserLogins map[string]string
	backingKeys   map[string]string
}

// Cluster is what the scenario knows of a cluster under its name.
type Cluster struct {
	ID             string
	TrustAnchorPEM string
	// KmsuserPassword is the kmsuser password the scenario last knew (the
	// seed's, or one a step set); KMS rotates it on connect.
	KmsuserPassword string
	// AdminPassword is the crypto officer's (the admin's) password.
	AdminPassword string
	SubnetIDs     []string
}

// NewEnv returns an empty Env over s.
func NewEnv(s target.Stack) *Env {
	return &Env{Stack: s, clusters: map[string]*Cluster{}, stores: map[string]string{}, keys: map[string]string{}, backups: map[string]string{}}
}

// BindCluster names a cluster.
func (e *Env) BindCluster(name string, c Cluster) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cc := c
	e.clusters[name] = &cc
}

// Cluster returns a copy of the named cluster.
func (e *Env) Cluster(name string) (Cluster, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.clusters[name]
	if !ok {
		return Cluster{}, fmt.Errorf("no cluster named %q", name)
	}
	return *c, nil
}

// UpdateCluster changes the named cluster under the lock.
func (e *Env) UpdateCluster(name string, fn func(*Cluster)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.clusters[name]
	if !ok {
		return fmt.Errorf("no cluster named %q", name)
	}
	fn(c)
	return nil
}

// ClusterNames lists the named clusters, sorted.
func (e *Env) ClusterNames() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return sortedKeys(e.clusters)
}

// BindStore, BindKey and BindBackup name a store, a key, a backup.
func (e *Env) BindStore(name, id string)  { e.bind(e.stores, name, id) }
func (e *Env) BindKey(name, id string)    { e.bind(e.keys, name, id) }
func (e *Env) BindBackup(name, id string) { e.bind(e.backups, name, id) }

// Store, Key and Backup return the id bound to a name.
func (e *Env) Store(name string) (string, error)  { return e.lookup(e.stores, "store", name) }
func (e *Env) Key(name string) (string, error)    { return e.lookup(e.keys, "key", name) }
func (e *Env) Backup(name string) (string, error) { return e.lookup(e.backups, "backup", name) }

// StoreNames and KeyNames list the bound names, sorted.
func (e *Env) StoreNames() []string { e.mu.Lock(); defer e.mu.Unlock(); return sortedKeys(e.stores) }
func (e *Env) KeyNames() []string   { e.mu.Lock(); defer e.mu.Unlock(); return sortedKeys(e.keys) }

func (e *Env) bind(m map[string]string, name, id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m[name] = id
}

func (e *Env) lookup(m map[string]string, what, name string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := m[name]
	if !ok {
		return "", fmt.Errorf("no %s named %q", what, name)
	}
	return id, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortStrings(s []string) { sort.Strings(s) }
