package stack_test

// Section 2 of /work/shared/spec/keystore-behavior.md, the connection state
// machine, through the AWS SDK for Go v2 against stack.Start's servers: every
// row of its call table, the quick checks on connect, and every
// ConnectionErrorCode from its real cause and back to CONNECTED by its
// documented fix. Keys (section 3) are in spec_keys_test.go, cryptographic
// operations (section 4) in spec_crypto_test.go.

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keystorm/keystorm/fakes/hsm"
	kmssvc "github.com/keystorm/keystorm/fakes/kms"
	"github.com/keystorm/keystorm/fakes/stack"
)

// Exception names of the KMS API model.
const (
	excNameInUse        = "CustomKeyStoreNameInUseException"
	excStoreNotFound    = "CustomKeyStoreNotFoundException"
	excInvalidState     = "CustomKeyStoreInvalidStateException"
	excHasCMKs          = "CustomKeyStoreHasCMKsException"
	excClusterNotFound  = "CloudHsmClusterNotFoundException"
	excClusterNotActive = "CloudHsmClusterNotActiveException"
	excClusterInUse     = "CloudHsmClusterInUseException"
	excNotRelated       = "CloudHsmClusterNotRelatedException"
	excInvalidConfig    = "CloudHsmClusterInvalidConfigurationException"
	excTrustAnchor      = "IncorrectTrustAnchorException"
	excLimit            = "LimitExceededException"
	excInvalidMarker    = "InvalidMarkerException"
	excInternal         = "KMSInternalException"
	excValidation       = "ValidationException"
)

// A cluster id that follows the model's pattern and names no cluster.
const missingCluster = "cluster-234567abcdefg"

func TestCreateCustomKeyStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 14})
	input := func(name string, i int) *kms.CreateCustomKeyStoreInput {
		c := e.cluster(i)
		return &kms.CreateCustomKeyStoreInput{
			CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(c.ClusterID),
			TrustAnchorCertificate: aws.String(c.TrustAnchorPEM), KeyStorePassword: aws.String(c.KmsuserPassword),
		}
	}
	count := func(t *testing.T) int {
		out, err := e.kms.DescribeCustomKeyStores(t.Context(), &kms.DescribeCustomKeyStoresInput{})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.CustomKeyStores)
	}
	storeID := regexp.MustCompile(`^cks-[0-9a-f]{17}$`)

	// The rows run in order on one stack: later ones use the stores and
	// clusters of earlier ones.
	for _, tc := range []struct {
		name  string
		input func(t *testing.T) *kms.CreateCustomKeyStoreInput
		code  string // "" for success
	}{
		{
			name:  "an ACTIVE cluster with its trust anchor - a new store, DISCONNECTED",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput { return input("store-0", 0) },
		},
		{
			name:  "the name of another store - CustomKeyStoreNameInUseException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput { return input("store-0", 1) },
			code:  excNameInUse,
		},
		{
			name: "a cluster that does not exist - CloudHsmClusterNotFoundException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				in := input("store-x", 1)
				in.CloudHsmClusterId = aws.String(missingCluster)
				return in
			},
			code: excClusterNotFound,
		},
		{
			name: "an UNINITIALIZED cluster - CloudHsmClusterNotActiveException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				in := input("store-x", 1)
				in.CloudHsmClusterId = aws.String(e.uninitializedCluster(t, e.cluster(1).SubnetIDs))
				return in
			},
			code: excClusterNotActive,
		},
		{
			name:  "the cluster of another store - CloudHsmClusterInUseException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput { return input("store-x", 0) },
			code:  excClusterInUse,
		},
		{
			name: "a cluster related to the cluster of another store - CloudHsmClusterInUseException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				c := e.cluster(0)
				related := e.clusterFromBackup(t, e.latestBackup(t, c.ClusterID), c.SubnetIDs, e.azs())
				if a, b := clusterCertificate(t, e, c.ClusterID), clusterCertificate(t, e, related); a != b || a == "" {
					t.Fatalf("related clusters have different cluster certificates")
				}
				in := input("store-x", 0)
				in.CloudHsmClusterId = aws.String(related)
				return in
			},
			code: excClusterInUse,
		},
		{
			name: "the trust anchor of another cluster - IncorrectTrustAnchorException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				in := input("store-x", 1)
				in.TrustAnchorCertificate = aws.String(e.cluster(2).TrustAnchorPEM)
				return in
			},
			code: excTrustAnchor,
		},
		{
			name: "a trust anchor that is no certificate - IncorrectTrustAnchorException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				in := input("store-x", 1)
				in.TrustAnchorCertificate = aws.String("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
				return in
			},
			code: excTrustAnchor,
		},
		{
			name: "a cluster with one HSM left - CloudHsmClusterInvalidConfigurationException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				c := e.cluster(2)
				for id := range e.hsmIDs(t, c.ClusterID) {
					e.deleteHsm(t, c.ClusterID, id)
					break
				}
				return input("store-x", 2)
			},
			code: excInvalidConfig,
		},
		{
			name: "a cluster with two HSMs in one Availability Zone - CloudHsmClusterInvalidConfigurationException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				c := e.cluster(2)
				for _, az := range e.hsmIDs(t, c.ClusterID) { // the one left
					e.createHsm(t, c.ClusterID, az)
				}
				if n := len(e.hsmIDs(t, c.ClusterID)); n != 2 {
					t.Fatalf("%d HSMs, want 2", n)
				}
				return input("store-x", 2)
			},
			code: excInvalidConfig,
		},
		{
			name: "a cluster whose security group rules are broken - CloudHsmClusterInvalidConfigurationException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				e.admin(t, "/v1/security-group", map[string]any{"cluster_id": e.cluster(3).ClusterID, "broken": true})
				return input("store-3", 3)
			},
			code: excInvalidConfig,
		},
		{
			name: "the same cluster once its rules are repaired - a new store",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				e.admin(t, "/v1/security-group", map[string]any{"cluster_id": e.cluster(3).ClusterID, "broken": false})
				return input("store-3", 3)
			},
		},
		{
			name: "a cluster with subnets in one Availability Zone - CloudHsmClusterInvalidConfigurationException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				c := e.cluster(4)
				oneAZ := e.clusterFromBackup(t, e.latestBackup(t, c.ClusterID), c.SubnetIDs[:1], e.azs()[:1])
				in := input("store-x", 4)
				in.CloudHsmClusterId = aws.String(oneAZ)
				return in
			},
			code: excInvalidConfig,
		},
		{
			name: "an eleventh store in the Region - LimitExceededException",
			input: func(t *testing.T) *kms.CreateCustomKeyStoreInput {
				for i := 5; count(t) < kmssvc.DefaultMaxStores; i++ {
					e.createStore(t, fmt.Sprintf("store-%d", i), i)
				}
				return input("store-13", 13)
			},
			code: excLimit,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.input(t)
			before := count(t)
			out, err := e.kms.CreateCustomKeyStore(t.Context(), in)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				if n := count(t); n != before {
					t.Fatalf("%d stores after a failed create, want %d", n, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			id := aws.ToString(out.CustomKeyStoreId)
			if !storeID.MatchString(id) {
				t.Errorf("store id %q, want cks- and 17 hex digits", id)
			}
			st := e.describe(t, id)
			if st.ConnectionState != types.ConnectionStateTypeDisconnected || st.ConnectionErrorCode != "" {
				t.Errorf("new store: %s %q, want DISCONNECTED without a code", st.ConnectionState, st.ConnectionErrorCode)
			}
			if aws.ToString(st.CustomKeyStoreName) != aws.ToString(in.CustomKeyStoreName) ||
				aws.ToString(st.CloudHsmClusterId) != aws.ToString(in.CloudHsmClusterId) ||
				aws.ToString(st.TrustAnchorCertificate) != aws.ToString(in.TrustAnchorCertificate) ||
				st.CustomKeyStoreType != types.CustomKeyStoreTypeAwsCloudhsm || st.CreationDate == nil {
				t.Errorf("new store: %+v", st)
			}
		})
	}
}

