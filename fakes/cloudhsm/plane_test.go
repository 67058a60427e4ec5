package cloudhsm_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/hsm"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	adminPW   = "adminPass1"
	kmsuserPW = "kmsPass123"
)

func newPlane(t *testing.T) *cloudhsm.Plane {
	t.Helper()
	m, err := softhsm.Open()
	if err != nil {
		t.Fatalf("open SoftHSM: %v", err)
	}
	p, err := cloudhsm.New(cloudhsm.Config{Module: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("close plane: %v", err)
		}
		m.Close()
	})
	return p
}

func seed(t *testing.T, p *cloudhsm.Plane) *cloudhsm.Cluster {
	t.Helper()
	c, err := p.Seed(context.Background(), cloudhsm.SeedSpec{AdminPassword: adminPW, KmsuserPassword: kmsuserPW})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func login(t *testing.T, c *cloudhsm.Cluster, user string, role hsm.Role, pw string) *cloudhsm.Session {
	t.Helper()
	s, err := c.Login(context.Background(), user, role, pw)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	t.Cleanup(func() { s.Logout() })
	return s
}

// roundTrip seals on one HSM and opens on every HSM of the cluster.
func roundTrip(t *testing.T, c *cloudhsm.Cluster, keyID string) {
	t.Helper()
	ctx := context.Background()
	hsms := c.HSMs()
	var sealed []byte
	for i, h := range hsms {
		sh, err := h.OpenSession(ctx)
		if err != nil {
			t.Fatalf("session on %s: %v", h.ID(), err)
		}
		if i == 0 {
			if sealed, err = h.Encrypt(ctx, sh, keyID, []byte("secret"), nil); err != nil {
				t.Fatalf("encrypt on %s: %v", h.ID(), err)
			}
		}
		got, err := h.Decrypt(ctx, sh, keyID, sealed, nil)
		h.CloseSession(sh)
		if err != nil || !bytes.Equal(got, []byte("secret")) {
			t.Fatalf("decrypt on %s: %q, %v", h.ID(), got, err)
		}
	}
}

func TestSeededClusterIsActiveWithAnHSMInEachAZ(t *testing.T) {
	p := newPlane(t)
	c := seed(t, p)
	info := c.Info()
	if info.State != cloudhsm.ClusterActive {
		t.Errorf("state %s, want ACTIVE", info.State)
	}
	if len(info.HSMs) != 2 || info.HSMs[0].AZ == info.HSMs[1].AZ {
		t.Fatalf("HSMs %+v, want two in two AZs", info.HSMs)
	}
	for _, h := range info.HSMs {
		if h.SubnetID != info.SubnetMapping[h.AZ] || h.EniIP == "" {
			t.Errorf("HSM %+v not in its AZ's subnet %s", h, info.SubnetMapping[h.AZ])
		}
		sub, err := p.Subnet(h.SubnetID)
		if err != nil {
			t.Fatal(err)
		}
		if sub.FreeAddresses != cloudhsm.DefaultFreeAddresses-1 {
			t.Errorf("subnet %s has %d free addresses, want %d", sub.ID, sub.FreeAddresses, cloudhsm.DefaultFreeAddresses-1)
		}
	}
	users, err := c.Users()
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Name != "admin" || users[1].Name != "kmsuser" || !users[1].KeyOwner {
		t.Errorf("users %+v, want admin and the key owner kmsuser", users)
	}
	if info.TrustAnchorPEM == "" || info.ClusterPEM == "" {
		t.Error("no certificates")
	}
	// Seeding added the second HSM, which the real service backs up for.
	if b := p.Backups(cloudhsm.BackupFilter{ClusterIDs: []string{c.ID()}}, false); len(b) != 1 {
		t.Errorf("%d backups after seeding, want 1", len(b))
	}
}

func TestAKeyIsOnEveryHSMAndOnHSMsAddedLater(t *testing.T) {
	p := newPlane(t)
	c := seed(t, p)
	ctx := context.Background()
	kms := login(t, c, "kmsuser", hsm.RoleCryptoUser, kmsuserPW)
	keyID, err := kms.GenerateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, keyID)
	h, err := p.CreateHsm(ctx, c.ID(), "us-east-1a", "")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Node().HasKey(keyID) {
		t.Fatal("the new HSM lacks the cluster's key")
	}
	// kmsuser's session reached the new HSM: crypto works there at once.
	roundTrip(t, c, keyID)
	if u, _, _ := c.User("kmsuser"); !u.LoggedIn {
		t.Error("kmsuser not shown logged in")
	}
}

