// Package target is the system under test as the harness sees it: a
// KMS-compatible endpoint and whatever fault hooks come with it (the
// CloudHSM v2 API, the admin API, the stack clock, /metrics), reached only
// over the wire. The embedded stack and an external one described by a
// `keystorm serve --info` file are the same thing from here on; only their
// capabilities differ, and a fault the target cannot perform is reported
// as not applicable, never as passed.
package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	kmsfake "github.com/keystorm/keystorm/fakes/kms"
	fakestack "github.com/keystorm/keystorm/fakes/stack"
)

// Info is the description of a target: the file `keystorm serve --info`
// writes and `keystorm run --stack external --target FILE` reads.
type Info = fakestack.Info

// ClusterInfo is one cluster of a target.
type ClusterInfo = fakestack.ClusterInfo

// A Capability is something a target can be asked to do beyond the KMS API.
type Capability string

// The capabilities a fault or step may need.
const (
	// KMS is the KMS API; every target has it.
	KMS Capability = "kms"
	// ControlPlane is the CloudHSM v2 API (DeleteHsm, CreateHsm,
	// CreateCluster from a backup, DeleteCluster, DescribeBackups).
	ControlPlane Capability = "cloudhsm-api"
	// HSMClient is the CloudHSM CLI's actions on a cluster (log in as a
	// user, change a password, delete a key), through the admin API.
	HSMClient Capability = "hsm-client"
	// Admin is the admin API's fault hooks (network, latency, subnets,
	// session caps, internal errors, backups on demand).
	Admin Capability = "admin"
	// Clock is control of the stack clock (speed, advance).
	Clock Capability = "clock"
	// Metrics is the stack's Prometheus /metrics endpoint.
	Metrics Capability = "metrics"
	// Audit is the KMS audit log's management events, through the admin
	// API (CloudTrail, for a real account).
	Audit Capability = "audit"
	// Machines is acting on the machines HSMs run on (kill, pause), through
	// the admin API: the containers stack, where each HSM is a container.
	Machines Capability = "machines"
)

// Capabilities lists every capability, in a stable order.
var Capabilities = []Capability{KMS, ControlPlane, HSMClient, Admin, Clock, Metrics, Audit, Machines}

// Stack is a running target.
type Stack interface {
	// Kind names the target: "embedded", "external" or "containers".
	Kind() string
	Info() Info
	Has(Capability) bool
	// KMS is an AWS SDK client of the target's KMS endpoint, with no
	// retries (the harness decides what to retry).
	KMS() *kms.Client
	// CloudHSM is a client of the CloudHSM v2 API; nil without ControlPlane.
	CloudHSM() *cloudhsmv2.Client
	// Admin is a client of the admin API; nil without Admin.
	Admin() *AdminClient
	// HTTP is the client for everything else (metrics scrapes).
	HTTP() *http.Client
	// Close releases the target (stops an embedded stack).
	Close(ctx context.Context) error
}

// ErrMissing is returned for a capability the target lacks.
var ErrMissing = errors.New("target lacks the capability")

// MissingError names the capability that is missing.
type MissingError struct{ Capability Capability }

func (e *MissingError) Error() string {
	return fmt.Sprintf("target lacks the %s capability", e.Capability)
}

// Is makes errors.Is(err, ErrMissing) hold.
func (e *MissingError) Is(target error) bool { return target == ErrMissing }

// Require returns a *MissingError for the first of caps s lacks.
func Require(s Stack, caps ...Capability) error {
	for _, c := range caps {
		if !s.Has(c) {
			return &MissingError{Capability: c}
		}
	}
	return nil
}

// EmbeddedOptions configure the embedded stack.
type EmbeddedOptions struct {
	Clusters        int
	Speed           float64
	ConnectDuration time.Duration
	Audit           io.Writer
	// Bugs break the stack on purpose: keystorm's tests use them to show
	// its checks catch a stack that fails the wrong way.
	Bugs kmsfake.Bugs
}