// clusterCertificate is a cluster's certificate, as DescribeClusters shows it.
func clusterCertificate(t *testing.T, e *env, clusterID string) string {
	t.Helper()
	out, err := e.hsm.DescribeClusters(t.Context(), &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {clusterID}}})
	if err != nil || len(out.Clusters) != 1 || out.Clusters[0].Certificates == nil {
		t.Fatalf("describe cluster %s: %+v, %v", clusterID, out, err)
	}
	return aws.ToString(out.Clusters[0].Certificates.ClusterCertificate)
}

func TestDescribeCustomKeyStores(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 3})
	var ids []string
	for i := range 3 {
		ids = append(ids, e.createStore(t, fmt.Sprintf("store-%d", i), i))
	}
	idsOf := func(out *kms.DescribeCustomKeyStoresOutput) []string {
		var got []string
		for _, st := range out.CustomKeyStores {
			got = append(got, aws.ToString(st.CustomKeyStoreId))
		}
		return got
	}
	for _, tc := range []struct {
		name string
		in   *kms.DescribeCustomKeyStoresInput
		want []string // ids in order
		code string
	}{
		{name: "no filter - every store, oldest first", in: &kms.DescribeCustomKeyStoresInput{}, want: ids},
		{name: "by CustomKeyStoreId - that store", in: &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(ids[1])}, want: ids[1:2]},
		{name: "by CustomKeyStoreName - that store", in: &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("store-2")}, want: ids[2:3]},
		{
			name: "by id and name - ValidationException",
			in:   &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(ids[0]), CustomKeyStoreName: aws.String("store-0")},
			code: excValidation,
		},
		{name: "an unknown id - CustomKeyStoreNotFoundException", in: &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-0123456789abcdef0")}, code: excStoreNotFound},
		{name: "an unknown name - CustomKeyStoreNotFoundException", in: &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("no-such-store")}, code: excStoreNotFound},
		{name: "a marker KMS never gave - InvalidMarkerException", in: &kms.DescribeCustomKeyStoresInput{Marker: aws.String("bm90LWEtbWFya2Vy")}, code: excInvalidMarker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.kms.DescribeCustomKeyStores(t.Context(), tc.in)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := idsOf(out); !slices.Equal(got, tc.want) || out.Truncated || out.NextMarker != nil {
				t.Fatalf("stores %v (truncated %v, marker %v), want %v untruncated", got, out.Truncated, out.NextMarker, tc.want)
			}
		})
	}

	t.Run("Limit 2 - a truncated page with a NextMarker, then the rest from that Marker", func(t *testing.T) {
		first, err := e.kms.DescribeCustomKeyStores(t.Context(), &kms.DescribeCustomKeyStoresInput{Limit: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		if got := idsOf(first); !slices.Equal(got, ids[:2]) || !first.Truncated || first.NextMarker == nil {
			t.Fatalf("first page %v (truncated %v, marker %v), want %v truncated with a marker", got, first.Truncated, first.NextMarker, ids[:2])
		}
		rest, err := e.kms.DescribeCustomKeyStores(t.Context(), &kms.DescribeCustomKeyStoresInput{Limit: aws.Int32(2), Marker: first.NextMarker})
		if err != nil {
			t.Fatal(err)
		}
		if got := idsOf(rest); !slices.Equal(got, ids[2:]) || rest.Truncated || rest.NextMarker != nil {
			t.Fatalf("second page %v (truncated %v), want %v, the last", got, rest.Truncated, ids[2:])
		}
	})

	t.Run("an injected internal fault - KMSInternalException, once", func(t *testing.T) {
		e.admin(t, "/v1/internal-error", map[string]any{"operation": "DescribeCustomKeyStores", "count": 1})
		_, err := e.kms.DescribeCustomKeyStores(t.Context(), &kms.DescribeCustomKeyStoresInput{})
		as[*types.KMSInternalException](t, err)
		if status := httpStatus(err); status != 500 {
			t.Errorf("HTTP %d, want 500", status)
		}
		if _, err := e.kms.DescribeCustomKeyStores(t.Context(), &kms.DescribeCustomKeyStoresInput{}); err != nil {
			t.Fatalf("the call after: %v", err)
		}
	})
}

// storeIn makes a store over seeded cluster i and brings it to state, then
// nearly stops the stack clock (speed 1: a connect takes 20 real minutes, a
// disconnect 30 seconds), so that the transitional states hold still. The
// caller restores the speed. A FAILED store failed INVALID_CREDENTIALS.
func (e *env) storeIn(t *testing.T, i int, state types.ConnectionStateType) string {
	t.Helper()
	id := e.createStore(t, fmt.Sprintf("store-%d", i), i)
	switch state {
	case types.ConnectionStateTypeDisconnected:
		e.setSpeed(t, 1)
	case types.ConnectionStateTypeConnected:
		e.mustConnect(t, id)
		e.setSpeed(t, 1)
	case types.ConnectionStateTypeFailed:
		e.mustUpdate(t, id, "", "wrongPass1", "")
		e.wantFailed(t, id, types.ConnectionErrorCodeTypeInvalidCredentials)
		e.setSpeed(t, 1)
	case types.ConnectionStateTypeConnecting:
		e.setSpeed(t, 1)
		if _, err := e.kms.ConnectCustomKeyStore(t.Context(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	case types.ConnectionStateTypeDisconnecting:
		e.mustConnect(t, id)
		e.setSpeed(t, 1)
		if _, err := e.kms.DisconnectCustomKeyStore(t.Context(), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.describe(t, id).ConnectionState; got != state {
		t.Fatalf("store %s is %s, want %s", id, got, state)
	}
	return id
}

// TestConnectionStateMachine is the spec's call table: each call from each
// state, what it answers, the state right after (the clock held still) and
// the state it settles in.
func TestConnectionStateMachine(t *testing.T) {
	t.Parallel()
	const (
		disconnected  = types.ConnectionStateTypeDisconnected
		connecting    = types.ConnectionStateTypeConnecting
		connected     = types.ConnectionStateTypeConnected
		failed        = types.ConnectionStateTypeFailed
		disconnecting = types.ConnectionStateTypeDisconnecting
		gone          = types.ConnectionStateType("") // deleted
	)
	type call func(ctx context.Context, e *env, id, clusterID string) error
	connect := func(ctx context.Context, e *env, id, _ string) error {
		_, err := e.kms.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		return err
	}
	disconnect := func(ctx context.Context, e *env, id, _ string) error {
		_, err := e.kms.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		return err
	}
	rename := func(ctx context.Context, e *env, id, _ string) error { return e.update(ctx, id, "renamed-"+id, "", "") }
	password := func(ctx context.Context, e *env, id, _ string) error { return e.update(ctx, id, "", "otherPass1", "") }
	cluster := func(ctx context.Context, e *env, id, clusterID string) error {
		return e.update(ctx, id, "", "", clusterID)
	}
	renameAndPassword := func(ctx context.Context, e *env, id, _ string) error {
		return e.update(ctx, id, "renamed-"+id, "otherPass1", "")
	}
	del := func(ctx context.Context, e *env, id, _ string) error {
		_, err := e.kms.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		return err
	}
	rows := []struct {
		name     string
		from     types.ConnectionStateType
		call     call
		code     string
		now, end types.ConnectionStateType
		renamed  bool
	}{
		{name: "Connect - DISCONNECTED - 200, CONNECTING, then CONNECTED", from: disconnected, call: connect, now: connecting, end: connected},
		{name: "Connect - CONNECTED - 200, nothing changes", from: connected, call: connect, now: connected, end: connected},
		{name: "Connect - CONNECTING - 200, nothing changes", from: connecting, call: connect, now: connecting, end: connected},
		{name: "Connect - FAILED - CustomKeyStoreInvalidStateException", from: failed, call: connect, code: excInvalidState, now: failed, end: failed},
		{name: "Connect - DISCONNECTING - CustomKeyStoreInvalidStateException", from: disconnecting, call: connect, code: excInvalidState, now: disconnecting, end: disconnected},

		{name: "Disconnect - CONNECTED - 200, DISCONNECTING, then DISCONNECTED", from: connected, call: disconnect, now: disconnecting, end: disconnected},
		{name: "Disconnect - CONNECTING - 200, DISCONNECTING, then DISCONNECTED", from: connecting, call: disconnect, now: disconnecting, end: disconnected},
		{name: "Disconnect - FAILED - 200, DISCONNECTING, then DISCONNECTED without a code", from: failed, call: disconnect, now: disconnecting, end: disconnected},
		{name: "Disconnect - DISCONNECTED - CustomKeyStoreInvalidStateException", from: disconnected, call: disconnect, code: excInvalidState, now: disconnected, end: disconnected},
		{name: "Disconnect - DISCONNECTING - CustomKeyStoreInvalidStateException", from: disconnecting, call: disconnect, code: excInvalidState, now: disconnecting, end: disconnected},

		{name: "Update name - DISCONNECTED - renamed", from: disconnected, call: rename, now: disconnected, end: disconnected, renamed: true},
		{name: "Update password - DISCONNECTED - 200", from: disconnected, call: password, now: disconnected, end: disconnected},
		{name: "Update name - CONNECTED - renamed, still CONNECTED", from: connected, call: rename, now: connected, end: connected, renamed: true},
		{name: "Update password - CONNECTED - CustomKeyStoreInvalidStateException", from: connected, call: password, code: excInvalidState, now: connected, end: connected},
		{name: "Update cluster - CONNECTED - CustomKeyStoreInvalidStateException", from: connected, call: cluster, code: excInvalidState, now: connected, end: connected},
		{name: "Update name and password - CONNECTED - CustomKeyStoreInvalidStateException, not renamed", from: connected, call: renameAndPassword, code: excInvalidState, now: connected, end: connected},
		{name: "Update name - CONNECTING - CustomKeyStoreInvalidStateException", from: connecting, call: rename, code: excInvalidState, now: connecting, end: connected},
		{name: "Update name - FAILED - CustomKeyStoreInvalidStateException", from: failed, call: rename, code: excInvalidState, now: failed, end: failed},
		{name: "Update name - DISCONNECTING - CustomKeyStoreInvalidStateException", from: disconnecting, call: rename, code: excInvalidState, now: disconnecting, end: disconnected},

		{name: "Delete - DISCONNECTED without keys - 200, gone", from: disconnected, call: del, now: gone, end: gone},
		{name: "Delete - CONNECTED - CustomKeyStoreInvalidStateException", from: connected, call: del, code: excInvalidState, now: connected, end: connected},
		{name: "Delete - CONNECTING - CustomKeyStoreInvalidStateException", from: connecting, call: del, code: excInvalidState, now: connecting, end: connected},
		{name: "Delete - FAILED - CustomKeyStoreInvalidStateException", from: failed, call: del, code: excInvalidState, now: failed, end: failed},
		{name: "Delete - DISCONNECTING - CustomKeyStoreInvalidStateException", from: disconnecting, call: del, code: excInvalidState, now: disconnecting, end: disconnected},
	}
	e := newEnv(t, stack.Options{Clusters: len(rows)})
	for i, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { e.setSpeed(t, speed) })
			id := e.storeIn(t, i, tc.from)
			before := e.describe(t, id)
			err := tc.call(t.Context(), e, id, e.cluster(i).ClusterID)
			if tc.code != "" {
				wantCode(t, err, tc.code)
			} else if err != nil {
				t.Fatalf("%v, want 200", err)
			}
			state := func() (types.CustomKeyStoresListEntry, types.ConnectionStateType) {
				out, err := e.kms.DescribeCustomKeyStores(t.Context(), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
				if err != nil {
					wantCode(t, err, excStoreNotFound)
					return types.CustomKeyStoresListEntry{}, gone
				}
				return out.CustomKeyStores[0], out.CustomKeyStores[0].ConnectionState
			}
			if _, now := state(); now != tc.now {
				t.Fatalf("right after: %q, want %q", now, tc.now)
			}
			e.setSpeed(t, speed)
			if tc.end != gone && tc.end != tc.now {
				e.settle(t, id)
			}
			after, end := state()
			if end != tc.end {
				t.Fatalf("settled in %q, want %q", end, tc.end)
			}
			if end == gone {
				return
			}
			defer e.removeStore(t, id)
			wantCodeShown := types.ConnectionErrorCodeType("")
			if end == failed {
				wantCodeShown = types.ConnectionErrorCodeTypeInvalidCredentials
			}
			if after.ConnectionErrorCode != wantCodeShown {
				t.Errorf("ConnectionErrorCode %q in %s, want %q", after.ConnectionErrorCode, end, wantCodeShown)
			}
			wantName := aws.ToString(before.CustomKeyStoreName)
			if tc.renamed {
				wantName = "renamed-" + id
			}
			if got := aws.ToString(after.CustomKeyStoreName); got != wantName {
				t.Errorf("name %q, want %q", got, wantName)
			}
			if aws.ToString(after.CloudHsmClusterId) != aws.ToString(before.CloudHsmClusterId) {
				t.Errorf("cluster changed to %s", aws.ToString(after.CloudHsmClusterId))
			}
		})
	}

	for name, c := range map[string]call{"Connect": connect, "Disconnect": disconnect, "Update": rename, "Delete": del} {
		t.Run(name+" - an unknown store - CustomKeyStoreNotFoundException", func(t *testing.T) {
			as[*types.CustomKeyStoreNotFoundException](t, c(t.Context(), e, "cks-0123456789abcdef0", ""))
		})
	}
}

// TestConnectQuickChecks: a connect that fails its quick checks answers
// with the exception and leaves the store DISCONNECTED; fixing what it
// names and connecting again works.
func TestConnectQuickChecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 2})
	for i, tc := range []struct {
		name       string
		cause, fix func(t *testing.T, clusterID string)
		code       string
	}{
		{
			name: "cluster not ACTIVE - CloudHsmClusterNotActiveException",
			cause: func(t *testing.T, id string) {
				e.admin(t, "/v1/cluster-state", map[string]any{"cluster_id": id, "state": "DEGRADED"})
			},
			fix: func(t *testing.T, id string) {
				e.admin(t, "/v1/cluster-state", map[string]any{"cluster_id": id, "state": "ACTIVE"})
			},
			code: excClusterNotActive,
		},
		{
			name: "security group rules broken - CloudHsmClusterInvalidConfigurationException",
			cause: func(t *testing.T, id string) {
				e.admin(t, "/v1/security-group", map[string]any{"cluster_id": id, "broken": true})
			},
			fix: func(t *testing.T, id string) {
				e.admin(t, "/v1/security-group", map[string]any{"cluster_id": id, "broken": false})
			},
			code: excInvalidConfig,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.cluster(i)
			id := e.createStore(t, fmt.Sprintf("store-%d", i), i)
			tc.cause(t, c.ClusterID)
			_, err := e.kms.ConnectCustomKeyStore(t.Context(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
			wantCode(t, err, tc.code)
			if st := e.describe(t, id); st.ConnectionState != types.ConnectionStateTypeDisconnected || st.ConnectionErrorCode != "" {
				t.Fatalf("after the quick check: %s %q, want DISCONNECTED", st.ConnectionState, st.ConnectionErrorCode)
			}
			tc.fix(t, c.ClusterID)
			e.mustConnect(t, id)
		})
	}
}

