package faults

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	hsmtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keystorm/keystorm/harness/target"
)

// The CloudHSM CLI's names for the users and roles the catalog acts as.
const (
	kmsuser        = "kmsuser"
	adminUser      = "admin"
	roleAdmin      = "admin"
	roleCryptoUser = "crypto-user"
)

// maxFailedLogins is how many consecutive failed logins lock a CloudHSM
// user out.
const maxFailedLogins = 5

// Polls for an asynchronous change back off from pollMin to pollMax: fast
// enough for the embedded stack's sped-up clock, few enough calls for a
// real service's 20-minute connect.
const (
	pollMin = 5 * time.Millisecond
	pollMax = 2 * time.Second
)

// wrap prefixes an action's error with its catalog name, so that a run's
// log says which step of the timeline failed as well as which AWS call.
func wrap(errp *error, a Action) {
	if *errp != nil {
		*errp = fmt.Errorf("%s: %w", a.Name(), *errp)
	}
}

// need fails with the first capability an action needs that the target
// lacks, before the action calls anything: the runner checks first (Check),
// but an action run without that check must not fail for a reason that
// hides the real one (a nil client, a refused connection).
func need(env *Env, a Action) error {
	return target.Require(env.Stack, a.Needs()...)
}

// required appends a "param: required" error when v is empty.
func required(errs []error, param, v string) []error {
	if v == "" {
		errs = append(errs, fmt.Errorf("%s: required", param))
	}
	return errs
}

// cloudHSM returns the target's CloudHSM v2 client, or the missing
// capability.
func cloudHSM(env *Env) (*cloudhsmv2.Client, error) {
	if !env.Stack.Has(target.ControlPlane) || env.Stack.CloudHSM() == nil {
		return nil, &target.MissingError{Capability: target.ControlPlane}
	}
	return env.Stack.CloudHSM(), nil
}

// adminAPI returns the admin API client that capability c (Admin,
// HSMClient or Clock) goes through, or the missing capability.
func adminAPI(env *Env, c target.Capability) (*target.AdminClient, error) {
	if !env.Stack.Has(c) || env.Stack.Admin() == nil {
		return nil, &target.MissingError{Capability: c}
	}
	return env.Stack.Admin(), nil
}

// checkPassword checks a kmsuser password against the spec's rule: 7 to 32
// letters and digits. The KMS model checks only the length, but a password
// the HSMs would refuse makes a fault test the wrong thing.
func checkPassword(param, pw string) error {
	if n := len(pw); n < 7 || n > 32 {
		return fmt.Errorf("%s: %d characters, want 7 to 32 letters and digits", param, n)
	}
	for _, r := range pw {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return fmt.Errorf("%s: %q is not a letter or digit; want 7 to 32 letters and digits", param, r)
		}
	}
	return nil
}

// randomPassword is a fresh valid kmsuser password nobody else knows.
func randomPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// clusterByID finds the scenario's name of a cluster id.
func clusterByID(env *Env, id string) (string, Cluster, error) {
	for _, name := range env.ClusterNames() {
		if c, err := env.Cluster(name); err == nil && c.ID == id {
			return name, c, nil
		}
	}
	return "", Cluster{}, fmt.Errorf("cluster %s has no name in the scenario", id)
}

// storeLabel names a store id for messages: `"name" (cks-...)` when the
// scenario named it.
func storeLabel(env *Env, id string) string {
	for _, name := range env.StoreNames() {
		if got, err := env.Store(name); err == nil && got == id {
			return fmt.Sprintf("%q (%s)", name, id)
		}
	}
	return id
}

// describeStore returns a store as DescribeCustomKeyStores shows it.
func describeStore(ctx context.Context, env *Env, id string) (types.CustomKeyStoresListEntry, error) {
	out, err := env.Stack.KMS().DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	if err != nil {
		return types.CustomKeyStoresListEntry{}, fmt.Errorf("describe store %s: %w", id, err)
	}
	if len(out.CustomKeyStores) != 1 {
		return types.CustomKeyStoresListEntry{}, fmt.Errorf("describe store %s: %d stores answered", id, len(out.CustomKeyStores))
	}
	return out.CustomKeyStores[0], nil
}

