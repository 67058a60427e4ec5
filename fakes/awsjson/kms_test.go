package awsjson_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keystorm/keystorm/fakes/awsjson"
)

var storeCreated = time.Date(2023, 11, 14, 22, 13, 20, 123e6, time.UTC)

// customKeyStore is a DescribeCustomKeyStores entry as a handler writes it.
type customKeyStore struct {
	CustomKeyStoreID   string            `json:"CustomKeyStoreId"`
	CustomKeyStoreName string            `json:"CustomKeyStoreName"`
	CloudHsmClusterID  string            `json:"CloudHsmClusterId"`
	ConnectionState    string            `json:"ConnectionState"`
	CreationDate       awsjson.Timestamp `json:"CreationDate"`
}

// kmsToys registers toy handlers on a KMS service: a fixed store list, an Encrypt that
// reports the plaintext length, and a ConnectCustomKeyStore whose store id picks a failure.
func kmsToys(svc *awsjson.Service) {
	svc.Handle("DescribeCustomKeyStores", func(ctx context.Context, req *awsjson.Request) (any, error) {
		return map[string]any{"CustomKeyStores": []customKeyStore{{
			CustomKeyStoreID:   "cks-1234567890abcdef0",
			CustomKeyStoreName: "ExampleKeyStore",
			CloudHsmClusterID:  "cluster-1a23b4cdefg",
			ConnectionState:    "CONNECTED",
			CreationDate:       awsjson.Timestamp(storeCreated),
		}}}, nil
	})
	svc.Handle("Encrypt", func(ctx context.Context, req *awsjson.Request) (any, error) {
		var in struct {
			KeyId     string
			Plaintext []byte
		}
		if err := req.Decode(&in); err != nil {
			return nil, err
		}
		return map[string]any{
			"KeyId":               in.KeyId,
			"CiphertextBlob":      []byte(fmt.Sprintf("len=%d", len(in.Plaintext))),
			"EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
		}, nil
	})
	svc.Handle("ConnectCustomKeyStore", func(ctx context.Context, req *awsjson.Request) (any, error) {
		var in struct{ CustomKeyStoreId string }
		if err := req.Decode(&in); err != nil {
			return nil, err
		}
		switch in.CustomKeyStoreId {
		case "panic":
			panic("toy handler panics")
		case "go-error":
			return nil, errors.New("pkcs11: CKR_DEVICE_ERROR at /secret/path")
		case "internal":
			return nil, awsjson.NewError("KMSInternalException", "internal")
		case "wrapped-invalid":
			return nil, fmt.Errorf("connect: %w", awsjson.NewError("CustomKeyStoreInvalidStateException", "store is FAILED"))
		}
		return nil, nil
	})
}

func newKMS(t *testing.T, opts ...awsjson.Option) string {
	t.Helper()
	svc, url := newServer(t, awsjson.KMSModel(), opts...)
	kmsToys(svc)
	return url
}

func TestKMSSignedCallSucceeds(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	out, err := kmsClient(t, url, testAccessKey, testSecret).DescribeCustomKeyStores(context.Background(), &kms.DescribeCustomKeyStoresInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.CustomKeyStores) != 1 {
		t.Fatalf("got %d stores, want 1", len(out.CustomKeyStores))
	}
	got := out.CustomKeyStores[0]
	if aws.ToString(got.CustomKeyStoreId) != "cks-1234567890abcdef0" || aws.ToString(got.CloudHsmClusterId) != "cluster-1a23b4cdefg" ||
		got.ConnectionState != types.ConnectionStateTypeConnected {
		t.Errorf("store = %+v", got)
	}
	if !aws.ToTime(got.CreationDate).Equal(storeCreated) {
		t.Errorf("CreationDate = %v, want %v", aws.ToTime(got.CreationDate), storeCreated)
	}
}