// TestConnectHoldsKmsuserUntilDisconnect: on connect KMS takes an address in
// each subnet, logs in as kmsuser and rotates its password; nobody else can
// log in as kmsuser or change its password until disconnect, which logs
// kmsuser out, frees the addresses and makes the keys Unavailable at once.
func TestConnectHoldsKmsuserUntilDisconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 1})
	c := e.cluster(0)
	id := e.createStore(t, "store", 0)
	free := e.freeAddresses(t, c.SubnetIDs)
	if u, found := e.kmsuser(t, c.ClusterID); !found || u.LoggedIn {
		t.Fatalf("kmsuser before connect: %+v (found %v), want it logged out", u, found)
	}

	e.mustConnect(t, id)
	for i, n := range e.freeAddresses(t, c.SubnetIDs) {
		if n != free[i]-1 {
			t.Errorf("subnet %s: %d free addresses while connected, want %d (one ENI)", c.SubnetIDs[i], n, free[i]-1)
		}
	}
	if u, _ := e.kmsuser(t, c.ClusterID); !u.LoggedIn {
		t.Errorf("kmsuser is not logged in while the store is connected")
	}
	if _, err := e.tryLogin(t, c.ClusterID, kmssvc.KmsUser, hsm.RoleCryptoUser, c.KmsuserPassword); err == nil {
		t.Fatalf("kmsuser logged in with the password from before the connect; KMS should have rotated it")
	}
	admin := e.login(t, c.ClusterID, "admin", hsm.RoleAdmin, c.AdminPassword)
	changeKmsuser := map[string]any{"username": kmssvc.KmsUser, "role": "crypto-user", "password": "adminSets1"}
	if _, err := admin.run(t, "user-change-password", changeKmsuser); err == nil {
		t.Fatalf("the crypto officer changed kmsuser's password while KMS is logged in as kmsuser")
	}
	key := e.createKey(t, id)

	if _, err := e.kms.DisconnectCustomKeyStore(t.Context(), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	e.wantKeyState(t, aws.ToString(key.KeyId), types.KeyStateUnavailable)
	if st := e.settle(t, id); st.ConnectionState != types.ConnectionStateTypeDisconnected {
		t.Fatalf("after disconnect: %s", st.ConnectionState)
	}
	if got := e.freeAddresses(t, c.SubnetIDs); !slices.Equal(got, free) {
		t.Errorf("free addresses after disconnect %v, want %v", got, free)
	}
	if u, _ := e.kmsuser(t, c.ClusterID); u.LoggedIn {
		t.Errorf("kmsuser still logged in after disconnect")
	}
	if _, err := e.tryLogin(t, c.ClusterID, kmssvc.KmsUser, hsm.RoleCryptoUser, c.KmsuserPassword); err == nil {
		t.Fatalf("the rotated password went back to the old one on disconnect")
	}
	// Now the crypto officer may set a known password (procedure 4, in).
	admin.mustRun(t, "user-change-password", changeKmsuser)
	admin.logout(t)
	e.login(t, c.ClusterID, kmssvc.KmsUser, hsm.RoleCryptoUser, "adminSets1").logout(t)
	// Out: tell KMS and reconnect; KMS rotates the password again.
	e.mustUpdate(t, id, "", "adminSets1", "")
	e.mustConnect(t, id)
	e.wantKeyState(t, aws.ToString(key.KeyId), types.KeyStateEnabled)
	if _, err := e.tryLogin(t, c.ClusterID, kmssvc.KmsUser, hsm.RoleCryptoUser, "adminSets1"); err == nil {
		t.Fatalf("reconnecting did not rotate kmsuser's password")
	}
}