// poll calls check until it is done, ctx ends or it fails, backing off
// between calls; saw is what it last saw, for the error.
func poll(ctx context.Context, what string, check func() (done bool, saw string, err error)) error {
	wait := pollMin
	for {
		done, saw, err := check()
		if err != nil || done {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %s (last saw %s): %w", what, saw, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, pollMax)
	}
}

// waitStore polls a store until done holds for it. A KMSInternalException
// is retried: any KMS call may get one (spec section 2), and an injected
// internal-error fault must not end a wait.
func waitStore(ctx context.Context, env *Env, id, what string, done func(types.CustomKeyStoresListEntry) (bool, error)) (types.CustomKeyStoresListEntry, error) {
	var last types.CustomKeyStoresListEntry
	err := poll(ctx, "store "+id+" "+what, func() (bool, string, error) {
		st, err := describeStore(ctx, env, id)
		var internal *types.KMSInternalException
		if errors.As(err, &internal) {
			return false, err.Error(), nil
		}
		if err != nil {
			return false, "", err
		}
		last = st
		ok, err := done(st)
		return ok, stateText(st), err
	})
	return last, err
}

// stateText is a store's state and code, for messages.
func stateText(st types.CustomKeyStoresListEntry) string {
	if st.ConnectionErrorCode != "" {
		return string(st.ConnectionState) + " " + string(st.ConnectionErrorCode)
	}
	return string(st.ConnectionState)
}

// settleStore waits until a store is neither CONNECTING nor DISCONNECTING.
func settleStore(ctx context.Context, env *Env, id string) (types.CustomKeyStoresListEntry, error) {
	return waitStore(ctx, env, id, "to leave CONNECTING and DISCONNECTING", func(st types.CustomKeyStoresListEntry) (bool, error) {
		s := st.ConnectionState
		return s != types.ConnectionStateTypeConnecting && s != types.ConnectionStateTypeDisconnecting, nil
	})
}

// connectStore asks KMS to connect a store and, if wait, waits until the
// attempt ends: CONNECTED or FAILED, either of which is an answer for the
// scenario's checks to judge. A store disconnected meanwhile is an error.
func connectStore(ctx context.Context, env *Env, id string, wait bool) (types.CustomKeyStoresListEntry, error) {
	if _, err := env.Stack.KMS().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		return types.CustomKeyStoresListEntry{}, fmt.Errorf("connect store %s: %w", storeLabel(env, id), err)
	}
	if !wait {
		return types.CustomKeyStoresListEntry{}, nil
	}
	return waitStore(ctx, env, id, "to end its connection attempt (CONNECTED or FAILED)", func(st types.CustomKeyStoresListEntry) (bool, error) {
		switch st.ConnectionState {
		case types.ConnectionStateTypeConnected, types.ConnectionStateTypeFailed:
			return true, nil
		case types.ConnectionStateTypeDisconnected, types.ConnectionStateTypeDisconnecting:
			return false, fmt.Errorf("store %s went %s while connecting: someone disconnected it", storeLabel(env, id), st.ConnectionState)
		}
		return false, nil
	})
}

// WaitConnected waits until the named store's connection attempt ends, and
// fails unless it ended CONNECTED: a run's setup needs its stores usable
// before the load starts. It polls as the steps do (KMSInternalException
// retried).
func WaitConnected(ctx context.Context, env *Env, store string) error {
	id, err := env.Store(store)
	if err != nil {
		return err
	}
	_, err = waitStore(ctx, env, id, "to be CONNECTED", func(st types.CustomKeyStoresListEntry) (bool, error) {
		switch st.ConnectionState {
		case types.ConnectionStateTypeConnected:
			return true, nil
		case types.ConnectionStateTypeFailed:
			return false, fmt.Errorf("store %s: connection FAILED with %s", storeLabel(env, id), st.ConnectionErrorCode)
		case types.ConnectionStateTypeDisconnected:
			return false, fmt.Errorf("store %s: still DISCONNECTED after connect", storeLabel(env, id))
		}
		return false, nil
	})
	return err
}

// disconnectStore asks KMS to disconnect a store and, if wait, waits until
// it is DISCONNECTED.
func disconnectStore(ctx context.Context, env *Env, id string, wait bool) error {
	if _, err := env.Stack.KMS().DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		return fmt.Errorf("disconnect store %s: %w", storeLabel(env, id), err)
	}
	if !wait {
		return nil
	}
	_, err := waitStore(ctx, env, id, "to be DISCONNECTED", func(st types.CustomKeyStoresListEntry) (bool, error) {
		return st.ConnectionState == types.ConnectionStateTypeDisconnected, nil
	})
	return err
}

