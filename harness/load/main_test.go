package load_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"go.uber.org/goleak"

	"github.com/keystorm/keystorm/fakes/stack"
)

// TestMain closes the shared stack after the tests and then fails the
// package if any goroutine is left: every load must clean up after itself.
func TestMain(m *testing.M) {
	code := m.Run()
	if env := shared.env; env != nil {
		env.close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// shared is the one embedded stack of the package's tests, started by the
// first test that needs it: starting one means SoftHSM tokens and a store
// connect, too slow to do per test.
var shared struct {
	once sync.Once
	env  *stackEnv
	err  error
}

// stackEnv is the running stack, an SDK client of it, and two keys: "hsm"
// in a connected custom key store, "soft" an AWS_KMS key.
type stackEnv struct {
	st   *stack.Stack
	info stack.Info
	tr   *http.Transport
	kms  *kms.Client
	keys map[string]string
}

func sharedStack(t *testing.T) *stackEnv {
	t.Helper()
	shared.once.Do(func() { shared.env, shared.err = startStack() })
	if shared.err != nil {
		t.Fatalf("start the stack: %v", shared.err)
	}
	return shared.env
}

func startStack() (_ *stackEnv, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A fast stack clock: the 20-minute connect takes 60ms.
	st, err := stack.Start(ctx, stack.Options{Clusters: 1, Speed: 20000})
	if err != nil {
		return nil, err
	}
	env := &stackEnv{st: st, info: st.Info(), tr: &http.Transport{}}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	env.kms = kms.New(kms.Options{
		Region: env.info.Region, BaseEndpoint: aws.String(env.info.KMSEndpoint),
		Credentials: credentials.NewStaticCredentialsProvider(env.info.AccessKeyID, env.info.SecretAccessKey, ""),
		Retryer:     aws.NopRetryer{}, HTTPClient: &http.Client{Transport: env.tr, Timeout: 30 * time.Second},
	})
	hsmKey, err := connectedKey(ctx, env.kms, env.info)
	if err != nil {
		return nil, err
	}
	soft, err := env.kms.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		return nil, fmt.Errorf("create AWS_KMS key: %w", err)
	}
	env.keys = map[string]string{"hsm": hsmKey, "soft": aws.ToString(soft.KeyMetadata.KeyId)}
	return env, nil
}

func (e *stackEnv) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.st.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "close stack:", err)
	}
	e.tr.CloseIdleConnections()
}

// connectedKey makes a store on the stack's cluster, connects it and
// creates a key in it.
func connectedKey(ctx context.Context, client *kms.Client, info stack.Info) (string, error) {
	c := info.Clusters[0]
	created, err := client.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("load"), CloudHsmClusterId: aws.String(c.ClusterID),
		TrustAnchorCertificate: aws.String(c.TrustAnchorPEM), KeyStorePassword: aws.String(c.KmsuserPassword),
	})
	if err != nil {
		return "", fmt.Errorf("create store: %w", err)
	}
	if _, err := client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: created.CustomKeyStoreId}); err != nil {
		return "", fmt.Errorf("connect store: %w", err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: created.CustomKeyStoreId})
		if err != nil {
			return "", fmt.Errorf("describe store: %w", err)
		}
		if s := out.CustomKeyStores[0].ConnectionState; s == types.ConnectionStateTypeConnected {
			break
		} else if s != types.ConnectionStateTypeConnecting {
			return "", fmt.Errorf("store is %s %s, want CONNECTED", s, out.CustomKeyStores[0].ConnectionErrorCode)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for CONNECTED: %w", ctx.Err())
		case <-tick.C:
		}
	}
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: created.CustomKeyStoreId})
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	return aws.ToString(key.KeyMetadata.KeyId), nil
}
