package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// signingName is KMS's SigV4 service name.
const signingName = "kms"

// signingTransport signs each request with SigV4 as it goes out, so that
// the signing time is the send time however long vegeta's worker took to
// get there (a request signed at the targeter could be minutes old under
// a stall, and the service refuses signatures five minutes off). It also
// tells the ledger that the hit was sent and when it was due, and aborts
// the requests in flight when the run's ctx ends: vegeta's requests carry
// no ctx of their own.
type signingTransport struct {
	next http.RoundTripper
	// signer is this run's own: the SDK's signer caches derived signing
	// keys by access key id, region and day, not by secret, so a signer
	// shared between runs signs a run with a wrong secret with another
	// run's right one.
	signer *v4.Signer
	creds  aws.Credentials
	region string
	ledger *ledger
	due    func(hit uint64) time.Duration
	run    context.Context
}

var _ http.RoundTripper = (*signingTransport)(nil)

func (t *signingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	// Due is asked here, as the hit is sent, rather than by the results
	// loop: hits are sent nearly in order, answered in any order, and a
	// Poisson schedule remembers only recent arrivals.
	var hash string
	if id, err := strconv.ParseUint(r.URL.Fragment, 10, 64); err == nil {
		if seq, err := strconv.ParseUint(r.Header.Get("X-Vegeta-Seq"), 10, 64); err == nil {
			hash, _ = t.ledger.sending(id, t.due(seq))
		}
	}
	if hash == "" {
		// Not one of the targeter's: hash what is there.
		var err error
		if hash, err = bodyHash(r); err != nil {
			closeBody(r)
			return nil, fmt.Errorf("sign request: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(t.run, cancel)
	release := func() {
		stop()
		cancel()
	}
	out := r.Clone(ctx)
	out.URL.Fragment, out.URL.RawFragment = "", ""
	for name := range out.Header {
		// vegeta's bookkeeping is not the service's business.
		if strings.HasPrefix(name, "X-Vegeta-") {
			delete(out.Header, name)
		}
	}
	if err := t.signer.SignHTTP(ctx, t.creds, out, hash, signingName, t.region, time.Now()); err != nil {
		release()
		closeBody(r)
		return nil, fmt.Errorf("sign request: %w", err)
	}
	resp, err := t.next.RoundTrip(out)
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody ends a request's ctx once its body is closed, not when
// RoundTrip returns: the body is still being read then.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

func bodyHash(r *http.Request) (string, error) {
	h := sha256.New()
	if r.Body != nil && r.Body != http.NoBody {
		if r.GetBody == nil {
			return "", fmt.Errorf("%s %s: body cannot be read twice", r.Method, r.URL.Redacted())
		}
		body, err := r.GetBody()
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", r.Method, r.URL.Redacted(), err)
		}
		defer body.Close()
		if _, err := io.Copy(h, body); err != nil {
			return "", fmt.Errorf("%s %s: %w", r.Method, r.URL.Redacted(), err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// closeBody closes a request body RoundTrip will not pass on, as the
// RoundTripper contract asks.
func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// newTransport is the connection pool of one run: keep-alive (a new TCP
// connection per request would measure the harness's handshakes, not the
// store), as many idle connections per host as vegeta keeps, and dial and
// TLS bounded by the request timeout.
func newTransport(timeout time.Duration) *http.Transport {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: timeout,
		MaxIdleConnsPerHost: vegeta.DefaultConnections,
		IdleConnTimeout:     90 * time.Second,
	}
}