// requireDisconnected fails unless every store over a cluster is
// DISCONNECTED. While a store is connected (or connecting, or failed on
// the way) KMS may hold kmsuser's login, and the real service wants the
// store disconnected before anyone logs in as kmsuser or changes its
// password (procedures 3 and 4): an action that went ahead would count a
// failed login toward the lockout or fail for another reason than the one
// it names.
func requireDisconnected(ctx context.Context, env *Env, clusterID, why string) error {
	p := kms.NewDescribeCustomKeyStoresPaginator(env.Stack.KMS(), &kms.DescribeCustomKeyStoresInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list stores: %w", err)
		}
		for _, st := range page.CustomKeyStores {
			if aws.ToString(st.CloudHsmClusterId) == clusterID && st.ConnectionState != types.ConnectionStateTypeDisconnected {
				return fmt.Errorf("store %s over cluster %s is %s: disconnect it first (disconnect-store) to %s, as the real service demands",
					storeLabel(env, aws.ToString(st.CustomKeyStoreId)), clusterID, st.ConnectionState, why)
			}
		}
	}
	return nil
}

// describeCluster returns a cluster as DescribeClusters shows it.
func describeCluster(ctx context.Context, env *Env, id string) (hsmtypes.Cluster, error) {
	client, err := cloudHSM(env)
	if err != nil {
		return hsmtypes.Cluster{}, err
	}
	out, err := client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {id}}})
	if err != nil {
		return hsmtypes.Cluster{}, fmt.Errorf("describe cluster %s: %w", id, err)
	}
	if len(out.Clusters) == 0 {
		return hsmtypes.Cluster{}, fmt.Errorf("describe cluster %s: not found", id)
	}
	return out.Clusters[0], nil
}

// sortedAZs lists the AZs of a subnet mapping, sorted.
func sortedAZs(mapping map[string]string) []string {
	azs := make([]string, 0, len(mapping))
	for az := range mapping {
		azs = append(azs, az)
	}
	sortStrings(azs)
	return azs
}

// checkSubnetParam checks a `subnet:` parameter: "all" or an index.
func checkSubnetParam(param, v string) error {
	if v == "all" {
		return nil
	}
	if n, err := strconv.Atoi(v); err != nil || n < 0 {
		return fmt.Errorf("%s: %q, want \"all\" or the index of one of the cluster's subnets (0, 1, ...)", param, v)
	}
	return nil
}

// subnetsOf resolves a `subnet:` parameter to subnet ids of a cluster, in
// the order the scenario knows them (by AZ).
func subnetsOf(c Cluster, sel string) ([]string, error) {
	if len(c.SubnetIDs) == 0 {
		return nil, fmt.Errorf("cluster %s: the scenario knows none of its subnets", c.ID)
	}
	if sel == "all" {
		return append([]string(nil), c.SubnetIDs...), nil
	}
	i, err := strconv.Atoi(sel)
	if err != nil || i < 0 || i >= len(c.SubnetIDs) {
		return nil, fmt.Errorf("subnet %s of cluster %s: it has %d subnets (0 to %d)", sel, c.ID, len(c.SubnetIDs), len(c.SubnetIDs)-1)
	}
	return []string{c.SubnetIDs[i]}, nil
}

// checkHSMParam checks an optional `hsm:` index.
func checkHSMParam(param string, i *int) error {
	if i != nil && *i < 0 {
		return fmt.Errorf("%s: %d, want the index of one of the cluster's HSMs (0, 1, ...)", param, *i)
	}
	return nil
}

// hsmNeeds is what an action on a cluster or one of its HSMs needs: the
// admin API, and the CloudHSM API to find the HSM's id by its index.
func hsmNeeds(c target.Capability, hsm *int) []target.Capability {
	if hsm != nil {
		return []target.Capability{c, target.ControlPlane}
	}
	return []target.Capability{c}
}

// adminTarget is the admin API's {cluster_id, hsm_id}.
type adminTarget struct {
	ClusterID string `json:"cluster_id"`
	HsmID     string `json:"hsm_id,omitempty"`
}

