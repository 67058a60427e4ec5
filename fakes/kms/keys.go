package kms

import (
	"crypto/rand"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Key states, as the API names them.
const (
	KeyEnabled         = "Enabled"
	KeyDisabled        = "Disabled"
	KeyPendingDeletion = "PendingDeletion"
	KeyUnavailable     = "Unavailable"
)

// Key origins.
const (
	OriginAWSKMS      = "AWS_KMS"
	OriginAWSCloudHSM = "AWS_CLOUDHSM"
)

// key is a KMS key. Guarded by Service.mu.
type key struct {
	id, arn      string
	created      time.Time
	description  string
	origin       string
	storeID      string
	clusterID    string
	backingKeyID string // AWS_CLOUDHSM: the key in the cluster's HSMs
	material     []byte // AWS_KMS: the key itself (a software key)
	// state is the key's own state (Enabled, Disabled, PendingDeletion);
	// what DescribeKey shows is derived from it and the store's.
	state        string
	deletionDate time.Time
	pendingDays  int
	lostAt       time.Time // when its backing key was first seen missing from the HSMs
}

type alias struct {
	name, target     string
	created, updated time.Time
}

// KeyMetadata is a key as DescribeKey and CreateKey show it.
type KeyMetadata struct {
	AWSAccountId          string     `json:"AWSAccountId"`
	KeyId                 string     `json:"KeyId"`
	Arn                   string     `json:"Arn"`
	CreationDate          *Timestamp `json:"CreationDate"`
	Enabled               bool       `json:"Enabled"`
	Description           string     `json:"Description"`
	KeyUsage              string     `json:"KeyUsage"`
	KeyState              string     `json:"KeyState"`
	DeletionDate          *Timestamp `json:"DeletionDate,omitempty"`
	Origin                string     `json:"Origin"`
	CustomKeyStoreId      string     `json:"CustomKeyStoreId,omitempty"`
	CloudHsmClusterId     string     `json:"CloudHsmClusterId,omitempty"`
	KeyManager            string     `json:"KeyManager"`
	CustomerMasterKeySpec string     `json:"CustomerMasterKeySpec"`
	KeySpec               string     `json:"KeySpec"`
	EncryptionAlgorithms  []string   `json:"EncryptionAlgorithms"`
	MultiRegion           bool       `json:"MultiRegion"`
}

// metadata describes k; s.mu is held.
func (s *Service) metadata(k *key) KeyMetadata {
	state := s.keyState(k)
	md := KeyMetadata{
		AWSAccountId: s.account, KeyId: k.id, Arn: k.arn, CreationDate: ts(k.created),
		Enabled: state == KeyEnabled, Description: k.description, KeyUsage: "ENCRYPT_DECRYPT",
		KeyState: state, Origin: k.origin, CustomKeyStoreId: k.storeID, CloudHsmClusterId: k.clusterID,
		KeyManager: "CUSTOMER", CustomerMasterKeySpec: "SYMMETRIC_DEFAULT", KeySpec: "SYMMETRIC_DEFAULT",
		EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"},
	}
	if k.state == KeyPendingDeletion {
		md.DeletionDate = ts(k.deletionDate)
	}
	return md
}

// keyState derives what a key's state shows as; s.mu is held. A key in a
// store that is not CONNECTED is Unavailable, unless PendingDeletion; one
// whose backing key left the HSMs shows its own state for a while, then
// Unavailable.
func (s *Service) keyState(k *key) string {
	state := s.storeKeyState(k)
	if state != KeyUnavailable && k.origin == OriginAWSCloudHSM && k.state != KeyPendingDeletion && s.materialLost(s.stores[k.storeID], k) {
		return KeyUnavailable
	}
	return state
}

// storeKeyState is keyState without looking for the backing key in the
// HSMs: what crypto calls check, since the HSM tells them itself when the
// material is gone (with the same exception); s.mu is held.
func (s *Service) storeKeyState(k *key) string {
	if k.origin != OriginAWSCloudHSM || k.state == KeyPendingDeletion {
		return k.state
	}
	if st := s.stores[k.storeID]; st == nil || st.state != StateConnected {
		return KeyUnavailable
	}
	return k.state
}

// materialLost tells whether the key's backing key has been missing from
// every HSM of the store's cluster for longer than the configured delay;
// s.mu is held. A cluster without HSMs (all deleted, or the cluster itself)
// tells nothing about the material: its keys fail as the cluster's, not as
// lost material (keystorm's spec, section 4).
func (s *Service) materialLost(st *store, k *key) bool {
	if st.conn == nil || st.conn.cluster == nil {
		return false
	}
	hsms := st.conn.cluster.HSMs()
	if len(hsms) == 0 {
		return false
	}
	for _, h := range hsms {
		if h.Node().HasKey(k.backingKeyID) {
			k.lostAt = time.Time{}
			return false
		}
	}
	now := s.clock.Now()
	if k.lostAt.IsZero() {
		k.lostAt = now
	}
	return now.Sub(k.lostAt) >= s.cfg.MaterialLossDelay
}

// CreateKeyInput is the CreateKey request (the members this stack reads).
type CreateKeyInput struct {
	Description           string `json:"Description,omitempty"`
	KeyUsage              string `json:"KeyUsage,omitempty"`
	CustomerMasterKeySpec string `json:"CustomerMasterKeySpec,omitempty"`
	KeySpec               string `json:"KeySpec,omitempty"`
	Origin                string `json:"Origin,omitempty"`
	CustomKeyStoreId      string `json:"CustomKeyStoreId,omitempty"`
	MultiRegion           *bool  `json:"MultiRegion,omitempty"`
}

// KeyMetadataOutput is the response of CreateKey and DescribeKey.
type KeyMetadataOutput struct {
	KeyMetadata KeyMetadata `json:"KeyMetadata"`
}

// CreateKey makes a symmetric encryption key: a software key (AWS_KMS), or
// one whose backing key is generated in a custom key store's cluster
// (AWS_CLOUDHSM).
func (s *Service) CreateKey(in CreateKeyInput) (*KeyMetadataOutput, error) {
	if in.KeyUsage != "" && in.KeyUsage != "ENCRYPT_DECRYPT" {
		return nil, errf(UnsupportedOperation, "This stack supports only ENCRYPT_DECRYPT keys, not %s.", in.KeyUsage)
	}
	for _, spec := range []string{in.KeySpec, in.CustomerMasterKeySpec} {
		if spec != "" && spec != "SYMMETRIC_DEFAULT" {
			return nil, errf(UnsupportedOperation, "This stack supports only SYMMETRIC_DEFAULT keys, not %s.", spec)
		}
	}
	origin := in.Origin
	if origin == "" {
		origin = OriginAWSKMS
	}
	k := &key{id: newUUID(), description: in.Description, origin: origin, state: KeyEnabled}
	k.arn = s.keyArn(k.id)
	switch origin {
	case OriginAWSKMS:
		if in.CustomKeyStoreId != "" {
			return nil, errf(UnsupportedOperation, "A key in custom key store %s must have Origin AWS_CLOUDHSM.", in.CustomKeyStoreId)
		}
		k.material = make([]byte, 32)
		if _, err := rand.Read(k.material); err != nil {
			return nil, errf(KMSInternal, "could not generate key material")
		}
	case OriginAWSCloudHSM:
		if in.CustomKeyStoreId == "" {
			return nil, errf(Validation, "CustomKeyStoreId is required when Origin is AWS_CLOUDHSM.")
		}
		if in.MultiRegion != nil && *in.MultiRegion {
			return nil, errf(UnsupportedOperation, "Keys in a custom key store cannot be multi-Region keys.")
		}
		if err := s.createBackingKey(k, in.CustomKeyStoreId); err != nil {
			return nil, err
		}
	default:
		return nil, errf(UnsupportedOperation, "This stack does not support keys of origin %s.", origin)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k.created = s.clock.Now()
	s.keys[k.id] = k
	md := s.metadata(k)
	// A management event: always kept (AuditEvents serves it).
	s.audit.call("CreateKey", k.arn, map[string]any{"origin": origin, "customKeyStoreId": k.storeID}, auditCrypto(k))
	return &KeyMetadataOutput{KeyMetadata: md}, nil
}

// createBackingKey generates k's backing key in its store's cluster, as
// kmsuser, on every HSM.
func (s *Service) createBackingKey(k *key, storeID string) error {
	s.mu.Lock()
	st, err := s.store(storeID)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if st.state != StateConnected || st.conn == nil {
		s.mu.Unlock()
		return errf(CustomKeyStoreInvalidState, "Custom key store %s is %s; it must be CONNECTED to create keys in it.", st.id, st.state)
	}
	conn := st.conn
	s.mu.Unlock()
	conn.mu.Lock()
	cluster, session := conn.cluster, conn.session
	conn.mu.Unlock()
	if err := s.checkClusterConfig(cluster, true); err != nil {
		return err
	}
	id, err := session.GenerateKey(s.ctx)
	if err != nil {
		return errf(KMSInternal, "KMS could not create the backing key in AWS CloudHSM cluster %s.", cluster.ID())
	}
	k.storeID, k.clusterID, k.backingKeyID = storeID, cluster.ID(), id
	return nil
}

// resolveKey finds a key by id, ARN, alias name or alias ARN; s.mu is held.
func (s *Service) resolveKey(ref string) (*key, error) {
	id := ref
	switch {
	case strings.HasPrefix(ref, "alias/"):
		a, ok := s.aliases[ref]
		if !ok {
			return nil, errf(NotFound, "Alias %s is not found.", s.aliasArn(ref))
		}
		id = a.target
	case strings.HasPrefix(ref, "arn:"):
		parts := strings.SplitN(ref, ":", 6)
		if len(parts) != 6 || parts[2] != "kms" {
			return nil, errf(InvalidArn, "%s is not a valid ARN.", ref)
		}
		res := parts[5]
		switch {
		case strings.HasPrefix(res, "key/"):
			id = strings.TrimPrefix(res, "key/")
		case strings.HasPrefix(res, "alias/"):
			return s.resolveKey(res)
		default:
			return nil, errf(InvalidArn, "%s is not a valid ARN.", ref)
		}
	}
	k, ok := s.keys[id]
	if !ok {
		return nil, errf(NotFound, "Key '%s' does not exist", s.keyArn(id))
	}
	return k, nil
}

// KeyIdInput is the request of the operations that take only a KeyId.
type KeyIdInput struct {
	KeyId string `json:"KeyId"`
}

// DescribeKey describes a key in any state.
func (s *Service) DescribeKey(in KeyIdInput) (*KeyMetadataOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.resolveKey(in.KeyId)
	if err != nil {
		return nil, err
	}
	return &KeyMetadataOutput{KeyMetadata: s.metadata(k)}, nil
}

// ListInput is the paging part of list requests.
type ListInput struct {
	KeyId  string `json:"KeyId,omitempty"` // ListAliases only
	Limit  int    `json:"Limit,omitempty"`
	Marker string `json:"Marker,omitempty"`
}

// KeyListEntry is one key in ListKeys.
type KeyListEntry struct {
	KeyId  string `json:"KeyId"`
	KeyArn string `json:"KeyArn"`
}

// ListKeysOutput is the ListKeys response.
type ListKeysOutput struct {
	Keys       []KeyListEntry `json:"Keys"`
	NextMarker string         `json:"NextMarker,omitempty"`
	Truncated  bool           `json:"Truncated"`
}

// ListKeys lists every key, oldest first.
func (s *Service) ListKeys(in ListInput) (*ListKeysOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*key, 0, len(s.keys))
	for _, k := range s.keys {
		all = append(all, k)
	}
	keyID := func(k *key) string { return k.id }
	sortOldestFirst(all, func(k *key) time.Time { return k.created }, keyID)
	pageOf, next, err := page(all, keyID, in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &ListKeysOutput{Keys: []KeyListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, k := range pageOf {
		out.Keys = append(out.Keys, KeyListEntry{KeyId: k.id, KeyArn: k.arn})
	}
	return out, nil
}

// EnableKey enables a key. On an Unavailable key it succeeds without
// changing what the key shows; it takes effect when the store reconnects
// (the last of EnableKey and DisableKey wins).
func (s *Service) EnableKey(in KeyIdInput) error { return s.setEnabled(in.KeyId, KeyEnabled) }

// DisableKey disables a key; see EnableKey for Unavailable keys.
func (s *Service) DisableKey(in KeyIdInput) error { return s.setEnabled(in.KeyId, KeyDisabled) }

func (s *Service) setEnabled(ref, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.resolveKey(ref)
	if err != nil {
		return err
	}
	if k.state == KeyPendingDeletion {
		return errf(KMSInvalidState, "%s is pending deletion.", k.arn)
	}
	k.state = state
	return nil
}

// ScheduleKeyDeletionInput is the ScheduleKeyDeletion request.
type ScheduleKeyDeletionInput struct {
	KeyId               string `json:"KeyId"`
	PendingWindowInDays int    `json:"PendingWindowInDays,omitempty"`
}

// ScheduleKeyDeletionOutput is its response.
type ScheduleKeyDeletionOutput struct {
	KeyId               string     `json:"KeyId"`
	DeletionDate        *Timestamp `json:"DeletionDate"`
	KeyState            string     `json:"KeyState"`
	PendingWindowInDays int        `json:"PendingWindowInDays"`
}

// ScheduleKeyDeletion puts a key in PendingDeletion for 7..30 days (default
// 30), also while its store is disconnected.
func (s *Service) ScheduleKeyDeletion(in ScheduleKeyDeletionInput) (*ScheduleKeyDeletionOutput, error) {
	days := in.PendingWindowInDays
	if days == 0 {
		days = 30
	}
	if days < 7 || days > 30 {
		return nil, errf(Validation, "1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30", days)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.resolveKey(in.KeyId)
	if err != nil {
		return nil, err
	}
	if k.state == KeyPendingDeletion {
		return nil, errf(KMSInvalidState, "%s is pending deletion.", k.arn)
	}
	k.state, k.pendingDays = KeyPendingDeletion, days
	k.deletionDate = s.clock.Now().Add(time.Duration(days) * 24 * time.Hour)
	select {
	case s.deleteCh <- struct{}{}:
	default:
	}
	return &ScheduleKeyDeletionOutput{KeyId: k.arn, DeletionDate: ts(k.deletionDate), KeyState: KeyPendingDeletion, PendingWindowInDays: days}, nil
}

// CancelKeyDeletionOutput is the CancelKeyDeletion response.
type CancelKeyDeletionOutput struct {
	KeyId string `json:"KeyId"`
}

// CancelKeyDeletion takes a key out of PendingDeletion; it is then Disabled
// (shown Unavailable while its store is not connected).
func (s *Service) CancelKeyDeletion(in KeyIdInput) (*CancelKeyDeletionOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.resolveKey(in.KeyId)
	if err != nil {
		return nil, err
	}
	if k.state != KeyPendingDeletion {
		return nil, errf(KMSInvalidState, "%s is not pending deletion.", k.arn)
	}
	k.state, k.deletionDate, k.pendingDays = KeyDisabled, time.Time{}, 0
	return &CancelKeyDeletionOutput{KeyId: k.arn}, nil
}

var aliasName = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)

// CreateAliasInput is the CreateAlias request.
type CreateAliasInput struct {
	AliasName   string `json:"AliasName"`
	TargetKeyId string `json:"TargetKeyId"`
}

// CreateAlias names a key.
func (s *Service) CreateAlias(in CreateAliasInput) error {
	if !aliasName.MatchString(in.AliasName) || strings.HasPrefix(in.AliasName, "alias/aws/") {
		return errf(InvalidAliasName, "Alias %s must begin with 'alias/', be made of letters, digits, '/', '_' and '-', and not begin with 'alias/aws/'.", in.AliasName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.aliases[in.AliasName]; ok {
		return errf(AlreadyExists, "An alias with the name %s already exists", s.aliasArn(in.AliasName))
	}
	if strings.HasPrefix(in.TargetKeyId, "alias/") {
		return errf(Validation, "TargetKeyId must be a key id or key ARN, not an alias.")
	}
	k, err := s.resolveKey(in.TargetKeyId)
	if err != nil {
		return err
	}
	if k.state == KeyPendingDeletion {
		return errf(KMSInvalidState, "%s is pending deletion.", k.arn)
	}
	now := s.clock.Now()
	s.aliases[in.AliasName] = &alias{name: in.AliasName, target: k.id, created: now, updated: now}
	return nil
}

// AliasListEntry is one alias in ListAliases.
type AliasListEntry struct {
	AliasName       string     `json:"AliasName"`
	AliasArn        string     `json:"AliasArn"`
	TargetKeyId     string     `json:"TargetKeyId"`
	CreationDate    *Timestamp `json:"CreationDate"`
	LastUpdatedDate *Timestamp `json:"LastUpdatedDate"`
}

// ListAliasesOutput is the ListAliases response.
type ListAliasesOutput struct {
	Aliases    []AliasListEntry `json:"Aliases"`
	NextMarker string           `json:"NextMarker,omitempty"`
	Truncated  bool             `json:"Truncated"`
}

// ListAliases lists aliases, of one key if KeyId is given, by name.
func (s *Service) ListAliases(in ListInput) (*ListAliasesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	target := ""
	if in.KeyId != "" {
		k, err := s.resolveKey(in.KeyId)
		if err != nil {
			return nil, err
		}
		target = k.id
	}
	var names []string
	for name, a := range s.aliases {
		if target == "" || a.target == target {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	pageOf, next, err := page(names, func(n string) string { return n }, in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &ListAliasesOutput{Aliases: []AliasListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, name := range pageOf {
		a := s.aliases[name]
		out.Aliases = append(out.Aliases, AliasListEntry{AliasName: a.name, AliasArn: s.aliasArn(a.name), TargetKeyId: a.target, CreationDate: ts(a.created), LastUpdatedDate: ts(a.updated)})
	}
	return out, nil
}
