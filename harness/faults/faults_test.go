package faults_test

// Every fault of the catalog against the embedded stack, through the AWS
// SDK: the documented effect (a ConnectionErrorCode after a connect, a
// quick-check exception, or the data plane's exception), then the
// documented fix with the catalog's recovery steps, after which the store
// is CONNECTED and its keys work (and decrypt what they encrypted before).

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keystorm/keystorm/harness/faults"
)

func TestDeleteHSM(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)
	blob := f.mustEncrypt("k", "before")

	do(f, func(a *faults.DeleteHSM) { a.Cluster = "c0" })
	wantEncryptFails[*types.KMSInvalidStateException](f, "k", "")
	f.wantState("s", types.ConnectionStateTypeConnected, "")
	do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
	f.connectFails("s", types.ConnectionErrorCodeTypeInsufficientCloudhsmHsms)

	// Procedure 7: CreateHsm (cloned from the backup the last HSM left).
	do(f, func(a *faults.CreateHSM) { a.Cluster, a.Count = "c0", 2 })
	f.connects("s")
	f.wantDecrypt(blob, "before")
	f.mustEncrypt("k", "after")
}

func TestDeleteCluster(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)
	blob := f.mustEncrypt("k", "before")

	do(f, func(a *faults.DeleteCluster) { a.Cluster = "c0" })
	wantEncryptFails[*types.KMSInvalidStateException](f, "k", "")
	do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
	f.connectFails("s", types.ConnectionErrorCodeTypeClusterNotFound)

	// Procedure 6: the newest backup (left by the last HSM's deletion);
	// its kmsuser has the password KMS had rotated, so the crypto officer
	// sets one before KMS is told it with the new cluster.
	do(f, func(a *faults.CreateClusterFromBackup) { a.Cluster, a.Backup, a.As = "c0", "latest", "restored" })
	if c := f.cluster("restored"); c.KmsuserPassword != "" || c.TrustAnchorPEM != f.cluster("c0").TrustAnchorPEM || len(c.SubnetIDs) != 2 {
		t.Fatalf("restored cluster bound as %+v, want no known kmsuser password, c0's trust anchor, 2 subnets", c)
	}
	err := try(f, func(a *faults.UpdateStore) { a.Store, a.Cluster, a.Password = "s", "restored", "known" })
	wantErr(t, err, "update-store", "not known", "set-kmsuser-password")
	do(f, func(a *faults.SetKmsuserPassword) { a.Cluster = "restored" })
	do(f, func(a *faults.UpdateStore) { a.Store, a.Cluster, a.Password = "s", "restored", "known" })
	f.connects("s")
	if got := aws.ToString(f.describe("s").CloudHsmClusterId); got != f.cluster("restored").ID {
		t.Fatalf("store over %s, want the restored cluster", got)
	}
	f.wantDecrypt(blob, "before")
}

func TestDeleteSubnet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)
	blob := f.mustEncrypt("k", "before")
	do(f, func(a *faults.DisconnectStore) { a.Store = "s" })

	do(f, func(a *faults.DeleteSubnet) { a.Cluster, a.Subnet = "c0", "1" })
	f.connectFails("s", types.ConnectionErrorCodeTypeSubnetNotFound)

	// Procedure 6 with a recent backup, in subnets that exist: the
	// source's cannot all take a cluster any more.
	do(f, func(a *faults.TakeBackup) { a.Cluster, a.As = "c0", "recent" })
	err := try(f, func(a *faults.CreateClusterFromBackup) { a.Cluster, a.Backup, a.As = "c0", "recent", "nope" })
	wantErr(t, err, "create-cluster-from-backup", "create a cluster from backup")
	do(f, func(a *faults.CreateClusterFromBackup) {
		a.Cluster, a.Backup, a.As, a.Subnets = "c0", "recent", "restored", "new"
	})
	if r, c := f.cluster("restored"), f.cluster("c0"); r.SubnetIDs[0] == c.SubnetIDs[0] || r.SubnetIDs[1] == c.SubnetIDs[1] {
		t.Fatalf("restored cluster's subnets %v, want new ones (c0's: %v)", r.SubnetIDs, c.SubnetIDs)
	}
	do(f, func(a *faults.SetKmsuserPassword) { a.Cluster = "restored" })
	do(f, func(a *faults.UpdateStore) { a.Store, a.Cluster, a.Password = "s", "restored", "known" })
	f.connects("s")
	f.wantDecrypt(blob, "before")
}