func TestDeletingEveryHSMThenCreatingOneRestoresTheKeys(t *testing.T) {
	p := newPlane(t)
	c := seed(t, p)
	ctx := context.Background()
	kms, err := c.Login(ctx, "kmsuser", hsm.RoleCryptoUser, kmsuserPW)
	if err != nil {
		t.Fatal(err)
	}
	keyID, err := kms.GenerateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kms.Logout()
	for _, h := range c.HSMs() {
		if _, err := p.DeleteHsm(ctx, c.ID(), h.ID(), "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Login(ctx, "kmsuser", hsm.RoleCryptoUser, kmsuserPW); !errors.Is(err, cloudhsm.ErrNoHSM) {
		t.Fatalf("login to a cluster with no HSM: %v, want ErrNoHSM", err)
	}
	if _, err := p.CreateHsm(ctx, c.ID(), "us-east-1b", ""); err != nil {
		t.Fatal(err)
	}
	login(t, c, "kmsuser", hsm.RoleCryptoUser, kmsuserPW)
	roundTrip(t, c, keyID)
}

func TestAClusterFromABackupIsRelatedAndHoldsItsKeys(t *testing.T) {
	p := newPlane(t)
	src := seed(t, p)
	ctx := context.Background()
	kms := login(t, src, "kmsuser", hsm.RoleCryptoUser, kmsuserPW)
	keyID, err := kms.GenerateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.TakeBackup(ctx, src.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Keys) != 1 || b.Keys[0] != keyID {
		t.Fatalf("backup holds %v, want [%s]", b.Keys, keyID)
	}
	other := seed(t, p)
	subnets := []string{p.AddSubnet("us-east-1a", 5).ID, p.AddSubnet("us-east-1b", 5).ID}
	restored, err := p.CreateCluster(ctx, "", subnets, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if restored.State() != cloudhsm.ClusterActive || len(restored.HSMs()) != 0 {
		t.Fatalf("restored cluster: %s with %d HSMs, want ACTIVE with none", restored.State(), len(restored.HSMs()))
	}
	if !restored.RelatedTo(src) || restored.RelatedTo(other) {
		t.Error("relatedness: want related to its source only")
	}
	if restored.TrustAnchorPEM() != src.TrustAnchorPEM() {
		t.Error("the restored cluster has another trust anchor")
	}
	for _, az := range []string{"us-east-1a", "us-east-1b"} {
		if _, err := p.CreateHsm(ctx, restored.ID(), az, ""); err != nil {
			t.Fatal(err)
		}
	}
	login(t, restored, "kmsuser", hsm.RoleCryptoUser, kmsuserPW)
	roundTrip(t, restored, keyID)
}

func TestClusterWithHSMsCannotBeDeleted(t *testing.T) {
	p := newPlane(t)
	c := seed(t, p)
	ctx := context.Background()
	if _, err := p.DeleteCluster(c.ID()); !errors.Is(err, cloudhsm.ErrInvalidRequest) {
		t.Fatalf("delete a cluster with HSMs: %v, want ErrInvalidRequest", err)
	}
	for _, h := range c.HSMs() {
		if _, err := p.DeleteHsm(ctx, c.ID(), "", h.Info().EniID, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.DeleteCluster(c.ID()); err != nil {
		t.Fatal(err)
	}
	if c.State() != cloudhsm.ClusterDeleted {
		t.Errorf("state %s, want DELETED", c.State())
	}
	if _, err := p.CreateHsm(ctx, c.ID(), "us-east-1a", ""); !errors.Is(err, cloudhsm.ErrNotFound) {
		t.Errorf("CreateHsm in a deleted cluster: %v, want ErrNotFound", err)
	}
}

func TestNoFreeAddressNoHSM(t *testing.T) {
	p := newPlane(t)
	c := seed(t, p)
	subnet := c.Info().SubnetMapping["us-east-1a"]
	if err := p.SetFreeAddresses(subnet, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateHsm(context.Background(), c.ID(), "us-east-1a", ""); !errors.Is(err, cloudhsm.ErrNoFreeAddress) {
		t.Fatalf("CreateHsm in a full subnet: %v, want ErrNoFreeAddress", err)
	}
	if _, err := p.CreateHsm(context.Background(), c.ID(), "us-east-1c", ""); !errors.Is(err, cloudhsm.ErrInvalidRequest) {
		t.Fatalf("CreateHsm in an AZ without a subnet: %v, want ErrInvalidRequest", err)
	}
}

func TestBlockedNetworkStopsCallsAndRestoringItResumesThem(t *testing.T) {
	p := newPlane(t)
	c := seed(t, p)
	ctx := context.Background()
	kms := login(t, c, "kmsuser", hsm.RoleCryptoUser, kmsuserPW)
	keyID, err := kms.GenerateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := c.HSMs()[0]
	sh, err := h.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer h.CloseSession(sh)
	c.SetBlocked(ctx, true)
	if _, err := h.Encrypt(ctx, sh, keyID, []byte("x"), nil); !errors.Is(err, cloudhsm.ErrUnreachable) {
		t.Fatalf("encrypt over a blocked path: %v, want ErrUnreachable", err)
	}
	if _, err := c.Login(ctx, "admin", hsm.RoleAdmin, adminPW); !errors.Is(err, cloudhsm.ErrUnreachable) {
		t.Fatalf("login over a blocked path: %v, want ErrUnreachable", err)
	}
	c.SetBlocked(ctx, false)
	h.SetBlocked(ctx, true)
	if _, err := h.OpenSession(ctx); !errors.Is(err, cloudhsm.ErrUnreachable) {
		t.Fatalf("session to a blocked HSM: %v, want ErrUnreachable", err)
	}
	h.SetBlocked(ctx, false)
	if _, err := h.Encrypt(ctx, sh, keyID, []byte("x"), nil); err != nil {
		t.Fatalf("encrypt after restoring the path: %v", err)
	}
}

func TestFiveBadLoginsLockKmsuserOnTheClusterAndAnAdminUnlocksIt(t *testing.T) {
	p := newPlane(t)
	c := seed(t, p)
	ctx := context.Background()
	for i := 0; i < hsm.MaxFailedLogins; i++ {
		if _, err := c.Login(ctx, "kmsuser", hsm.RoleCryptoUser, "wrongPass"); !errors.Is(err, hsm.ErrWrongPassword) {
			t.Fatalf("bad login %d: %v", i+1, err)
		}
	}
	if u, _, _ := c.User("kmsuser"); !u.LockedOut {
		t.Fatal("kmsuser not locked out")
	}
	if _, err := c.Login(ctx, "kmsuser", hsm.RoleCryptoUser, kmsuserPW); !errors.Is(err, hsm.ErrLockedOut) {
		t.Fatalf("login while locked: %v, want ErrLockedOut", err)
	}
	admin := login(t, c, "admin", hsm.RoleAdmin, adminPW)
	if err := admin.ChangePassword(ctx, "kmsuser", "freshPass1"); err != nil {
		t.Fatal(err)
	}
	login(t, c, "kmsuser", hsm.RoleCryptoUser, "freshPass1")
	// The plane knows the new password: an HSM added now takes it.
	h, err := p.CreateHsm(ctx, c.ID(), "us-east-1b", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Node().Login(ctx, "kmsuser", hsm.RoleCryptoUser, "freshPass1"); err != nil {
		t.Fatalf("the new password on a new HSM: %v", err)
	}
}

func TestDeletedKeyIsGoneFromEveryHSMButNotFromBackups(t *testing.T) {
	p := newPlane(t)
	c := seed(t, p)
	ctx := context.Background()
	kms := login(t, c, "kmsuser", hsm.RoleCryptoUser, kmsuserPW)
	keyID, err := kms.GenerateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.TakeBackup(ctx, c.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := kms.DeleteKey(ctx, keyID); err != nil {
		t.Fatal(err)
	}
	for _, h := range c.HSMs() {
		sh, err := h.OpenSession(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Encrypt(ctx, sh, keyID, []byte("x"), nil)
		h.CloseSession(sh)
		if !errors.Is(err, hsm.ErrKeyNotFound) {
			t.Errorf("encrypt with a deleted key on %s: %v, want ErrKeyNotFound", h.ID(), err)
		}
	}
	got := p.Backups(cloudhsm.BackupFilter{BackupIDs: []string{b.ID}}, false)
	if len(got) != 1 || len(got[0].Keys) != 1 {
		t.Fatalf("backup after the delete: %+v", got)
	}
}