func TestKMSEncryptBlobRoundTrip(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	out, err := kmsClient(t, url, testAccessKey, testSecret).Encrypt(context.Background(), &kms.EncryptInput{
		KeyId: aws.String("alias/toy"), Plaintext: bytes.Repeat([]byte{0xff}, 4096),
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(out.CiphertextBlob) != "len=4096" || aws.ToString(out.KeyId) != "alias/toy" {
		t.Errorf("Encrypt = %q, %q", out.CiphertextBlob, aws.ToString(out.KeyId))
	}
}

func TestKMSAuthenticationFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		accessKey, secret string
		wantCode, wantMsg string
	}{
		// The key id is known, the secret is not its secret.
		{"wrong secret", testAccessKey, "not-the-secret", "InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
		// The key id is not one the service knows.
		{"unknown access key", "AKIAUNKNOWN000000000", testSecret, "UnrecognizedClientException",
			"The security token included in the request is invalid."},
	}
	url := newKMS(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := kmsClient(t, url, tt.accessKey, tt.secret).DescribeCustomKeyStores(context.Background(), &kms.DescribeCustomKeyStoresInput{})
			code, msg, status := apiError(t, err)
			if code != tt.wantCode || msg != tt.wantMsg || status != http.StatusBadRequest {
				t.Errorf("got %d %s %q, want 400 %s %q", status, code, msg, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestKMSRequestWithoutAuthIsMissingAuthenticationToken(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	// A plain http.Post: no Authorization, no X-Amz-Target.
	resp, err := httpClient(t).Post(url+"/", "application/x-amz-json-1.1", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || body["__type"] != "MissingAuthenticationTokenException" ||
		body["message"] != "Missing Authentication Token" {
		t.Errorf("plain POST: got %d %v", resp.StatusCode, body)
	}
	// An unsigned request naming a served operation.
	r := post(t, url, "TrentService.DescribeCustomKeyStores", "application/x-amz-json-1.1", "{}", signing{unsigned: true})
	r.wantError(t, http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token")
}

func TestKMSValidationThroughSDK(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	_, err := kmsClient(t, url, testAccessKey, testSecret).Encrypt(context.Background(), &kms.EncryptInput{
		KeyId: aws.String("alias/toy"), Plaintext: make([]byte, 4097),
	})
	code, msg, status := apiError(t, err)
	want := "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"
	if code != "ValidationException" || msg != want || status != http.StatusBadRequest {
		t.Errorf("got %d %s %q\nwant 400 ValidationException %q", status, code, msg, want)
	}
}

// TestKMSRawRequests covers what an SDK refuses to send: it validates required members and
// types itself.
func TestKMSRawRequests(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	const jsonType = "application/x-amz-json-1.1"
	tests := []struct {
		name, target, contentType, body string
		s                               signing
		status                          int
		typ, message                    string
		prefix                          bool // message embeds the current time: compare a prefix
	}{
		// Required KeyId is absent.
		{"missing required KeyId", "TrentService.Encrypt", jsonType, `{"Plaintext":"aGk="}`, signing{},
			400, "ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null", false},
		// A JSON null is an absent member.
		{"null KeyId", "TrentService.Encrypt", jsonType, `{"KeyId":null,"Plaintext":"aGk="}`, signing{},
			400, "ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null", false},
		// A number where the model says string.
		{"number for a string", "TrentService.Encrypt", jsonType, `{"KeyId":5,"Plaintext":"aGk="}`, signing{},
			400, "SerializationException", "NUMBER_VALUE can not be converted to a String", false},
		// A blob that is not base64.
		{"blob not base64", "TrentService.Encrypt", jsonType, `{"KeyId":"k","Plaintext":"%%%"}`, signing{},
			400, "SerializationException", "Base64 encoded value is not valid", false},
		// Not JSON at all.
		{"malformed JSON", "TrentService.Encrypt", jsonType, `{"KeyId":`, signing{},
			400, "SerializationException", "", false},
		// An operation KMS does not have.
		{"unknown operation", "TrentService.Frobnicate", jsonType, `{}`, signing{},
			400, "UnknownOperationException", "", false},
		// An operation of the model no handler serves.
		{"operation without handler", "TrentService.ListKeys", jsonType, `{}`, signing{},
			400, "UnknownOperationException", "", false},
		// The right operation under another service's prefix.
		{"wrong target prefix", "BaldrApiService.Encrypt", jsonType, `{}`, signing{},
			400, "UnknownOperationException", "", false},
		// Not an AWS JSON content type.
		{"wrong content type", "TrentService.DescribeCustomKeyStores", "application/json", `{}`, signing{},
			400, "UnknownOperationException", "", false},
		// AWS JSON 1.0 is accepted too.
		{"json 1.0 accepted", "TrentService.DescribeCustomKeyStores", "application/x-amz-json-1.0", `{}`, signing{},
			200, "", "", false},
		// Signed years ago.
		{"expired X-Amz-Date", "TrentService.DescribeCustomKeyStores", jsonType, `{}`,
			signing{at: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
			400, "InvalidSignatureException", "Signature expired: 20200102T030405Z is now earlier than ", true},
		// Signed for the future.
		{"X-Amz-Date in the future", "TrentService.DescribeCustomKeyStores", jsonType, `{}`,
			signing{at: time.Now().Add(time.Hour)},
			400, "InvalidSignatureException", "Signature not yet current: ", true},
		// Signed for another region.
		{"wrong region", "TrentService.DescribeCustomKeyStores", jsonType, `{}`, signing{region: "eu-west-1"},
			400, "InvalidSignatureException", "Credential should be scoped to a valid region, not 'eu-west-1'. ", false},
		// Signed for another service.
		{"wrong service", "TrentService.DescribeCustomKeyStores", jsonType, `{}`, signing{service: "cloudhsm"},
			400, "InvalidSignatureException", "Credential should be scoped to correct service: 'kms'. ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, url, tt.target, tt.contentType, tt.body, tt.s)
			if tt.status == http.StatusOK {
				if r.status != http.StatusOK {
					t.Fatalf("got %d %s, want 200", r.status, r.raw)
				}
				return
			}
			if tt.prefix {
				if r.status != tt.status || r.body["__type"] != tt.typ || !strings.HasPrefix(r.body["message"].(string), tt.message) {
					t.Fatalf("got %d %s, want %d %s %q...", r.status, r.raw, tt.status, tt.typ, tt.message)
				}
				return
			}
			r.wantError(t, tt.status, tt.typ, tt.message)
		})
	}
}

func TestKMSExpiredSignatureMessage(t *testing.T) {
	t.Parallel()
	// The server's clock runs ten minutes ahead of the SDK's, so the SDK's fresh signature
	// is ten minutes old when it arrives.
	skew := 10 * time.Minute
	url := newKMS(t, awsjson.WithClock(func() time.Time { return time.Now().Add(skew) }))
	_, err := kmsClient(t, url, testAccessKey, testSecret).DescribeCustomKeyStores(context.Background(), &kms.DescribeCustomKeyStoresInput{})
	code, msg, status := apiError(t, err)
	re := regexp.MustCompile(`^Signature expired: (\d{8}T\d{6}Z) is now earlier than (\d{8}T\d{6}Z) \((\d{8}T\d{6}Z) - 5 min\.\)$`)
	m := re.FindStringSubmatch(msg)
	if code != "InvalidSignatureException" || status != http.StatusBadRequest || m == nil {
		t.Fatalf("got %d %s %q", status, code, msg)
	}
	signed, _ := time.Parse("20060102T150405Z", m[1])
	earliest, _ := time.Parse("20060102T150405Z", m[2])
	now, _ := time.Parse("20060102T150405Z", m[3])
	if now.Sub(earliest) != 5*time.Minute || earliest.Sub(signed) < 4*time.Minute {
		t.Errorf("times in %q are inconsistent", msg)
	}
}

func TestKMSHandlerErrors(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []awsjson.Observation
	url := newKMS(t, awsjson.WithObserver(func(o awsjson.Observation) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, o)
	}))
	client := kmsClient(t, url, testAccessKey, testSecret)
	tests := []struct {
		storeID           string
		wantCode, wantMsg string
		wantStatus        int
	}{
		// A panic is an internal error; the server survives it.
		{"panic", "KMSInternalException", "The request processing has failed because of an unknown error, exception or failure.", 500},
		// A Go error's text never reaches the client.
		{"go-error", "KMSInternalException", "The request processing has failed because of an unknown error, exception or failure.", 500},
		// KMSInternalException is a fault in the model: 500.
		{"internal", "KMSInternalException", "internal", 500},
		// A wrapped client exception keeps its type and gets 400.
		{"wrapped-invalid", "CustomKeyStoreInvalidStateException", "store is FAILED", 400},
	}
	for _, tt := range tests {
		_, err := client.ConnectCustomKeyStore(context.Background(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(tt.storeID)})
		code, msg, status := apiError(t, err)
		if code != tt.wantCode || msg != tt.wantMsg || status != tt.wantStatus {
			t.Errorf("%s: got %d %s %q, want %d %s %q", tt.storeID, status, code, msg, tt.wantStatus, tt.wantCode, tt.wantMsg)
		}
	}
	var typed *types.CustomKeyStoreInvalidStateException
	_, err := client.ConnectCustomKeyStore(context.Background(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String("wrapped-invalid")})
	if !errors.As(err, &typed) {
		t.Errorf("error %v is not the SDK's typed CustomKeyStoreInvalidStateException", err)
	}
	// Still serving after the panic.
	if _, err := client.ConnectCustomKeyStore(context.Background(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String("ok")}); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []awsjson.Observation{
		{Operation: "ConnectCustomKeyStore", Status: 500, ErrorType: "KMSInternalException"},
		{Operation: "ConnectCustomKeyStore", Status: 500, ErrorType: "KMSInternalException"},
		{Operation: "ConnectCustomKeyStore", Status: 500, ErrorType: "KMSInternalException"},
		{Operation: "ConnectCustomKeyStore", Status: 400, ErrorType: "CustomKeyStoreInvalidStateException"},
		{Operation: "ConnectCustomKeyStore", Status: 400, ErrorType: "CustomKeyStoreInvalidStateException"},
		{Operation: "ConnectCustomKeyStore", Status: 200},
	}
	if len(seen) != len(want) {
		t.Fatalf("observed %d requests, want %d: %+v", len(seen), len(want), seen)
	}
	for i := range want {
		got := seen[i]
		if got.Duration <= 0 {
			t.Errorf("observation %d has no duration", i)
		}
		got.Duration = 0
		if got != want[i] {
			t.Errorf("observation %d = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestKMSConcurrentCalls(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	client := kmsClient(t, url, testAccessKey, testSecret)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			out, err := client.Encrypt(context.Background(), &kms.EncryptInput{KeyId: aws.String("k"), Plaintext: make([]byte, i+1)})
			if err != nil {
				errs <- err
				return
			}
			if want := fmt.Sprintf("len=%d", i+1); string(out.CiphertextBlob) != want {
				errs <- fmt.Errorf("got %q, want %q", out.CiphertextBlob, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestHandleRefusesWiringMistakes(t *testing.T) {
	t.Parallel()
	svc := awsjson.NewService(awsjson.KMSModel())
	svc.Handle("Encrypt", func(context.Context, *awsjson.Request) (any, error) { return nil, nil })
	for _, op := range []string{"Encrypt", "NoSuchOperation"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) did not panic", op)
				}
			}()
			svc.Handle(op, func(context.Context, *awsjson.Request) (any, error) { return nil, nil })
		}()
	}
}