func TestExhaustAddresses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", false)

	do(f, func(a *faults.ExhaustAddresses) { a.Cluster = "c0" })
	f.connectFails("s", types.ConnectionErrorCodeTypeInsufficientFreeAddressesInSubnet)

	do(f, func(a *faults.FreeAddresses) { a.Cluster = "c0" })
	f.connects("s")
	f.newKey("k", "s", false)
	f.mustEncrypt("k", "after")
}

func TestBlockNetwork(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)
	blob := f.mustEncrypt("k", "before")

	t.Run("the cluster - the guide's network message while CONNECTED, NETWORK_ERRORS on connect", func(t *testing.T) {
		f := f.in(t)
		do(f, func(a *faults.BlockNetwork) { a.Cluster = "c0" })
		wantEncryptFails[*types.KMSInvalidStateException](f, "k", msgNetwork)
		f.wantState("s", types.ConnectionStateTypeConnected, "")
		do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
		f.connectFails("s", types.ConnectionErrorCodeTypeNetworkErrors)

		do(f, func(a *faults.UnblockNetwork) { a.Cluster = "c0" })
		f.connects("s")
		f.wantDecrypt(blob, "before")
	})

	t.Run("each HSM by its index - NETWORK_ERRORS; each unblocked - connects", func(t *testing.T) {
		f := f.in(t)
		do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
		for _, i := range []int{0, 1} {
			do(f, func(a *faults.BlockNetwork) { a.Cluster, a.HSM = "c0", &i })
		}
		f.connectFails("s", types.ConnectionErrorCodeTypeNetworkErrors)
		// Both back before the connect: a store that connects with one HSM
		// cut off is left broken by the stack (see the package report).
		for _, i := range []int{0, 1} {
			do(f, func(a *faults.UnblockNetwork) { a.Cluster, a.HSM = "c0", &i })
		}
		f.connects("s")
		for range 4 { // the pool spreads calls over both HSMs
			f.mustEncrypt("k", "both HSMs")
		}
	})

	t.Run("an HSM the cluster does not have - an error naming it", func(t *testing.T) {
		f := f.in(t)
		five := 5
		err := try(f, func(a *faults.BlockNetwork) { a.Cluster, a.HSM = "c0", &five })
		wantErr(t, err, "block-network", "HSM 5", "has 2 HSMs")
	})
}

func TestAddLatency(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)
	const latency = 300 * time.Millisecond
	timed := func() time.Duration {
		start := time.Now()
		f.mustEncrypt("k", "timed")
		return time.Since(start)
	}

	do(f, func(a *faults.AddLatency) { a.Cluster, a.Latency = "c0", latency })
	if d := timed(); d < latency {
		t.Fatalf("Encrypt took %v with %v added", d, latency)
	}
	do(f, func(a *faults.RemoveLatency) { a.Cluster = "c0" })
	fastest := time.Hour
	for range 3 {
		fastest = min(fastest, timed())
	}
	if fastest >= latency {
		t.Fatalf("Encrypt took at least %v after the latency was removed", fastest)
	}
}

func TestBreakSecurityGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", false)

	do(f, func(a *faults.BreakSecurityGroup) { a.Cluster = "c0" })
	_, err := f.kms().ConnectCustomKeyStore(f.ctx(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(f.storeID("s"))})
	var invalid *types.CloudHsmClusterInvalidConfigurationException
	if !errors.As(err, &invalid) {
		t.Fatalf("connect: %v, want CloudHsmClusterInvalidConfigurationException", err)
	}
	f.wantState("s", types.ConnectionStateTypeDisconnected, "")
	// connect-store reports the quick failure as its error, typed.
	err = try(f, func(a *faults.ConnectStore) { a.Store = "s" })
	if !errors.As(err, &invalid) || !strings.HasPrefix(err.Error(), "connect-store: connect store \"s\" (cks-") {
		t.Fatalf("connect-store: %v, want it to wrap CloudHsmClusterInvalidConfigurationException", err)
	}

	do(f, func(a *faults.RestoreSecurityGroup) { a.Cluster = "c0" })
	f.connects("s")
	f.newKey("k", "s", false)
	f.mustEncrypt("k", "after")
}

