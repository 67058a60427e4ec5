package awsjson

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	scopeTerm      = "aws4_request"
	// maxClockSkew is how far X-Amz-Date may be from the server's clock, as AWS allows.
	maxClockSkew = 5 * time.Minute
)

// AWS's SigV4 error texts. The first three are verbatim from the real services; the
// "Signature expired" and scope messages follow their documented formats (README.md).
const (
	msgMissingToken     = "Missing Authentication Token"
	msgUnknownAccessKey = "The security token included in the request is invalid."
	msgBadSignature     = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// signer is safe for concurrent use: SignHTTP takes everything per call.
var signer = v4.NewSigner()

// authorization is a parsed "Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." header.
type authorization struct {
	accessKeyID, date, region, service, term string
	signedHeaders                            string
	signature                                string
}

// authenticate verifies the request's SigV4 signature against the configured credentials
// and returns the caller's access key id and signing time. It does not hand-roll SigV4: it
// re-signs a copy of the request, carrying only the headers the client signed, with the
// aws-sdk-go-v2 signer at the client's X-Amz-Date and the hash of the body received, and
// compares the two signatures in constant time.
func (s *Service) authenticate(ctx context.Context, r *http.Request, body []byte) (string, time.Time, *Error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return "", time.Time{}, clientError(MissingAuthenticationTokenException, msgMissingToken)
	}
	auth, signedAt, err := parseAuthorization(header, r.Header)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := checkClock(signedAt, s.now()); err != nil {
		return "", time.Time{}, err
	}
	if err := s.checkScope(auth, signedAt); err != nil {
		return "", time.Time{}, err
	}
	secret, ok := s.credentials[auth.accessKeyID]
	if !ok {
		return "", time.Time{}, clientError(UnrecognizedClientException, msgUnknownAccessKey)
	}
	if !signsHost(auth.signedHeaders) {
		return "", time.Time{}, clientError(InvalidSignatureException,
			"'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	wantHeaders, wantSignature, err := s.resign(ctx, r, body, auth, secret, signedAt)
	if err != nil {
		return "", time.Time{}, err
	}
	if wantHeaders != auth.signedHeaders || subtle.ConstantTimeCompare([]byte(wantSignature), []byte(auth.signature)) != 1 {
		return "", time.Time{}, clientError(InvalidSignatureException, msgBadSignature)
	}
	return auth.accessKeyID, signedAt, nil
}

// parseAuthorization reads the Authorization header and the signing time, with the
// IncompleteSignatureException texts AWS gives for a header it cannot use.
func parseAuthorization(header string, h http.Header) (authorization, time.Time, *Error) {
	credential, signedHeaders, signature, perr := authorizationParams(header)
	if perr != nil {
		return authorization{}, time.Time{}, perr
	}
	dateHeader := h.Get("X-Amz-Date")
	dated := dateHeader != "" || h.Get("Date") != ""
	if credential == "" || signature == "" || signedHeaders == "" || !dated {
		return authorization{}, time.Time{}, missingParams(header, credential, signature, signedHeaders, dated)
	}
	a, ok := splitCredential(credential)
	if !ok {
		return authorization{}, time.Time{}, clientError(IncompleteSignatureException, fmt.Sprintf(
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'",
			credential))
	}
	var signedAt time.Time
	var err error
	if dateHeader != "" {
		signedAt, err = parseAmzDate(dateHeader)
	} else {
		// Only the Date header: accepted for the clock check, but the aws-sdk-go-v2 signer
		// always signs X-Amz-Date, so such a request cannot verify (no AWS SDK sends one).
		dateHeader = h.Get("Date")
		signedAt, err = http.ParseTime(dateHeader)
	}
	if err != nil {
		return authorization{}, time.Time{}, clientError(IncompleteSignatureException, fmt.Sprintf(
			"Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", dateHeader))
	}
	a.signedHeaders, a.signature = signedHeaders, signature
	return a, signedAt.UTC(), nil
}

// authorizationParams reads the SigV4 parameters of an Authorization header, in one pass
// and without a map: this runs on every request. As with a map, a repeated parameter keeps
// its last value; other algorithms have no parameters the service reads.
func authorizationParams(header string) (credential, signedHeaders, signature string, err *Error) {
	alg, rest, _ := strings.Cut(header, " ")
	if alg != sigV4Algorithm {
		return "", "", "", nil
	}
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return "", "", "", clientError(IncompleteSignatureException, fmt.Sprintf(
				"'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", part, header))
		}
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			signature = v
		}
	}
	return credential, signedHeaders, signature, nil
}