// TestUpdateCustomKeyStoreWhileDisconnected: the fields of a DISCONNECTED
// store, their exceptions, and all-or-nothing: a failing update changes
// nothing.
func TestUpdateCustomKeyStoreWhileDisconnected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 3})
	c0 := e.cluster(0)
	id := e.createStore(t, "store-0", 0)
	e.createStore(t, "store-1", 1)
	uninit := e.uninitializedCluster(t, e.cluster(2).SubnetIDs)
	// A related cluster with one HSM: related, but short of HSMs.
	short := e.clusterFromBackup(t, e.latestBackup(t, c0.ClusterID), c0.SubnetIDs, e.azs()[:1])

	type want struct{ name, cluster string }
	current := func(t *testing.T) want {
		st := e.describe(t, id)
		return want{aws.ToString(st.CustomKeyStoreName), aws.ToString(st.CloudHsmClusterId)}
	}
	for _, tc := range []struct {
		name                    string
		newName, password, clus func(t *testing.T) string
		code                    string
		after                   func(t *testing.T, was want) want
	}{
		{
			name:    "a new name - renamed",
			newName: func(*testing.T) string { return "store-0-renamed" },
			after:   func(_ *testing.T, was want) want { return want{"store-0-renamed", was.cluster} },
		},
		{
			name:    "the name of another store - CustomKeyStoreNameInUseException",
			newName: func(*testing.T) string { return "store-1" },
			code:    excNameInUse,
		},
		{
			name: "a cluster that does not exist - CloudHsmClusterNotFoundException",
			clus: func(*testing.T) string { return missingCluster },
			code: excClusterNotFound,
		},
		{
			name: "an unrelated cluster - CloudHsmClusterNotRelatedException",
			clus: func(*testing.T) string { return e.cluster(1).ClusterID },
			code: excNotRelated,
		},
		{
			name: "an UNINITIALIZED cluster - CloudHsmClusterNotActiveException",
			clus: func(*testing.T) string { return uninit },
			code: excClusterNotActive,
		},
		{
			name: "a related cluster with one HSM - CloudHsmClusterInvalidConfigurationException",
			clus: func(*testing.T) string { return short },
			code: excInvalidConfig,
		},
		{
			name:    "a new name and an unrelated cluster - CloudHsmClusterNotRelatedException, not renamed",
			newName: func(*testing.T) string { return "store-0-again" },
			clus:    func(*testing.T) string { return e.cluster(1).ClusterID },
			code:    excNotRelated,
		},
		{
			name:     "a name in use and a new password - CustomKeyStoreNameInUseException, password kept",
			newName:  func(*testing.T) string { return "store-1" },
			password: func(*testing.T) string { return "otherPass1" },
			code:     excNameInUse,
		},
		{
			name:     "a new password and an UNINITIALIZED cluster - CloudHsmClusterNotActiveException, password kept",
			password: func(*testing.T) string { return "otherPass1" },
			clus:     func(*testing.T) string { return uninit },
			code:     excClusterNotActive,
		},
		{
			name: "a related cluster with two HSMs - moved",
			clus: func(t *testing.T) string {
				backup, _ := e.backup(t, c0.ClusterID)
				return e.clusterFromBackup(t, backup, c0.SubnetIDs, e.azs())
			},
			after: func(t *testing.T, was want) want {
				return want{was.name, aws.ToString(e.describe(t, id).CloudHsmClusterId)}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			was := current(t)
			get := func(f func(*testing.T) string) string {
				if f == nil {
					return ""
				}
				return f(t)
			}
			newName, password, clus := get(tc.newName), get(tc.password), get(tc.clus)
			err := e.update(t.Context(), id, newName, password, clus)
			want := was
			if tc.code != "" {
				wantCode(t, err, tc.code)
			} else {
				if err != nil {
					t.Fatalf("update: %v", err)
				}
				want = tc.after(t, was)
			}
			if clus != "" && tc.code == "" && want.cluster != clus {
				t.Fatalf("cluster %s after moving to %s", want.cluster, clus)
			}
			if got := current(t); got != want {
				t.Fatalf("store is %+v, want %+v", got, want)
			}
		})
	}

	// No failed update told KMS another password: the store connects, to
	// the related cluster it moved to.
	t.Run("the password kept through failed updates - connects", func(t *testing.T) {
		e.mustConnect(t, id)
		e.disconnect(t, id)
	})

	t.Run("a password - KMS takes it, the cluster's kmsuser keeps its own", func(t *testing.T) {
		clusterID := current(t).cluster
		e.mustUpdate(t, id, "", "otherPass1", "")
		// The cluster did not change: kmsuser has no password otherPass1.
		if _, err := e.tryLogin(t, clusterID, kmssvc.KmsUser, hsm.RoleCryptoUser, "otherPass1"); err == nil {
			t.Fatalf("UpdateCustomKeyStore changed kmsuser's password in the cluster")
		}
		// KMS uses it: the connection fails INVALID_CREDENTIALS.
		e.wantFailed(t, id, types.ConnectionErrorCodeTypeInvalidCredentials)
		e.disconnect(t, id)
	})
}

func TestDeleteCustomKeyStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 2})
	c := e.cluster(0)

	t.Run("keys, even PendingDeletion - CustomKeyStoreHasCMKsException", func(t *testing.T) {
		id := e.createStore(t, "store-1", 1)
		e.mustConnect(t, id)
		key := e.createKey(t, id)
		if _, err := e.kms.ScheduleKeyDeletion(t.Context(), &kms.ScheduleKeyDeletionInput{KeyId: key.KeyId, PendingWindowInDays: aws.Int32(30)}); err != nil {
			t.Fatal(err)
		}
		e.disconnect(t, id)
		_, err := e.kms.DeleteCustomKeyStore(t.Context(), &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		as[*types.CustomKeyStoreHasCMKsException](t, err)
		e.describe(t, id) // still there
	})

	t.Run("DISCONNECTED without keys - 200; the cluster, its users and keys untouched", func(t *testing.T) {
		id := e.createStore(t, "store-0", 0)
		e.mustConnect(t, id)
		// A key whose store is disconnected when its waiting period ends
		// leaves its backing key in the cluster (orphaned material).
		key := e.createKey(t, id)
		if _, err := e.kms.ScheduleKeyDeletion(t.Context(), &kms.ScheduleKeyDeletionInput{KeyId: key.KeyId, PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatal(err)
		}
		e.disconnect(t, id)
		e.advance(t, 7*24*time.Hour+time.Hour)
		eventually(t, "the key's deletion", func() (bool, string) {
			_, err := e.kms.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: key.KeyId})
			return err != nil, fmt.Sprint(err)
		})
		keysBefore := clusterKeys(t, e, c.ClusterID)
		if len(keysBefore) != 1 {
			t.Fatalf("cluster keys %v, want the orphaned backing key", keysBefore)
		}

		if _, err := e.kms.DeleteCustomKeyStore(t.Context(), &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err := e.kms.DescribeCustomKeyStores(t.Context(), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
		wantCode(t, err, excStoreNotFound)
		if out, err := e.hsm.DescribeClusters(t.Context(), &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {c.ClusterID}}}); err != nil ||
			out.Clusters[0].State != "ACTIVE" || len(out.Clusters[0].Hsms) != 2 {
			t.Fatalf("cluster after the store's deletion: %+v, %v", out, err)
		}
		if u, found := e.kmsuser(t, c.ClusterID); !found || u.LockedOut {
			t.Fatalf("kmsuser after the store's deletion: %+v, found %v", u, found)
		}
		if got := clusterKeys(t, e, c.ClusterID); !slices.Equal(got, keysBefore) {
			t.Fatalf("cluster keys after the store's deletion %v, want %v", got, keysBefore)
		}
		// The cluster may back a new store.
		e.createStore(t, "store-0-again", 0)
	})
}

