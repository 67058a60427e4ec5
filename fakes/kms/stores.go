package kms

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keystorm/keystorm/fakes/cloudhsm"
)

// Connection states of a custom key store.
const (
	StateDisconnected  = "DISCONNECTED"
	StateConnecting    = "CONNECTING"
	StateConnected     = "CONNECTED"
	StateFailed        = "FAILED"
	StateDisconnecting = "DISCONNECTING"
)

// ConnectionErrorCodes of a FAILED store.
const (
	ErrCodeClusterNotFound       = "CLUSTER_NOT_FOUND"
	ErrCodeSubnetNotFound        = "SUBNET_NOT_FOUND"
	ErrCodeInsufficientAddresses = "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET"
	ErrCodeInsufficientHSMs      = "INSUFFICIENT_CLOUDHSM_HSMS"
	ErrCodeNetwork               = "NETWORK_ERRORS"
	ErrCodeUserNotFound          = "USER_NOT_FOUND"
	ErrCodeUserLockedOut         = "USER_LOCKED_OUT"
	ErrCodeUserLoggedIn          = "USER_LOGGED_IN"
	ErrCodeInvalidCredentials    = "INVALID_CREDENTIALS"
	ErrCodeInternal              = "INTERNAL_ERROR"
)

// KmsUser is the crypto user KMS logs in as.
const KmsUser = "kmsuser"

// store is a custom key store. Guarded by Service.mu.
type store struct {
	id, name    string
	clusterID   string
	lineage     string // of its cluster, to tell related clusters after that one is gone
	trustAnchor string
	password    string // kmsuser's password as KMS knows it
	state       string
	errCode     string
	created     time.Time
	conn        *connection // while CONNECTING (the attempt) and CONNECTED
}

// CreateCustomKeyStoreInput is the CreateCustomKeyStore request.
type CreateCustomKeyStoreInput struct {
	CustomKeyStoreName     string `json:"CustomKeyStoreName"`
	CloudHsmClusterId      string `json:"CloudHsmClusterId,omitempty"`
	TrustAnchorCertificate string `json:"TrustAnchorCertificate,omitempty"`
	KeyStorePassword       string `json:"KeyStorePassword,omitempty"`
	CustomKeyStoreType     string `json:"CustomKeyStoreType,omitempty"`
}

// CreateCustomKeyStoreOutput is its response.
type CreateCustomKeyStoreOutput struct {
	CustomKeyStoreId string `json:"CustomKeyStoreId"`
}

// CreateCustomKeyStore creates a DISCONNECTED store for a cluster.
func (s *Service) CreateCustomKeyStore(in CreateCustomKeyStoreInput) (*CreateCustomKeyStoreOutput, error) {
	switch in.CustomKeyStoreType {
	case "", "AWS_CLOUDHSM":
	default:
		return nil, errf(UnsupportedOperation, "custom key stores of type %s are not supported by this stack", in.CustomKeyStoreType)
	}
	for field, v := range map[string]string{"CloudHsmClusterId": in.CloudHsmClusterId, "TrustAnchorCertificate": in.TrustAnchorCertificate, "KeyStorePassword": in.KeyStorePassword} {
		if v == "" {
			return nil, errf(Validation, "%s is required for a custom key store of type AWS_CLOUDHSM", field)
		}
	}
	c, err := s.clusterForStore(in.CloudHsmClusterId, true)
	if err != nil {
		return nil, err
	}
	if !sameCertificate(in.TrustAnchorCertificate, c.TrustAnchorPEM()) {
		return nil, errf(IncorrectTrustAnchor, "The trust anchor certificate in the request is not the trust anchor certificate for the specified AWS CloudHSM cluster %s.", c.ID())
	}
	lineage := c.Lineage()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stores {
		if st.name == in.CustomKeyStoreName {
			return nil, errf(CustomKeyStoreNameInUse, "Custom key store name %s is already in use in this account and Region.", in.CustomKeyStoreName)
		}
	}
	for _, st := range s.stores {
		if st.lineage == lineage {
			return nil, errf(CloudHsmClusterInUse, "AWS CloudHSM cluster %s, or a cluster related to it, is already associated with custom key store %s.", c.ID(), st.id)
		}
	}
	if len(s.stores) >= s.cfg.MaxStores {
		return nil, errf(LimitExceeded, "This account already has the maximum of %d custom key stores in this Region.", s.cfg.MaxStores)
	}
	st := &store{
		id: newStoreID(), name: in.CustomKeyStoreName, clusterID: c.ID(), lineage: lineage,
		trustAnchor: in.TrustAnchorCertificate, password: in.KeyStorePassword,
		state: StateDisconnected, created: s.clock.Now(),
	}
	s.stores[st.id] = st
	return &CreateCustomKeyStoreOutput{CustomKeyStoreId: st.id}, nil
}

