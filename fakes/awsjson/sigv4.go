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
	if !strings.Contains(";"+auth.signedHeaders+";", ";host;") {
		return "", time.Time{}, clientError(InvalidSignatureException,
			"'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	want, err := s.resign(ctx, r, body, auth, secret, signedAt)
	if err != nil {
		return "", time.Time{}, err
	}
	if want.signedHeaders != auth.signedHeaders ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(auth.signature)) != 1 {
		return "", time.Time{}, clientError(InvalidSignatureException, msgBadSignature)
	}
	return auth.accessKeyID, signedAt, nil
}

// parseAuthorization reads the Authorization header and the signing time, with the
// IncompleteSignatureException texts AWS gives for a header it cannot use.
func parseAuthorization(header string, h http.Header) (authorization, time.Time, *Error) {
	alg, rest, _ := strings.Cut(header, " ")
	params := map[string]string{}
	if alg == sigV4Algorithm {
		for part := range strings.SplitSeq(rest, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			k, v, ok := strings.Cut(part, "=")
			if !ok {
				return authorization{}, time.Time{}, clientError(IncompleteSignatureException, fmt.Sprintf(
					"'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", part, header))
			}
			params[k] = v
		}
	}
	dateHeader := h.Get("X-Amz-Date")
	var missing []string
	for _, p := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[p] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", p))
		}
	}
	if dateHeader == "" && h.Get("Date") == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return authorization{}, time.Time{}, clientError(IncompleteSignatureException,
			strings.Join(missing, " ")+" Authorization="+header)
	}
	cred := strings.Split(params["Credential"], "/")
	if len(cred) != 5 {
		return authorization{}, time.Time{}, clientError(IncompleteSignatureException, fmt.Sprintf(
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'",
			params["Credential"]))
	}
	var signedAt time.Time
	var err error
	if dateHeader != "" {
		signedAt, err = time.Parse(amzDateFormat, dateHeader)
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
	return authorization{
		accessKeyID:   cred[0],
		date:          cred[1],
		region:        cred[2],
		service:       cred[3],
		term:          cred[4],
		signedHeaders: params["SignedHeaders"],
		signature:     params["Signature"],
	}, signedAt.UTC(), nil
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
	if day := signedAt.Format("20060102"); a.date != day {
		return clientError(InvalidSignatureException, fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			a.date, day, signedAt.Format(amzDateFormat)))
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

// resign signs a copy of r the way the client should have and returns what the signer put
// in its Authorization header.
func (s *Service) resign(ctx context.Context, r *http.Request, body []byte, a authorization, secret string, signedAt time.Time) (authorization, *Error) {
	cp := &http.Request{
		Method: r.Method,
		// No scheme: the signer would otherwise strip a default port from the Host the
		// client signed.
		URL:    &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Host:   r.Host,
		Header: http.Header{},
	}
	for name := range strings.SplitSeq(a.signedHeaders, ";") {
		switch name {
		case "host":
		case "content-length":
			// The signer signs Content-Length only from the request's length, and only
			// when it is positive.
			cp.ContentLength = r.ContentLength
		default:
			key := textproto.CanonicalMIMEHeaderKey(name)
			if vals := r.Header.Values(key); len(vals) > 0 {
				cp.Header[key] = vals
			}
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: a.accessKeyID, SecretAccessKey: secret}
	if err := signer.SignHTTP(ctx, creds, cp, hex.EncodeToString(sum[:]), a.service, a.region, signedAt); err != nil {
		// The signer fails only on programming errors; the client still gets a generic 500.
		return authorization{}, &Error{Type: s.internalError, Message: internalErrorMessage, Status: http.StatusInternalServerError}
	}
	_, rest, _ := strings.Cut(cp.Header.Get("Authorization"), " ")
	var out authorization
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "SignedHeaders":
			out.signedHeaders = v
		case "Signature":
			out.signature = v
		}
	}
	return out, nil
}