// targetOf resolves a cluster name and an optional HSM index (of the HSMs
// DescribeClusters lists) to the admin API's target.
func targetOf(ctx context.Context, env *Env, cluster string, hsm *int) (adminTarget, error) {
	c, err := env.Cluster(cluster)
	if err != nil {
		return adminTarget{}, err
	}
	t := adminTarget{ClusterID: c.ID}
	if hsm == nil {
		return t, nil
	}
	dc, err := describeCluster(ctx, env, c.ID)
	if err != nil {
		return adminTarget{}, err
	}
	if *hsm >= len(dc.Hsms) {
		return adminTarget{}, fmt.Errorf("HSM %d of cluster %s: it has %d HSMs", *hsm, c.ID, len(dc.Hsms))
	}
	t.HsmID = aws.ToString(dc.Hsms[*hsm].HsmId)
	return t, nil
}

// String names an admin target for messages.
func (t adminTarget) String() string {
	if t.HsmID != "" {
		return "HSM " + t.HsmID + " of cluster " + t.ClusterID
	}
	return "cluster " + t.ClusterID
}

// clusterLogin is a login to a cluster held on the stack by the admin API's
// HSM client, as the CloudHSM CLI holds one between login and logout.
type clusterLogin struct {
	env       *Env
	admin     *target.AdminClient
	clusterID string
	user      string
	session   string
	ended     bool
}

// loginCluster is the CloudHSM CLI's `login --username user --role role`.
// A wrong password counts toward the user's lockout.
func loginCluster(ctx context.Context, env *Env, clusterID, user, role, password string) (*clusterLogin, error) {
	admin, err := adminAPI(env, target.HSMClient)
	if err != nil {
		return nil, err
	}
	var out struct {
		Session string `json:"session"`
	}
	in := map[string]string{"cluster_id": clusterID, "username": user, "role": role, "password": password}
	if err := admin.Post(ctx, "/v1/cluster-sessions", in, &out); err != nil {
		return nil, fmt.Errorf("log in to cluster %s as %s: %w", clusterID, user, err)
	}
	return &clusterLogin{env: env, admin: admin, clusterID: clusterID, user: user, session: out.Session}, nil
}

// run runs a CloudHSM CLI action (user-change-password, key-delete, ...) in
// the login, decoding the answer into out if it is not nil.
func (l *clusterLogin) run(ctx context.Context, action string, fields map[string]string, out any) error {
	in := map[string]string{"session": l.session, "action": action}
	for k, v := range fields {
		in[k] = v
	}
	if err := l.admin.Post(ctx, "/v1/cluster-sessions/run", in, out); err != nil {
		return fmt.Errorf("%s as %s on cluster %s: %w", action, l.user, l.clusterID, err)
	}
	return nil
}

// logout ends the login once. It runs even when ctx has ended (a login
// left open on the stack would keep kmsuser logged in and every later
// connect failing USER_LOGGED_IN), bounded by its own short timeout.
func (l *clusterLogin) logout(ctx context.Context) error {
	if l.ended {
		return nil
	}
	l.ended = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.admin.Post(ctx, "/v1/cluster-sessions/logout", map[string]string{"session": l.session}, nil); err != nil {
		return fmt.Errorf("log %s out of cluster %s: %w", l.user, l.clusterID, err)
	}
	return nil
}

// asAdmin runs fn logged in to a cluster as its crypto officer (admin),
// then logs out.
func asAdmin(ctx context.Context, env *Env, c Cluster, fn func(*clusterLogin) error) (err error) {
	l, err := loginCluster(ctx, env, c.ID, adminUser, roleAdmin, c.AdminPassword)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.logout(ctx)) }()
	return fn(l)
}

// setKmsuserPassword is the crypto officer's `user change-password` of
// kmsuser on a disconnected cluster (it unlocks a locked-out kmsuser);
// Env records the new password under the cluster's name.
func setKmsuserPassword(ctx context.Context, env *Env, name, password, why string) error {
	c, err := env.Cluster(name)
	if err != nil {
		return err
	}
	if err := requireDisconnected(ctx, env, c.ID, why); err != nil {
		return err
	}
	err = asAdmin(ctx, env, c, func(l *clusterLogin) error {
		return l.run(ctx, "user-change-password", map[string]string{"username": kmsuser, "role": roleCryptoUser, "password": password}, nil)
	})
	if err != nil {
		return err
	}
	return env.UpdateCluster(name, func(c *Cluster) { c.KmsuserPassword = password })
}