// clusterForStore finds a cluster a store can use: it exists, is ACTIVE and
// meets KMS's requirements, with two ACTIVE HSMs in different AZs when
// needHSMs (creating or moving a store).
func (s *Service) clusterForStore(id string, needHSMs bool) (*cloudhsm.Cluster, error) {
	c, err := s.plane.Cluster(id)
	if err != nil || c.State() == cloudhsm.ClusterDeleted {
		return nil, errf(CloudHsmClusterNotFound, "AWS CloudHSM cluster %s not found.", id)
	}
	if c.State() != cloudhsm.ClusterActive {
		return nil, errf(CloudHsmClusterNotActive, "AWS CloudHSM cluster %s is not active.", id)
	}
	if err := s.checkClusterConfig(c, needHSMs); err != nil {
		return nil, err
	}
	return c, nil
}

// checkClusterConfig checks KMS's requirements of a cluster: private
// subnets in at least two AZs, the security group's rules intact, and, when
// needHSMs, two ACTIVE HSMs in different AZs.
func (s *Service) checkClusterConfig(c *cloudhsm.Cluster, needHSMs bool) error {
	info := c.Info()
	if len(info.SubnetMapping) < 2 {
		return errf(CloudHsmClusterInvalidConfig, "AWS CloudHSM cluster %s must have private subnets in at least two Availability Zones.", c.ID())
	}
	if !c.SecurityGroupRulesIntact() {
		return errf(CloudHsmClusterInvalidConfig, "The security group %s of AWS CloudHSM cluster %s must allow TCP ports 2223-2225 to and from itself.", info.SecurityGroup, c.ID())
	}
	if needHSMs {
		azs := map[string]bool{}
		for _, h := range info.HSMs {
			azs[h.AZ] = true
		}
		if len(azs) < 2 {
			return errf(CloudHsmClusterInvalidConfig, "AWS CloudHSM cluster %s must contain at least two active HSMs, each in a different Availability Zone.", c.ID())
		}
	}
	return nil
}

// sameCertificate compares two PEM certificates by their DER bytes.
func sameCertificate(a, b string) bool {
	da, db := pemDER(a), pemDER(b)
	return da != nil && bytes.Equal(da, db)
}

func pemDER(s string) []byte {
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil
	}
	return block.Bytes
}

// CustomKeyStoresListEntry is one store in DescribeCustomKeyStores.
type CustomKeyStoresListEntry struct {
	CustomKeyStoreId       string     `json:"CustomKeyStoreId"`
	CustomKeyStoreName     string     `json:"CustomKeyStoreName"`
	CloudHsmClusterId      string     `json:"CloudHsmClusterId"`
	TrustAnchorCertificate string     `json:"TrustAnchorCertificate"`
	ConnectionState        string     `json:"ConnectionState"`
	ConnectionErrorCode    string     `json:"ConnectionErrorCode,omitempty"`
	CreationDate           *Timestamp `json:"CreationDate"`
	CustomKeyStoreType     string     `json:"CustomKeyStoreType"`
}

// DescribeCustomKeyStoresInput is the DescribeCustomKeyStores request.
type DescribeCustomKeyStoresInput struct {
	CustomKeyStoreId   string `json:"CustomKeyStoreId,omitempty"`
	CustomKeyStoreName string `json:"CustomKeyStoreName,omitempty"`
	Limit              int    `json:"Limit,omitempty"`
	Marker             string `json:"Marker,omitempty"`
}

// DescribeCustomKeyStoresOutput is its response.
type DescribeCustomKeyStoresOutput struct {
	CustomKeyStores []CustomKeyStoresListEntry `json:"CustomKeyStores"`
	NextMarker      string                     `json:"NextMarker,omitempty"`
	Truncated       bool                       `json:"Truncated"`
}

// DefaultLimit is the page size of list operations without a Limit.
const DefaultLimit = 100

