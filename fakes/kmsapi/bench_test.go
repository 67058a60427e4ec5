package kmsapi_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/aesgcm"
	"github.com/keystorm/keystorm/fakes/softhsm"
	"github.com/keystorm/keystorm/fakes/stack"
)

const benchGoroutines = 8

// parallel runs b.N calls of op over exactly g goroutines and reports ops/s.
func parallel(b *testing.B, g int, op func(worker int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, g)
	b.ResetTimer()
	for w := 0; w < g; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := op(w); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkEncrypt compares, in one run, raw C_Encrypt (AES-GCM, 32 bytes,
// one session per goroutine) with a full-stack KMS Encrypt of 32 bytes:
// SigV4-signed by the aws-sdk-go-v2 client, over HTTP on loopback, through
// the KMS service and the session pool into the same kind of SoftHSM token.
// The goal: the full stack at 25% or more of the raw rate. The client and
// the server share the process; most of the full stack's time is the SDK
// client and HTTP, which the software-key figure (no HSM at all) shows.
func BenchmarkEncrypt(b *testing.B) {
	payload := make([]byte, 32)
	b.Run(fmt.Sprintf("raw-pkcs11/goroutines=%d", benchGoroutines), func(b *testing.B) {
		m, err := softhsm.Open()
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		tok, err := m.NewToken(context.Background(), "ks-bench-raw", "benchPIN1")
		if err != nil {
			b.Fatal(err)
		}
		defer tok.Release()
		sessions := make([]pkcs11.SessionHandle, benchGoroutines)
		for i := range sessions {
			if sessions[i], err = m.Ctx.OpenSession(tok.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
				b.Fatal(err)
			}
		}
		if err := m.Ctx.Login(sessions[0], pkcs11.CKU_USER, "benchPIN1"); err != nil {
			b.Fatal(err)
		}
		key, err := m.Ctx.GenerateKey(sessions[0], []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		})
		if err != nil {
			b.Fatal(err)
		}
		parallel(b, benchGoroutines, func(w int) error {
			_, err := aesgcm.Seal(m.Ctx, sessions[w], key, payload, nil)
			return err
		})
	})
	b.Run(fmt.Sprintf("kms-http/goroutines=%d", benchGoroutines), func(b *testing.B) {
		// As keystorm serve runs it; the client shares the process and the
		// setting, as it shares the two cores.
		defer stack.TuneGC()()
		ctx := context.Background()
		st, err := stack.Start(ctx, stack.Options{Speed: 100000, Clusters: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close(ctx)
		info := st.Info()
		client := kms.New(kms.Options{
			Region:       info.Region,
			BaseEndpoint: aws.String(info.KMSEndpoint),
			Credentials:  credentials.NewStaticCredentialsProvider(info.AccessKeyID, info.SecretAccessKey, ""),
			Retryer:      aws.NopRetryer{},
		})
		keyID := connectedKey(b, ctx, client, info)
		parallel(b, benchGoroutines, func(int) error {
			_, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: payload})
			return err
		})
		// The same calls on a software (AWS_KMS) key: the cost of the HTTP
		// path alone, for comparison.
		soft, err := client.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			b.Fatal(err)
		}
		start, n := time.Now(), 0
		for time.Since(start) < time.Second {
			var wg sync.WaitGroup
			for w := 0; w < benchGoroutines; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					client.Encrypt(ctx, &kms.EncryptInput{KeyId: soft.KeyMetadata.KeyId, Plaintext: payload})
				}()
			}
			wg.Wait()
			n += benchGoroutines
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "software-key-ops/s")
	})
}

// connectedKey makes a store on the stack's cluster, connects it and
// creates a key in it.
func connectedKey(b *testing.B, ctx context.Context, client *kms.Client, info stack.Info) string {
	b.Helper()
	c := info.Clusters[0]
	created, err := client.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("bench"), CloudHsmClusterId: aws.String(c.ClusterID),
		TrustAnchorCertificate: aws.String(c.TrustAnchorPEM), KeyStorePassword: aws.String(c.KmsuserPassword),
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: created.CustomKeyStoreId}); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: created.CustomKeyStoreId})
		if err != nil {
			b.Fatal(err)
		}
		if s := out.CustomKeyStores[0].ConnectionState; s == types.ConnectionStateTypeConnected {
			break
		} else if s != types.ConnectionStateTypeConnecting || time.Now().After(deadline) {
			b.Fatalf("store %s", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: created.CustomKeyStoreId})
	if err != nil {
		b.Fatal(err)
	}
	return *key.KeyMetadata.KeyId
}