func TestClusterNotActive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", false)

	do(f, func(a *faults.ClusterNotActive) { a.Cluster = "c0" })
	_, err := f.kms().ConnectCustomKeyStore(f.ctx(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(f.storeID("s"))})
	var notActive *types.CloudHsmClusterNotActiveException
	if !errors.As(err, &notActive) {
		t.Fatalf("connect: %v, want CloudHsmClusterNotActiveException", err)
	}
	f.wantState("s", types.ConnectionStateTypeDisconnected, "")

	do(f, func(a *faults.ClusterActive) { a.Cluster = "c0" })
	f.connects("s")
	f.newKey("k", "s", false)
	f.mustEncrypt("k", "after")
}

func TestLockOutKmsuser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)
	blob := f.mustEncrypt("k", "before")

	do(f, func(a *faults.LockOutKmsuser) { a.Cluster = "c0" })
	wantEncryptFails[*types.KMSInvalidStateException](f, "k", msgLockedOut)
	f.wantState("s", types.ConnectionStateTypeConnected, "")
	do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
	f.connectFails("s", types.ConnectionErrorCodeTypeUserLockedOut)

	// Procedure 3: the crypto officer sets a known password (unlocking
	// kmsuser); KMS is told it.
	do(f, func(a *faults.SetKmsuserPassword) { a.Cluster, a.Password = "c0", "unlocked1" })
	if got := f.cluster("c0").KmsuserPassword; got != "unlocked1" {
		t.Fatalf("Env knows kmsuser's password as %q, want unlocked1", got)
	}
	do(f, func(a *faults.UpdateStore) { a.Store, a.Password = "s", "known" })
	f.connects("s")
	f.wantDecrypt(blob, "before")
}

func TestRotateKmsuserPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)
	blob := f.mustEncrypt("k", "before")

	err := try(f, func(a *faults.RotateKmsuserPassword) { a.Cluster = "c0" })
	wantErr(t, err, "rotate-kmsuser-password", `store "s"`, "CONNECTED", "disconnect-store")
	f.mustEncrypt("k", "still connected")

	do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
	do(f, func(a *faults.RotateKmsuserPassword) { a.Cluster = "c0" })
	f.connectFails("s", types.ConnectionErrorCodeTypeInvalidCredentials)

	do(f, func(a *faults.SetKmsuserPassword) { a.Cluster = "c0" })
	do(f, func(a *faults.UpdateStore) { a.Store, a.Password = "s", "known" })
	f.connects("s")
	f.wantDecrypt(blob, "before")
}

func TestSetStorePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)
	blob := f.mustEncrypt("k", "before")

	err := try(f, func(a *faults.SetStorePassword) { a.Store = "s" })
	wantErr(t, err, "set-store-password", `store "s"`, "CONNECTED", "DISCONNECTED")

	do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
	do(f, func(a *faults.SetStorePassword) { a.Store = "s" })
	f.connectFails("s", types.ConnectionErrorCodeTypeInvalidCredentials)

	// Procedure 3.
	do(f, func(a *faults.SetKmsuserPassword) { a.Cluster = "c0" })
	do(f, func(a *faults.UpdateStore) { a.Store, a.Password = "s", "known" })
	f.connects("s")
	f.wantDecrypt(blob, "before")
}

func TestDeleteKmsuser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2)

	t.Run("kmsuser owns keys - the HSMs refuse", func(t *testing.T) {
		f := f.in(t)
		f.newStore("with-keys", "c1", true)
		f.newKey("k", "with-keys", false)
		do(f, func(a *faults.DisconnectStore) { a.Store = "with-keys" })
		err := try(f, func(a *faults.DeleteKmsuser) { a.Cluster = "c1" })
		wantErr(t, err, "delete-kmsuser", "user-delete as admin")
	})

	// kmsuser must own no keys: the store has none.
	f.newStore("s", "c0", true)
	err := try(f, func(a *faults.DeleteKmsuser) { a.Cluster = "c0" })
	wantErr(t, err, "delete-kmsuser", "CONNECTED", "disconnect-store")
	do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
	do(f, func(a *faults.DeleteKmsuser) { a.Cluster = "c0" })
	if got := f.cluster("c0").KmsuserPassword; got != "" {
		t.Fatalf("Env still knows a password %q of the deleted kmsuser", got)
	}
	f.connectFails("s", types.ConnectionErrorCodeTypeUserNotFound)

	do(f, func(a *faults.CreateKmsuser) { a.Cluster = "c0" })
	do(f, func(a *faults.UpdateStore) { a.Store, a.Password = "s", "known" })
	f.connects("s")
	f.newKey("k0", "s", false)
	f.mustEncrypt("k0", "after")
}