// DescribeCustomKeyStores lists stores, or the one named by id or name.
func (s *Service) DescribeCustomKeyStores(in DescribeCustomKeyStoresInput) (*DescribeCustomKeyStoresOutput, error) {
	if in.CustomKeyStoreId != "" && in.CustomKeyStoreName != "" {
		return nil, errf(Validation, "Specify either CustomKeyStoreId or CustomKeyStoreName, not both.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*store
	for _, st := range s.stores {
		if (in.CustomKeyStoreId == "" || st.id == in.CustomKeyStoreId) && (in.CustomKeyStoreName == "" || st.name == in.CustomKeyStoreName) {
			all = append(all, st)
		}
	}
	if len(all) == 0 && (in.CustomKeyStoreId != "" || in.CustomKeyStoreName != "") {
		if in.CustomKeyStoreId != "" {
			return nil, errf(CustomKeyStoreNotFound, "Custom key store %s does not exist in this account and Region.", in.CustomKeyStoreId)
		}
		return nil, errf(CustomKeyStoreNotFound, "Custom key store named %s does not exist in this account and Region.", in.CustomKeyStoreName)
	}
	sortOldestFirst(all, func(st *store) time.Time { return st.created }, func(st *store) string { return st.id })
	pageOf, next, err := page(all, func(st *store) string { return st.id }, in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &DescribeCustomKeyStoresOutput{CustomKeyStores: []CustomKeyStoresListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, st := range pageOf {
		out.CustomKeyStores = append(out.CustomKeyStores, st.entry())
	}
	return out, nil
}

func (st *store) entry() CustomKeyStoresListEntry {
	e := CustomKeyStoresListEntry{
		CustomKeyStoreId: st.id, CustomKeyStoreName: st.name, CloudHsmClusterId: st.clusterID,
		TrustAnchorCertificate: st.trustAnchor, ConnectionState: st.state, CreationDate: ts(st.created),
		CustomKeyStoreType: "AWS_CLOUDHSM",
	}
	if st.state == StateFailed {
		e.ConnectionErrorCode = st.errCode
	}
	return e
}

// page picks the page of items after marker (the id of the previous page's
// last item, encoded), limit long; next is the marker of the following page.
func page[T any](items []T, id func(T) string, limit int, marker string) (_ []T, next string, err error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	from := 0
	if marker != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(marker)
		idx := slices.IndexFunc(items, func(it T) bool { return id(it) == string(raw) })
		if derr != nil || idx < 0 {
			return nil, "", errf(InvalidMarker, "The request's marker is not valid.")
		}
		from = idx + 1
	}
	to := min(from+limit, len(items))
	if to < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(id(items[to-1])))
	}
	return items[from:to], next, nil
}

// sortOldestFirst orders items by creation, then id, as KMS lists them.
func sortOldestFirst[T any](items []T, created func(T) time.Time, id func(T) string) {
	sort.Slice(items, func(i, j int) bool {
		if ci, cj := created(items[i]), created(items[j]); !ci.Equal(cj) {
			return ci.Before(cj)
		}
		return id(items[i]) < id(items[j])
	})
}

// UpdateCustomKeyStoreInput is the UpdateCustomKeyStore request.
type UpdateCustomKeyStoreInput struct {
	CustomKeyStoreId      string `json:"CustomKeyStoreId"`
	NewCustomKeyStoreName string `json:"NewCustomKeyStoreName,omitempty"`
	KeyStorePassword      string `json:"KeyStorePassword,omitempty"`
	CloudHsmClusterId     string `json:"CloudHsmClusterId,omitempty"`
}

// UpdateCustomKeyStore renames a store (DISCONNECTED or CONNECTED), or tells
// KMS kmsuser's password or moves the store to a related cluster
// (DISCONNECTED only). Nothing is changed unless all of it can be.
func (s *Service) UpdateCustomKeyStore(in UpdateCustomKeyStoreInput) error {
	var newCluster *cloudhsm.Cluster
	if in.CloudHsmClusterId != "" {
		// Checked before taking the lock: the cluster's own lock is below ours.
		c, err := s.clusterForStore(in.CloudHsmClusterId, true)
		if err != nil {
			return err
		}
		newCluster = c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(in.CustomKeyStoreId)
	if err != nil {
		return err
	}
	switch st.state {
	case StateDisconnected:
	case StateConnected:
		if in.KeyStorePassword != "" || in.CloudHsmClusterId != "" {
			return errf(CustomKeyStoreInvalidState, "Custom key store %s is CONNECTED: only its name can be updated. Disconnect it first.", st.id)
		}
	default:
		return errf(CustomKeyStoreInvalidState, "Custom key store %s is %s and cannot be updated.", st.id, st.state)
	}
	if in.NewCustomKeyStoreName != "" {
		for _, o := range s.stores {
			if o != st && o.name == in.NewCustomKeyStoreName {
				return errf(CustomKeyStoreNameInUse, "Custom key store name %s is already in use in this account and Region.", in.NewCustomKeyStoreName)
			}
		}
	}
	if newCluster != nil && newCluster.Lineage() != st.lineage {
		return errf(CloudHsmClusterNotRelated, "AWS CloudHSM cluster %s is not related to cluster %s, the cluster of custom key store %s.", newCluster.ID(), st.clusterID, st.id)
	}
	if in.NewCustomKeyStoreName != "" {
		st.name = in.NewCustomKeyStoreName
	}
	if in.KeyStorePassword != "" {
		st.password = in.KeyStorePassword
	}
	if newCluster != nil {
		st.clusterID = newCluster.ID()
	}
	return nil
}

// DeleteCustomKeyStore deletes a DISCONNECTED store that has no KMS keys.
// The cluster, its users and keys are untouched.
func (s *Service) DeleteCustomKeyStore(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(id)
	if err != nil {
		return err
	}
	if st.state != StateDisconnected {
		return errf(CustomKeyStoreInvalidState, "Custom key store %s is %s; disconnect it before deleting it.", st.id, st.state)
	}
	for _, k := range s.keys {
		if k.storeID == st.id {
			return errf(CustomKeyStoreHasCMKs, "Custom key store %s still has KMS keys (including keys pending deletion); delete them first.", st.id)
		}
	}
	delete(s.stores, st.id)
	return nil
}

// store returns a store by id; s.mu is held.
func (s *Service) store(id string) (*store, error) {
	st, ok := s.stores[id]
	if !ok {
		return nil, errf(CustomKeyStoreNotFound, "Custom key store %s does not exist in this account and Region.", id)
	}
	return st, nil
}