// missingParams names every missing part of an Authorization header, in AWS's order.
func missingParams(header, credential, signature, signedHeaders string, dated bool) *Error {
	var missing []string
	for _, p := range []struct{ name, value string }{
		{"Credential", credential}, {"Signature", signature}, {"SignedHeaders", signedHeaders},
	} {
		if p.value == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", p.name))
		}
	}
	if !dated {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	return clientError(IncompleteSignatureException, strings.Join(missing, " ")+" Authorization="+header)
}

// splitCredential splits keyid/date/region/service/term; ok is false unless there are
// exactly five elements.
func splitCredential(credential string) (authorization, bool) {
	if strings.Count(credential, "/") != 4 {
		return authorization{}, false
	}
	keyID, rest, _ := strings.Cut(credential, "/")
	date, rest, _ := strings.Cut(rest, "/")
	region, rest, _ := strings.Cut(rest, "/")
	service, term, _ := strings.Cut(rest, "/")
	return authorization{accessKeyID: keyID, date: date, region: region, service: service, term: term}, true
}

// lastAmzDate is the X-Amz-Date parsed last. Under load every request signed in the same
// second carries the same one, and time.Parse interprets its layout on every call.
var lastAmzDate atomic.Pointer[amzDate]

type amzDate struct {
	value string
	t     time.Time
}

// parseAmzDate is time.Parse(amzDateFormat, v), remembering the last value parsed.
func parseAmzDate(v string) (time.Time, error) {
	if last := lastAmzDate.Load(); last != nil && last.value == v {
		return last.t, nil
	}
	t, err := time.Parse(amzDateFormat, v)
	if err == nil {
		lastAmzDate.Store(&amzDate{value: v, t: t})
	}
	return t, err
}

// checkClock refuses a signature more than five minutes away from now, in AWS's words.
func checkClock(signedAt, now time.Time) *Error {
	now = now.UTC()
	if earliest := now.Add(-maxClockSkew); signedAt.Before(earliest) {
		return clientError(InvalidSignatureException, fmt.Sprintf(
			"Signature expired: %s is now earlier than %s (%s - 5 min.)",
			signedAt.Format(amzDateFormat), earliest.Format(amzDateFormat), now.Format(amzDateFormat)))
	}
	if latest := now.Add(maxClockSkew); signedAt.After(latest) {
		return clientError(InvalidSignatureException, fmt.Sprintf(
			"Signature not yet current: %s is still later than %s (%s + 5 min.)",
			signedAt.Format(amzDateFormat), latest.Format(amzDateFormat), now.Format(amzDateFormat)))
	}
	return nil
}

