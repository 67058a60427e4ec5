package awsjson_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/keystorm/keystorm/fakes/awsjson"
)

const (
	testAccessKey = "AKIAKEYSTORMTEST0001"
	testSecret    = "keystorm/test/secret/0001"
	testRegion    = "us-east-1"
)

// newServer serves svc on 127.0.0.1 for the duration of the test. Handler failures are
// logged to the test log rather than stderr.
func newServer(t *testing.T, model *awsjson.Model, opts ...awsjson.Option) (*awsjson.Service, string) {
	t.Helper()
	base := []awsjson.Option{
		awsjson.WithCredentials(map[string]string{testAccessKey: testSecret}),
		awsjson.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))),
	}
	svc := awsjson.NewService(model, append(base, opts...)...)
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	return svc, srv.URL
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// httpClient returns a client whose idle connections are closed with the test, so that
// goleak finds no keep-alive goroutines.
func httpClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// awsConfig is a static-credential config without retries, so that every error the server
// sends reaches the test unchanged and exactly once.
func awsConfig(t *testing.T, accessKey, secret string) aws.Config {
	return aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:  httpClient(t),
	}
}

func kmsClient(t *testing.T, url, accessKey, secret string) *kms.Client {
	t.Helper()
	return kms.NewFromConfig(awsConfig(t, accessKey, secret), func(o *kms.Options) {
		o.BaseEndpoint = aws.String(url)
	})
}

func cloudHSMClient(t *testing.T, url, accessKey, secret string) *cloudhsmv2.Client {
	t.Helper()
	return cloudhsmv2.NewFromConfig(awsConfig(t, accessKey, secret), func(o *cloudhsmv2.Options) {
		o.BaseEndpoint = aws.String(url)
	})
}

// apiError unpacks an SDK error into the AWS error code, message and HTTP status.
func apiError(t *testing.T, err error) (code, message string, status int) {
	t.Helper()
	if err == nil {
		t.Fatal("call succeeded, want an AWS error")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an AWS API error", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), ae.ErrorMessage(), status
}

// signing says how a raw request is signed; the zero value signs correctly, now.
type signing struct {
	accessKey, secret, region, service string
	at                                 time.Time
	unsigned                           bool
}

// rawResponse is a response read in full.
type rawResponse struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// post sends a hand-built AWS JSON request, signed with the aws-sdk-go-v2 signer as a
// client would, for the cases an SDK refuses to produce (wrong types, missing members).
func post(t *testing.T, url, target, contentType, body string, s signing) rawResponse {
	t.Helper()
	if s.accessKey == "" {
		s.accessKey, s.secret = testAccessKey, testSecret
	}
	if s.region == "" {
		s.region = testRegion
	}
	if s.service == "" {
		s.service = "kms"
	}
	if s.at.IsZero() {
		s.at = time.Now()
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url+"/", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if !s.unsigned {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: s.accessKey, SecretAccessKey: s.secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), s.service, s.region, s.at); err != nil {
			t.Fatal(err)
		}
	}
	return send(t, req)
}

// send sends req as it is and reads the JSON response.
func send(t *testing.T, req *http.Request) rawResponse {
	t.Helper()
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := rawResponse{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Fatalf("response body %q is not a JSON object: %v", raw, err)
	}
	return out
}

// wantError checks an error response's status and body.
func (r rawResponse) wantError(t *testing.T, status int, typ, message string) {
	t.Helper()
	if r.status != status || r.body["__type"] != typ {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, typ)
	}
	got, _ := r.body["message"].(string)
	if got != message {
		t.Errorf("message = %q\nwant      %q", got, message)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.header.Get("X-Amzn-Requestid") == "" {
		t.Error("no x-amzn-RequestId header")
	}
}
