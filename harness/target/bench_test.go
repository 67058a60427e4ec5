package target_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keystorm/keystorm/fakes/dockertest"
	"github.com/keystorm/keystorm/harness/target"
)

// BenchmarkFullStackEncrypt measures Encrypt requests per second through the
// whole stack (SigV4-signed KMS JSON over HTTP, the KMS service, the session
// pool, a PKCS#11 call into an HSM's SoftHSM), from 8 goroutines, on the
// embedded stack and on the containers stack in the same run: there every
// PKCS#11 call crosses a Docker network through p11-kit's RPC. The
// containers stack needs Docker (it skips without).
//
//	go test -run '^$' -bench FullStackEncrypt -benchtime 10s ./harness/target/
func BenchmarkFullStackEncrypt(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		ctx := context.Background()
		st, err := target.StartEmbedded(ctx, target.EmbeddedOptions{Speed: 10000})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close(ctx)
		benchEncrypt(b, st)
	})
	b.Run("containers", func(b *testing.B) {
		ctx := context.Background()
		dockertest.Require(b)
		st, err := target.StartContainers(ctx, target.ContainersOptions{Speed: 10000, Binary: dockertest.BuildKeystorm(b)})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close(ctx)
		benchEncrypt(b, st)
	})
}

// benchEncrypt connects a store on the target's first cluster, makes a key
// in it, and times Encrypt of 32 bytes under it.
func benchEncrypt(b *testing.B, st target.Stack) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := st.KMS()
	cl := st.Info().Clusters[0]
	store, err := c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("bench"), CloudHsmClusterId: aws.String(cl.ClusterID),
		KeyStorePassword: aws.String(cl.KmsuserPassword), TrustAnchorCertificate: aws.String(cl.TrustAnchorPEM),
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: store.CustomKeyStoreId}); err != nil {
		b.Fatal(err)
	}
	for {
		out, err := c.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: store.CustomKeyStoreId})
		if err != nil {
			b.Fatal(err)
		}
		if s := out.CustomKeyStores[0].ConnectionState; s == types.ConnectionStateTypeConnected {
			break
		} else if s == types.ConnectionStateTypeFailed {
			b.Fatalf("connect: %s", out.CustomKeyStores[0].ConnectionErrorCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: store.CustomKeyStoreId})
	if err != nil {
		b.Fatal(err)
	}
	plaintext := make([]byte, 32)
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // 8 goroutines in all
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: plaintext}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