// clusterKeys lists kmsuser's keys in a cluster whose store is disconnected,
// as procedure 4 does: the crypto officer sets a known password, kmsuser
// logs in, lists, logs out. It leaves kmsuser's password "auditPass1".
func clusterKeys(t *testing.T, e *env, clusterID string) []string {
	t.Helper()
	c := clusterInfo(e, clusterID)
	e.setKmsuserPassword(t, clusterID, c.AdminPassword, "auditPass1")
	ku := e.login(t, clusterID, kmssvc.KmsUser, hsm.RoleCryptoUser, "auditPass1")
	defer ku.logout(t)
	return ku.keyIDs(t)
}

// clusterInfo finds the seeded cluster a cluster descends from, for its
// admin password (clusters from backups keep their users).
func clusterInfo(e *env, clusterID string) stack.ClusterInfo {
	for _, c := range e.info.Clusters {
		if c.ClusterID == clusterID {
			return c
		}
	}
	return stack.ClusterInfo{ClusterID: clusterID, AdminPassword: e.info.Clusters[0].AdminPassword}
}

// TestConnectionErrorCodes causes each ConnectionErrorCode for real, checks
// that the store ends FAILED with it (and refuses to connect until
// disconnected), then runs the spec's fix: disconnect, fix, Update if
// needed, connect; the store is CONNECTED again and decrypts what it
// encrypted before.
func TestConnectionErrorCodes(t *testing.T) {
	t.Parallel()
	type row struct {
		code types.ConnectionErrorCodeType
		// noKey: the row deletes kmsuser, which the HSMs refuse while it
		// owns keys.
		noKey bool
		cause func(t *testing.T, e *env, c stack.ClusterInfo, id string)
		fix   func(t *testing.T, e *env, c stack.ClusterInfo, id string)
	}
	var kmsuserSession *hsmSession // USER_LOGGED_IN's
	rows := []row{
		{
			code: types.ConnectionErrorCodeTypeClusterNotFound,
			cause: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				e.deleteAllHsms(t, c.ClusterID)
				if _, err := e.hsm.DeleteCluster(t.Context(), &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String(c.ClusterID)}); err != nil {
					t.Fatal(err)
				}
			},
			// Procedure 6: a cluster from the newest backup (taken when the
			// last HSM went), with HSMs; Update CloudHsmClusterId to it.
			fix: func(t *testing.T, e *env, c stack.ClusterInfo, id string) {
				restored := e.clusterFromBackup(t, e.latestBackup(t, c.ClusterID), c.SubnetIDs, e.azs())
				e.mustUpdate(t, id, "", "", restored)
			},
		},
		{
			code: types.ConnectionErrorCodeTypeSubnetNotFound,
			cause: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				e.admin(t, "/v1/subnets/delete", map[string]any{"subnet_id": c.SubnetIDs[1]})
			},
			// Procedure 6 with a recent backup, in subnets that exist.
			fix: func(t *testing.T, e *env, c stack.ClusterInfo, id string) {
				backup, _ := e.backup(t, c.ClusterID)
				var subnets []string
				for _, az := range e.azs() {
					subnets = append(subnets, e.st.Plane().AddSubnet(az, 11).ID)
				}
				e.mustUpdate(t, id, "", "", e.clusterFromBackup(t, backup, subnets, e.azs()))
			},
		},
		{
			code: types.ConnectionErrorCodeTypeInsufficientFreeAddressesInSubnet,
			cause: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				e.admin(t, "/v1/subnets/free", map[string]any{"subnet_id": c.SubnetIDs[0], "free": 0})
			},
			fix: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				e.admin(t, "/v1/subnets/free", map[string]any{"subnet_id": c.SubnetIDs[0], "free": 1})
			},
		},
		{
			code: types.ConnectionErrorCodeTypeInsufficientCloudhsmHsms,
			cause: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				e.deleteAllHsms(t, c.ClusterID)
			},
			fix: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				e.createHsm(t, c.ClusterID, e.azs()[0])
			},
		},
		{
			code: types.ConnectionErrorCodeTypeNetworkErrors,
			cause: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				e.admin(t, "/v1/network", map[string]any{"cluster_id": c.ClusterID, "blocked": true})
			},
			fix: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				e.admin(t, "/v1/network", map[string]any{"cluster_id": c.ClusterID, "blocked": false})
			},
		},
		{
			code:  types.ConnectionErrorCodeTypeUserNotFound,
			noKey: true,
			cause: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				admin := e.login(t, c.ClusterID, "admin", hsm.RoleAdmin, c.AdminPassword)
				defer admin.logout(t)
				admin.mustRun(t, "user-delete", map[string]any{"username": kmssvc.KmsUser})
			},
			// Create kmsuser, Update KeyStorePassword.
			fix: func(t *testing.T, e *env, c stack.ClusterInfo, id string) {
				admin := e.login(t, c.ClusterID, "admin", hsm.RoleAdmin, c.AdminPassword)
				defer admin.logout(t)
				admin.mustRun(t, "user-create", map[string]any{"username": kmssvc.KmsUser, "role": "crypto-user", "password": "newUser12"})
				e.mustUpdate(t, id, "", "newUser12", "")
			},
		},
		{
			code: types.ConnectionErrorCodeTypeUserLockedOut,
			cause: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				e.failLogins(t, c.ClusterID, hsm.MaxFailedLogins)
				if u, _ := e.kmsuser(t, c.ClusterID); !u.LockedOut {
					t.Fatalf("kmsuser not locked out after %d bad logins", hsm.MaxFailedLogins)
				}
			},
			// Procedure 3: the crypto officer sets a known password (which
			// unlocks), Update KeyStorePassword.
			fix: func(t *testing.T, e *env, c stack.ClusterInfo, id string) {
				e.setKmsuserPassword(t, c.ClusterID, c.AdminPassword, "unlocked1")
				e.mustUpdate(t, id, "", "unlocked1", "")
			},
		},
		{
			code: types.ConnectionErrorCodeTypeUserLoggedIn,
			// Procedure 4, in: set a known password, log in as kmsuser.
			cause: func(t *testing.T, e *env, c stack.ClusterInfo, _ string) {
				e.setKmsuserPassword(t, c.ClusterID, c.AdminPassword, "auditPass1")
				kmsuserSession = e.login(t, c.ClusterID, kmssvc.KmsUser, hsm.RoleCryptoUser, "auditPass1")
			},
			// Out: log out, Update KeyStorePassword (it changed).
			fix: func(t *testing.T, e *env, c stack.ClusterInfo, id string) {
				kmsuserSession.logout(t)
				e.mustUpdate(t, id, "", "auditPass1", "")
			},
		},
		{
			code: types.ConnectionErrorCodeTypeInvalidCredentials,
			cause: func(t *testing.T, e *env, _ stack.ClusterInfo, id string) {
				e.mustUpdate(t, id, "", "wrongPass1", "")
			},
			// Procedure 3.
			fix: func(t *testing.T, e *env, c stack.ClusterInfo, id string) {
				e.setKmsuserPassword(t, c.ClusterID, c.AdminPassword, "known1234")
				e.mustUpdate(t, id, "", "known1234", "")
			},
		},
		{
			code: types.ConnectionErrorCodeTypeInternalError,
			cause: func(t *testing.T, e *env, _ stack.ClusterInfo, _ string) {
				e.admin(t, "/v1/internal-error", map[string]any{"operation": "connect", "count": 1})
			},
			fix: func(*testing.T, *env, stack.ClusterInfo, string) {}, // retry
		},
	}
	e := newEnv(t, stack.Options{Clusters: len(rows)})
	// One at a time: an injected connect fault takes the next attempt of
	// any store.
	for i, tc := range rows {
		t.Run(string(tc.code), func(t *testing.T) {
			c := e.cluster(i)
			id := e.createStore(t, fmt.Sprintf("store-%d", i), i)
			e.mustConnect(t, id)
			var blob []byte
			if !tc.noKey {
				blob = e.encrypt(t, aws.ToString(e.createKey(t, id).KeyId), []byte("before the failure"), nil)
			}
			e.disconnect(t, id)

			tc.cause(t, e, c, id)
			e.wantFailed(t, id, tc.code)
			_, err := e.kms.ConnectCustomKeyStore(t.Context(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
			as[*types.CustomKeyStoreInvalidStateException](t, err)
			e.disconnect(t, id)

			tc.fix(t, e, c, id)
			e.mustConnect(t, id)
			if blob != nil {
				e.wantDecrypt(t, blob, []byte("before the failure"), nil)
			}
		})
	}
}

// TestInvalidCredentialsCountTowardLockout: KMS's login with a wrong
// password is a failed login like any other.
func TestInvalidCredentialsCountTowardLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 1})
	c := e.cluster(0)
	id := e.createStore(t, "store", 0)
	e.mustUpdate(t, id, "", "wrongPass1", "")
	e.failLogins(t, c.ClusterID, hsm.MaxFailedLogins-1)
	e.wantFailed(t, id, types.ConnectionErrorCodeTypeInvalidCredentials)
	e.disconnect(t, id)
	e.wantFailed(t, id, types.ConnectionErrorCodeTypeUserLockedOut)
	e.disconnect(t, id)
	e.setKmsuserPassword(t, c.ClusterID, c.AdminPassword, "unlocked1")
	e.mustUpdate(t, id, "", "unlocked1", "")
	e.mustConnect(t, id)
}