func TestLoginKmsuser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)
	blob := f.mustEncrypt("k", "before")

	err := try(f, func(a *faults.LoginKmsuser) { a.Cluster = "c0" })
	wantErr(t, err, "login-kmsuser", "CONNECTED", "disconnect-store")

	// Procedure 4, in: disconnect, set a known password, log in.
	do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
	do(f, func(a *faults.SetKmsuserPassword) { a.Cluster = "c0" })
	do(f, func(a *faults.LoginKmsuser) { a.Cluster = "c0" })
	if logins := f.env.KmsuserLogins(); len(logins) != 1 || logins["c0"] == "" {
		t.Fatalf("Env holds kmsuser logins %v, want one on c0", logins)
	}
	err = try(f, func(a *faults.LoginKmsuser) { a.Cluster = "c0" })
	wantErr(t, err, "login-kmsuser", "already held")
	f.connectFails("s", types.ConnectionErrorCodeTypeUserLoggedIn)

	// Out: log out, tell KMS the password, connect.
	do(f, func(a *faults.LogoutKmsuser) { a.Cluster = "c0" })
	err = try(f, func(a *faults.LogoutKmsuser) { a.Cluster = "c0" })
	wantErr(t, err, "logout-kmsuser", "no kmsuser login")
	do(f, func(a *faults.UpdateStore) { a.Store, a.Password = "s", "known" })
	f.connects("s")
	f.wantDecrypt(blob, "before")
}

func TestDeleteKeyMaterial(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2)

	t.Run("CONNECTED store - reconnected, the key fails; procedure 6 brings it back", func(t *testing.T) {
		f := f.in(t)
		f.newStore("s", "c0", true)
		f.newKey("k", "s", true)
		f.newKey("other", "s", true)
		blob := f.mustEncrypt("k", "precious")
		do(f, func(a *faults.TakeBackup) { a.Cluster, a.As = "c0", "before" })

		do(f, func(a *faults.DeleteKeyMaterial) { a.Key = "k" })
		f.wantState("s", types.ConnectionStateTypeConnected, "")
		wantEncryptFails[*types.KMSInvalidStateException](f, "k", "")
		f.mustEncrypt("other", "untouched")
		f.eventually("key k to show Unavailable", func() (bool, string) {
			out, err := f.kms().DescribeKey(f.ctx(), &kms.DescribeKeyInput{KeyId: aws.String(f.keyID("k"))})
			if err != nil {
				return false, err.Error()
			}
			return out.KeyMetadata.KeyState == types.KeyStateUnavailable, string(out.KeyMetadata.KeyState)
		})

		// Deleted already: said so, not deleted twice.
		err := try(f, func(a *faults.DeleteKeyMaterial) { a.Key = "k" })
		wantErr(t, err, "delete-key-material", "not among kmsuser's keys")
		f.connects("s") // it found the store CONNECTED and left it so

		do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
		do(f, func(a *faults.CreateClusterFromBackup) { a.Cluster, a.Backup, a.As = "c0", "before", "restored" })
		do(f, func(a *faults.SetKmsuserPassword) { a.Cluster = "restored" })
		do(f, func(a *faults.UpdateStore) { a.Store, a.Cluster, a.Password = "s", "restored", "known" })
		f.connects("s")
		f.wantDecrypt(blob, "precious")
		f.mustEncrypt("k", "again")
	})

	t.Run("DISCONNECTED store, no backing key bound - the only key of kmsuser; left DISCONNECTED", func(t *testing.T) {
		f := f.in(t)
		f.newStore("s1", "c1", true)
		f.newKey("k1", "s1", false)
		do(f, func(a *faults.DisconnectStore) { a.Store = "s1" })

		do(f, func(a *faults.DeleteKeyMaterial) { a.Key = "k1" })
		f.wantState("s1", types.ConnectionStateTypeDisconnected, "")
		if _, ok := f.env.BackingKey("k1"); !ok {
			t.Fatalf("the backing key found in kmsuser's key list is not bound to k1")
		}
		f.connects("s1")
		wantEncryptFails[*types.KMSInvalidStateException](f, "k1", "")
	})
}

func TestExhaustSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)
	burst := func() (ok, busy int, unexpected []error) {
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		for range 24 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.kms().Encrypt(context.Background(), &kms.EncryptInput{KeyId: aws.String(f.keyID("k")), Plaintext: []byte("burst")})
				mu.Lock()
				defer mu.Unlock()
				var internal *types.KMSInternalException
				switch {
				case err == nil:
					ok++
				case errors.As(err, &internal) && strings.Contains(internal.ErrorMessage(), "PKCS #11 session"):
					busy++
				default:
					unexpected = append(unexpected, err)
				}
			}()
		}
		wg.Wait()
		return ok, busy, unexpected
	}

	do(f, func(a *faults.ExhaustSessions) {}) // one session per HSM
	do(f, func(a *faults.AddLatency) { a.Cluster, a.Latency = "c0", 40*time.Millisecond })
	if ok, busy, unexpected := burst(); ok == 0 || busy == 0 || len(unexpected) > 0 {
		t.Fatalf("burst with one session per HSM: %d ok, %d KMSInternalException about sessions, unexpected %v; want some of each", ok, busy, unexpected)
	}

	do(f, func(a *faults.RestoreSessions) {})
	do(f, func(a *faults.RemoveLatency) { a.Cluster = "c0" })
	if ok, busy, unexpected := burst(); busy > 0 || len(unexpected) > 0 {
		t.Fatalf("burst with the default sessions: %d ok, %d KMSInternalException about sessions, unexpected %v; want all ok", ok, busy, unexpected)
	}
}

func TestInternalError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)

	// Injected errors are the stack's: the subtests run in turn.
	t.Run("Encrypt, twice - KMSInternalException twice, then it works", func(t *testing.T) {
		f := f.in(t)
		do(f, func(a *faults.InternalError) { a.Operation, a.Count = "Encrypt", 2 })
		wantEncryptFails[*types.KMSInternalException](f, "k", "")
		wantEncryptFails[*types.KMSInternalException](f, "k", "")
		f.mustEncrypt("k", "third")
	})

	t.Run("connect - FAILED INTERNAL_ERROR; retry connects", func(t *testing.T) {
		f := f.in(t)
		do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
		do(f, func(a *faults.InternalError) { a.Operation = "connect" })
		f.connectFails("s", types.ConnectionErrorCodeTypeInternalError)
		f.connects("s")
		f.mustEncrypt("k", "after")
	})

	t.Run("any call, cleared before any call takes one - no failure", func(t *testing.T) {
		f := f.in(t)
		do(f, func(a *faults.InternalError) { a.Count = 100 })
		do(f, func(a *faults.ClearInternalError) {})
		f.mustEncrypt("k", "cleared")
	})

	t.Run("any call - the step's own call fails; a wait retries through them", func(t *testing.T) {
		f := f.in(t)
		do(f, func(a *faults.DisconnectStore) { a.Store = "s" })
		do(f, func(a *faults.InternalError) {})
		err := try(f, func(a *faults.ConnectStore) { a.Store, a.Wait = "s", true })
		var internal *types.KMSInternalException
		if !errors.As(err, &internal) {
			t.Fatalf("connect-store with an injected error: %v, want KMSInternalException", err)
		}
		f.wantState("s", types.ConnectionStateTypeDisconnected, "")

		if _, err := f.kms().ConnectCustomKeyStore(f.ctx(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(f.storeID("s"))}); err != nil {
			t.Fatal(err)
		}
		do(f, func(a *faults.InternalError) { a.Count = 2 }) // the wait's first two polls
		if err := faults.SettleStore(f.ctx(), f.env, f.storeID("s")); err != nil {
			t.Fatalf("a wait through injected internal errors: %v", err)
		}
		f.wantState("s", types.ConnectionStateTypeConnected, "")
	})
}
