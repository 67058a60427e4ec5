package awsjson_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/keystorm/keystorm/fakes/awsjson"
)

// BenchmarkServeEncrypt measures the server's own pipeline for one Encrypt, without the
// network or a client: routing, SigV4 verification, deserialization and validation, a
// typed handler and the response. The request carries the headers aws-sdk-go-v2 signs.
func BenchmarkServeEncrypt(b *testing.B) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	svc := awsjson.NewService(awsjson.KMSModel(),
		awsjson.WithCredentials(map[string]string{testAccessKey: testSecret}),
		awsjson.WithClock(func() time.Time { return at }))
	type encryptInput struct {
		KeyId     string
		Plaintext []byte
	}
	type encryptOutput struct {
		CiphertextBlob      []byte
		KeyId               string
		EncryptionAlgorithm string
	}
	svc.Handle("Encrypt", awsjson.Typed(func(_ context.Context, in encryptInput) (any, error) {
		return &encryptOutput{CiphertextBlob: in.Plaintext, KeyId: in.KeyId, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
	}))
	body := []byte(`{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","Plaintext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`)
	req := signedSDKRequest(b, body, at)
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		clear(w.header)
		w.status = 0
		svc.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// signedSDKRequest is an Encrypt request as aws-sdk-go-v2 sends it, signed at at.
func signedSDKRequest(b *testing.B, body []byte, at time.Time) *http.Request {
	b.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Amz-Sdk-Invocation-Id", "336bba28-d359-4265-b4ee-41952e11bf4c")
	req.Header.Set("Amz-Sdk-Request", "attempt=1; max=1")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0 ua/2.1 os/linux lang/go#1.26.8 api/kms#1.62.5 m/e")
	req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", testRegion, at); err != nil {
		b.Fatal(err)
	}
	// As the server sees it: the Host header moved to Request.Host.
	req.RequestURI = "/"
	return req
}

// discardWriter is a ResponseWriter that keeps only the status, so the benchmark measures
// the service rather than a recorder.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