// checkScope checks the credential scope date/region/service/aws4_request against the
// signing time and this service, before any secret is looked up, as AWS does.
func (s *Service) checkScope(a authorization, signedAt time.Time) *Error {
	if !signedOn(a.date, signedAt) {
		return clientError(InvalidSignatureException, fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			a.date, signedAt.Format("20060102"), signedAt.Format(amzDateFormat)))
	}
	if a.term != scopeTerm {
		return clientError(InvalidSignatureException, fmt.Sprintf(
			"Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerm, a.term))
	}
	if a.service != s.model.Metadata.SigningName {
		return clientError(InvalidSignatureException, fmt.Sprintf(
			"Credential should be scoped to correct service: '%s'. ", s.model.Metadata.SigningName))
	}
	if a.region != s.region {
		return clientError(InvalidSignatureException, fmt.Sprintf(
			"Credential should be scoped to a valid region, not '%s'. ", a.region))
	}
	return nil
}

// signedOn reports whether day (YYYYMMDD) is the day of t, without formatting t on the heap.
func signedOn(day string, t time.Time) bool {
	var buf [len("20060102")]byte
	return string(t.AppendFormat(buf[:0], "20060102")) == day
}

// signsHost reports whether a SignedHeaders list names host.
func signsHost(signedHeaders string) bool {
	for name := range strings.SplitSeq(signedHeaders, ";") {
		if name == "host" {
			return true
		}
	}
	return false
}

// resign signs a copy of r the way the client should have and returns the SignedHeaders
// and Signature the signer put in its Authorization header.
func (s *Service) resign(ctx context.Context, r *http.Request, body []byte, a authorization, secret string, signedAt time.Time) (signedHeaders, signature string, aerr *Error) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	cp := sc.copyOf(r, a.signedHeaders)
	sum := sha256.Sum256(body)
	var payloadHash [2 * sha256.Size]byte
	hex.Encode(payloadHash[:], sum[:])
	creds := aws.Credentials{AccessKeyID: a.accessKeyID, SecretAccessKey: secret}
	if err := signer.SignHTTP(ctx, creds, cp, string(payloadHash[:]), a.service, a.region, signedAt); err != nil {
		// The signer fails only on programming errors; the client still gets a generic 500.
		return "", "", &Error{Type: s.internalError, Message: internalErrorMessage, Status: http.StatusInternalServerError}
	}
	_, signedHeaders, signature, _ = authorizationParams(cp.Header.Get("Authorization"))
	return signedHeaders, signature, nil
}

// A scratch is the copy of a request that resign hands the signer. It is pooled: the
// request, its URL and header map are most of what re-signing allocates outside the
// signer, which keeps no reference to them.
type scratch struct {
	req    http.Request
	url    url.URL
	header http.Header
}

var scratchPool = sync.Pool{New: func() any { return &scratch{header: http.Header{}} }}

// copyOf makes the scratch request a copy of r carrying only the headers named in
// signedHeaders (lower case, ";"-separated), and returns it.
func (sc *scratch) copyOf(r *http.Request, signedHeaders string) *http.Request {
	clear(sc.header)
	// No scheme: the signer would otherwise strip a default port from the Host the client
	// signed.
	sc.url = url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	sc.req = http.Request{Method: r.Method, URL: &sc.url, Host: r.Host, Header: sc.header}
	for name := range strings.SplitSeq(signedHeaders, ";") {
		switch name {
		case "host":
		case "content-length":
			// The signer signs Content-Length only from the request's length, and only
			// when it is positive.
			sc.req.ContentLength = r.ContentLength
		default:
			key := canonicalHeaderKey(name)
			if vals := r.Header[key]; len(vals) > 0 {
				sc.header[key] = vals
			}
		}
	}
	return &sc.req
}

// canonicalKeys are the canonical forms of the header names SDKs sign, which
// textproto.CanonicalMIMEHeaderKey would otherwise allocate on every request.
var canonicalKeys = func() map[string]string {
	keys := map[string]string{}
	for _, name := range []string{
		"amz-sdk-invocation-id", "amz-sdk-request", "content-type", "x-amz-date", "x-amz-target",
		"x-amz-security-token", "x-amz-content-sha256", "x-amz-user-agent", "user-agent",
	} {
		keys[name] = textproto.CanonicalMIMEHeaderKey(name)
	}
	return keys
}()

func canonicalHeaderKey(name string) string {
	if key, ok := canonicalKeys[name]; ok {
		return key
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}
