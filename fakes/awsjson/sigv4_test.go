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
)

const (
	msgBadSignature = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgNeedsDate = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
)

// TestKMSMalformedAuthorization pins what the service answers for Authorization headers it
// cannot use or that do not verify, with the exact texts.
func TestKMSMalformedAuthorization(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	now := time.Now().UTC()
	amzDate, day := now.Format("20060102T150405Z"), now.Format("20060102")
	scope := testAccessKey + "/" + day + "/us-east-1/kms/aws4_request"
	tests := []struct {
		name          string
		authorization string
		amzDate       string // X-Amz-Date; "" leaves it out
		date          string // Date; "" leaves it out
		typ, message  string
	}{
		// A parameter without "=" is refused before anything else is looked at.
		{"parameter without equal sign",
			"AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature", amzDate, "",
			"IncompleteSignatureException",
			"'Signature' not a valid key=value pair (missing equal-sign) in Authorization header: " +
				"'AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature'."},
		// No parameters at all: every missing one is named, in AWS's order.
		{"no parameters", "AWS4-HMAC-SHA256", amzDate, "", "IncompleteSignatureException",
			"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
				"Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256"},
		// Another algorithm: its parameters are not read, so all are missing.
		{"other algorithm", "AWS3 Credential=" + scope + ", SignedHeaders=host, Signature=00", amzDate, "",
			"IncompleteSignatureException",
			"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
				"Authorization header requires 'SignedHeaders' parameter. Authorization=AWS3 Credential=" + scope +
				", SignedHeaders=host, Signature=00"},
		// An empty value is a missing parameter; empty parts are skipped.
		{"empty signature, empty parts", "AWS4-HMAC-SHA256 Credential=" + scope + ", , SignedHeaders=host,Signature=", amzDate, "",
			"IncompleteSignatureException",
			"Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 Credential=" + scope +
				", , SignedHeaders=host,Signature="},
		// Neither date header: named along with the missing parameters.
		{"no date header", "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host", "", "",
			"IncompleteSignatureException",
			"Authorization header requires 'Signature' parameter. " + msgNeedsDate +
				" Authorization=AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host"},
		// A credential of four elements.
		{"short credential", "AWS4-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=00", amzDate, "",
			"IncompleteSignatureException",
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'a/b/c/d'"},
		// A credential of six elements.
		{"long credential", "AWS4-HMAC-SHA256 Credential=" + scope + "/x, SignedHeaders=host, Signature=00", amzDate, "",
			"IncompleteSignatureException",
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '" + scope + "/x'"},
		// An X-Amz-Date that is not ISO-8601 basic format.
		{"bad X-Amz-Date", "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=00", "yesterday", "",
			"IncompleteSignatureException",
			"Date must be in ISO-8601 'basic format'. Got 'yesterday'. See http://en.wikipedia.org/wiki/ISO_8601"},
		// A bad Date header, when it is the only one.
		{"bad Date", "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=00", "", "someday",
			"IncompleteSignatureException",
			"Date must be in ISO-8601 'basic format'. Got 'someday'. See http://en.wikipedia.org/wiki/ISO_8601"},
		// A repeated parameter keeps its last value: the short credential is overridden.
		{"repeated parameter, last wins",
			"AWS4-HMAC-SHA256 Credential=a/b/c/d, Credential=" + scope + ", SignedHeaders=host, Signature=00", amzDate, "",
			"InvalidSignatureException", msgBadSignature},
		// A scope date that is not the signing day.
		{"scope date", "AWS4-HMAC-SHA256 Credential=" + testAccessKey + "/20200101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00",
			amzDate, "", "InvalidSignatureException",
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20200101' != '" + day +
				"', from '" + amzDate + "'."},
		// A scope that does not end in aws4_request.
		{"scope terminator", "AWS4-HMAC-SHA256 Credential=" + testAccessKey + "/" + day + "/us-east-1/kms/aws4_reques, SignedHeaders=host, Signature=00",
			amzDate, "", "InvalidSignatureException",
			"Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_reques'."},
		// Host must be signed, however the list is ordered.
		{"host not signed", "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=x-amz-date;hostx, Signature=00", amzDate, "",
			"InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		// Host signed, the signature wrong.
		{"host signed, wrong signature", "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=content-type;host;x-amz-date, Signature=00",
			amzDate, "", "InvalidSignatureException", msgBadSignature},
		// Only a Date header: accepted for the clock, but the signer always signs X-Amz-Date.
		{"only a Date header", "AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=date;host, Signature=00",
			"", now.Format(http.TimeFormat), "InvalidSignatureException", msgBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader([]byte("{}")))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Target", "TrentService.DescribeCustomKeyStores")
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("Authorization", tt.authorization)
			if tt.amzDate != "" {
				req.Header.Set("X-Amz-Date", tt.amzDate)
			}
			if tt.date != "" {
				req.Header.Set("Date", tt.date)
			}
			send(t, req).wantError(t, http.StatusBadRequest, tt.typ, tt.message)
		})
	}
}

// TestKMSSignatureCoversRequest changes one signed part of a correctly signed request at a
// time: each change must fail verification, and an unsigned header may change freely.
func TestKMSSignatureCoversRequest(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	tests := []struct {
		name   string
		change func(*http.Request)
		ok     bool
	}{
		{"unchanged", func(*http.Request) {}, true},
		{"unsigned header changed", func(r *http.Request) { r.Header.Set("User-Agent", "other") }, true},
		{"repeated signed header", func(r *http.Request) { r.Header.Add("X-Amz-Meta", "two") }, false},
		{"signed header changed", func(r *http.Request) { r.Header.Set("X-Amz-Meta", "other") }, false},
		{"target changed", func(r *http.Request) { r.Header.Set("X-Amz-Target", "TrentService.Encrypt") }, false},
		{"body changed", func(r *http.Request) { setBody(r, `{"Limit":2}`) }, false},
		{"body of another length", func(r *http.Request) { setBody(r, `{ }`) }, false},
		{"query added", func(r *http.Request) { r.URL.RawQuery = "a=b" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodPost, url+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			setBody(req, "{}")
			req.Header.Set("X-Amz-Target", "TrentService.DescribeCustomKeyStores")
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Meta", "one")
			req.Header.Set("User-Agent", "test")
			sum := sha256.Sum256([]byte("{}"))
			creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", testRegion, time.Now()); err != nil {
				t.Fatal(err)
			}
			tt.change(req)
			r := send(t, req)
			if tt.ok {
				if r.status != http.StatusOK {
					t.Fatalf("got %d %s, want 200", r.status, r.raw)
				}
				return
			}
			r.wantError(t, http.StatusBadRequest, "InvalidSignatureException", msgBadSignature)
		})
	}
}

func setBody(r *http.Request, body string) {
	r.Body = io.NopCloser(bytes.NewReader([]byte(body)))
	r.ContentLength = int64(len(body))
}