// StartEmbedded starts the embedded stack in this process.
func StartEmbedded(ctx context.Context, opts EmbeddedOptions) (Stack, error) {
	st, err := fakestack.Start(ctx, fakestack.Options{
		Clusters: opts.Clusters, Speed: opts.Speed, ConnectDuration: opts.ConnectDuration, Audit: opts.Audit, Bugs: opts.Bugs,
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded stack: %w", err)
	}
	r := newRemote("embedded", st.Info(), nil)
	r.close = st.Close
	return r, nil
}

// ReadInfo reads and checks a target file.
func ReadInfo(path string) (Info, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Info{}, fmt.Errorf("target file: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var info Info
	if err := dec.Decode(&info); err != nil {
		return Info{}, fmt.Errorf("target file %s: %w", path, err)
	}
	var missing []string
	for field, v := range map[string]string{
		"region": info.Region, "access_key_id": info.AccessKeyID,
		"secret_access_key": info.SecretAccessKey, "kms_endpoint": info.KMSEndpoint,
	} {
		if v == "" {
			missing = append(missing, field)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Info{}, fmt.Errorf("target file %s: missing %s", path, strings.Join(missing, ", "))
	}
	return info, nil
}

// External is a target someone else runs, described by info; its
// capabilities are what its info names (an admin endpoint brings the
// admin API, the HSM client and the clock).
func External(info Info) Stack {
	return newRemote("external", info, nil)
}

// remote reaches a target over the wire; it is both the embedded and the
// external target.
type remote struct {
	kind     string
	info     Info
	caps     []Capability
	kms      *kms.Client
	cloudhsm *cloudhsmv2.Client
	admin    *AdminClient
	http     *http.Client
	close    func(context.Context) error
}

func newRemote(kind string, info Info, httpClient *http.Client) *remote {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	r := &remote{kind: kind, info: info, http: httpClient, caps: []Capability{KMS}}
	creds := credentials.NewStaticCredentialsProvider(info.AccessKeyID, info.SecretAccessKey, "")
	r.kms = kms.New(kms.Options{
		Region: info.Region, BaseEndpoint: aws.String(info.KMSEndpoint),
		Credentials: creds, Retryer: aws.NopRetryer{}, HTTPClient: httpClient,
	})
	if info.CloudHSMEndpoint != "" {
		r.caps = append(r.caps, ControlPlane)
		r.cloudhsm = cloudhsmv2.New(cloudhsmv2.Options{
			Region: info.Region, BaseEndpoint: aws.String(info.CloudHSMEndpoint),
			Credentials: creds, Retryer: aws.NopRetryer{}, HTTPClient: httpClient,
		})
	}
	if info.AdminEndpoint != "" {
		r.caps = append(r.caps, Admin, HSMClient, Clock, Audit)
		r.admin = &AdminClient{Endpoint: strings.TrimRight(info.AdminEndpoint, "/"), Token: info.AdminToken, HTTP: httpClient}
		if info.Machines {
			r.caps = append(r.caps, Machines)
		}
	}
	if info.MetricsEndpoint != "" {
		r.caps = append(r.caps, Metrics)
	}
	return r
}

func (r *remote) Kind() string                 { return r.kind }
func (r *remote) Info() Info                   { return r.info }
func (r *remote) Has(c Capability) bool        { return slices.Contains(r.caps, c) }
func (r *remote) KMS() *kms.Client             { return r.kms }
func (r *remote) CloudHSM() *cloudhsmv2.Client { return r.cloudhsm }
func (r *remote) Admin() *AdminClient          { return r.admin }
func (r *remote) HTTP() *http.Client           { return r.http }

func (r *remote) Close(ctx context.Context) error {
	if r.close == nil {
		return nil
	}
	close := r.close
	r.close = nil
	return close(ctx)
}
