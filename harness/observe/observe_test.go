package observe_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"go.uber.org/goleak"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/observe"
	"github.com/keystorm/keystorm/harness/target"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestObservesAConnect watches a store connect on the embedded stack: the
// transitions DISCONNECTED, CONNECTING, CONNECTED in order, the key's
// state, and the pool's HSMs from /metrics.
func TestObservesAConnect(t *testing.T) {
	ctx := context.Background()
	st, err := target.StartEmbedded(ctx, target.EmbeddedOptions{Speed: 10000, ConnectDuration: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	c := st.Info().Clusters[0]
	created, err := st.KMS().CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("observed"), CloudHsmClusterId: aws.String(c.ClusterID),
		TrustAnchorCertificate: aws.String(c.TrustAnchorPEM), KeyStorePassword: aws.String(c.KmsuserPassword),
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []history.Event
	ob := observe.New(observe.Options{
		KMS: st.KMS(), HTTP: st.HTTP(), MetricsURL: st.Info().MetricsEndpoint, Base: time.Now(),
		Stores: map[string]string{"s1": *created.CustomKeyStoreId}, Interval: 10 * time.Millisecond,
		Sink: func(e history.Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
	})
	if err := ob.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if s, ok := ob.State("store:s1"); !ok || s.State != "DISCONNECTED" {
		t.Fatalf("first poll: %+v %v", s, ok)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ob.Run(runCtx) }()
	if _, err := st.KMS().ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: created.CustomKeyStoreId}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for s, _ := ob.State("store:s1"); s.State != "CONNECTED"; s, _ = ob.State("store:s1") {
		if time.Now().After(deadline) {
			t.Fatalf("never saw CONNECTED: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	key, err := st.KMS().CreateKey(ctx, &kms.CreateKeyInput{Origin: "AWS_CLOUDHSM", CustomKeyStoreId: created.CustomKeyStoreId})
	if err != nil {
		t.Fatal(err)
	}
	ob.Watch("key", "k1", *key.KeyMetadata.KeyId)
	if _, err := st.KMS().Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	for s, _ := ob.State("pool:s1"); s.State != "2 HSMs" && s.State != "1 HSM"; s, _ = ob.State("pool:s1") {
		if time.Now().After(deadline) {
			t.Fatalf("never saw the pool's HSMs: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for s, _ := ob.State("key:k1"); s.State != "Enabled"; s, _ = ob.State("key:k1") {
		if time.Now().After(deadline) {
			t.Fatalf("never saw the key Enabled: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var seq []string
	var last time.Duration
	for _, e := range events {
		if tr := e.Transition; tr != nil && tr.Subject == "store:s1" {
			seq = append(seq, tr.To)
			if tr.At < last {
				t.Errorf("transitions out of time order: %v", events)
			}
			last = tr.At
		}
	}
	if len(seq) < 2 || seq[0] != "DISCONNECTED" || seq[len(seq)-1] != "CONNECTED" {
		t.Errorf("store transitions %v, want DISCONNECTED ... CONNECTED", seq)
	}
}
