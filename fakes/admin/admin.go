// Package admin is the stack's admin API: the faults that have no operator
// action (a blocked network path, a deleted subnet, used-up addresses, a
// session cap, an internal error, added latency, broken security group
// rules, a cluster that is not ACTIVE), on-demand backups, and the stack
// clock. Plain JSON over HTTP on its own loopback port, guarded by a bearer
// token.
//
//	POST /v1/network        {"cluster_id": "...", "hsm_id": "", "blocked": true}
//	POST /v1/latency        {"cluster_id": "...", "hsm_id": "", "latency": "50ms"}
//	POST /v1/security-group {"cluster_id": "...", "broken": true}
//	POST /v1/cluster-state  {"cluster_id": "...", "state": "DEGRADED" | "ACTIVE"}
//	POST /v1/subnets        {"az": "us-east-1a", "free": 11} -> {"subnet_id", "az", "free"}
//	POST /v1/subnets/delete {"subnet_id": "..."}
//	POST /v1/subnets/free   {"subnet_id": "...", "free": 0}
//	POST /v1/sessions       {"max_per_hsm": 2}
//	POST /v1/internal-error {"operation": "Encrypt" | "*" | "connect", "count": 1}
//	POST /v1/backups        {"cluster_id": "..."}
//	GET  /v1/clock          POST /v1/clock {"speed": 60} or {"advance": "168h"}
//	GET  /v1/audit?after=N  the KMS audit log's management events (CreateKey,
//	                        DeleteKey, ...) after the N-th: {"events": [...], "next": M}
//
// Answers are JSON; errors are {"error": "..."} naming the bad parameter,
// with 400 for bad input, 404 for an unknown resource, 401 without the token.
package admin

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/kms"
)

// errNoMachines answers a node action on a stack whose HSMs have no
// machines of their own (the embedded stack).
var errNoMachines = errors.New("this stack's HSMs are tokens in its own process, with no machine to act on; run the containers stack")

// API is the admin API's HTTP handler.
type API struct {
	plane *cloudhsm.Plane
	kms   *kms.Service
	token string
	mux   *http.ServeMux
	hsm   *hsmClient
}

var _ http.Handler = (*API)(nil)

// New returns the admin API over a stack's plane and KMS service; callers
// must send "Authorization: Bearer <token>".
func New(p *cloudhsm.Plane, k *kms.Service, token string) *API {
	a := &API{plane: p, kms: k, token: token, mux: http.NewServeMux()}
	route(a, "POST /v1/network", a.network)
	route(a, "POST /v1/latency", a.latency)
	route(a, "POST /v1/nodes", a.node)
	route(a, "POST /v1/security-group", a.securityGroup)
	route(a, "POST /v1/cluster-state", a.clusterState)
	route(a, "POST /v1/subnets", a.addSubnet)
	route(a, "POST /v1/subnets/delete", a.deleteSubnet)
	route(a, "POST /v1/subnets/free", a.freeAddresses)
	route(a, "POST /v1/sessions", a.sessions)
	route(a, "POST /v1/internal-error", a.internalError)
	route(a, "POST /v1/backups", a.backup)
	route(a, "POST /v1/clock", a.setClock)
	a.mux.HandleFunc("GET /v1/clock", func(w http.ResponseWriter, r *http.Request) { a.reply(w, r, a.clock()) })
	a.mux.HandleFunc("GET /v1/audit", a.auditEvents)
	a.registerHSMClient()
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want := []byte("Bearer " + a.token)
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong admin token (Authorization: Bearer <admin_token>)"})
		return
	}
	a.mux.ServeHTTP(w, r)
}

// errBad is a client error: 400, naming the parameter.
type errBad struct{ msg string }

func (e errBad) Error() string { return e.msg }

func bad(format string, args ...any) error { return errBad{fmt.Sprintf(format, args...)} }

// route registers a POST handler decoding its body strictly into In.
func route[In any](a *API, pattern string, fn func(context.Context, In) (any, error)) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		var in In
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "request body: " + err.Error()})
			return
		}
		out, err := fn(r.Context(), in)
		if err != nil {
			a.fail(w, err)
			return
		}
		a.reply(w, r, out)
	})
}

func (a *API) reply(w http.ResponseWriter, _ *http.Request, out any) {
	if out == nil {
		out = map[string]string{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var b errBad
	var act actionErr
	switch {
	case errors.As(err, &act):
		status = http.StatusUnprocessableEntity
	case errors.As(err, &b), errors.Is(err, cloudhsm.ErrInvalidRequest):
		status = http.StatusBadRequest
	case errors.Is(err, cloudhsm.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, errNoMachines):
		status = http.StatusNotImplemented
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// target names a cluster, or one HSM of it.
type target struct {
	ClusterID string `json:"cluster_id"`
	HsmID     string `json:"hsm_id"`
}

func (a *API) resolve(t target) (*cloudhsm.Cluster, *cloudhsm.HSM, error) {
	if t.ClusterID == "" {
		return nil, nil, bad("cluster_id: required")
	}
	c, err := a.plane.Cluster(t.ClusterID)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster_id: %w", err)
	}
	if t.HsmID == "" {
		return c, nil, nil
	}
	for _, h := range c.HSMs() {
		if h.ID() == t.HsmID {
			return c, h, nil
		}
	}
	return nil, nil, fmt.Errorf("hsm_id: HSM %s in cluster %s: %w", t.HsmID, t.ClusterID, cloudhsm.ErrNotFound)
}

type networkInput struct {
	target
	Blocked *bool `json:"blocked"`
}

func (a *API) network(ctx context.Context, in networkInput) (any, error) {
	if in.Blocked == nil {
		return nil, bad("blocked: required (true blocks the path, false restores it)")
	}
	c, h, err := a.resolve(in.target)
	if err != nil {
		return nil, err
	}
	if h != nil {
		err = h.SetBlocked(ctx, *in.Blocked)
	} else {
		err = c.SetBlocked(ctx, *in.Blocked)
	}
	return nil, err
}

type nodeInput struct {
	target
	Action string `json:"action"`
}

// nodeActions are what /v1/nodes does to the machine of an HSM.
var nodeActions = map[string]func(cloudhsm.Machine, context.Context) error{
	"kill":   cloudhsm.Machine.Kill,
	"pause":  cloudhsm.Machine.Pause,
	"resume": cloudhsm.Machine.Resume,
}

// node acts on the machine an HSM runs on; a stack whose HSMs are tokens in
// its own process has none (501).
func (a *API) node(ctx context.Context, in nodeInput) (any, error) {
	act, ok := nodeActions[in.Action]
	if !ok {
		return nil, bad("action: %q is not one of kill, pause, resume", in.Action)
	}
	if in.HsmID == "" {
		return nil, bad("hsm_id: required")
	}
	_, h, err := a.resolve(in.target)
	if err != nil {
		return nil, err
	}
	m := h.Machine()
	if m == nil {
		return nil, errNoMachines
	}
	if err := act(m, ctx); err != nil {
		return nil, fmt.Errorf("%s %s: %w", in.Action, h.ID(), err)
	}
	return nil, nil
}

type latencyInput struct {
	target
	Latency string `json:"latency"`
}

func (a *API) latency(ctx context.Context, in latencyInput) (any, error) {
	d, err := time.ParseDuration(in.Latency)
	if err != nil || d < 0 {
		return nil, bad("latency: %q is not a duration such as \"50ms\" (0 removes it)", in.Latency)
	}
	c, h, err := a.resolve(in.target)
	if err != nil {
		return nil, err
	}
	if h != nil {
		h.SetLatency(d)
	} else {
		c.SetLatency(d)
	}
	return nil, nil
}

type securityGroupInput struct {
	ClusterID string `json:"cluster_id"`
	Broken    *bool  `json:"broken"`
}

func (a *API) securityGroup(ctx context.Context, in securityGroupInput) (any, error) {
	if in.Broken == nil {
		return nil, bad("broken: required")
	}
	c, _, err := a.resolve(target{ClusterID: in.ClusterID})
	if err != nil {
		return nil, err
	}
	c.SetSecurityGroupRulesBroken(*in.Broken)
	return nil, nil
}

type clusterStateInput struct {
	ClusterID string `json:"cluster_id"`
	State     string `json:"state"`
}

// clusterState takes an ACTIVE cluster out of ACTIVE (DEGRADED) and back,
// the cause of CloudHsmClusterNotActiveException on connect.
func (a *API) clusterState(ctx context.Context, in clusterStateInput) (any, error) {
	var degraded bool
	switch cloudhsm.ClusterState(in.State) {
	case cloudhsm.ClusterDegraded:
		degraded = true
	case cloudhsm.ClusterActive:
	default:
		return nil, bad("state: %q, want DEGRADED or ACTIVE", in.State)
	}
	c, _, err := a.resolve(target{ClusterID: in.ClusterID})
	if err != nil {
		return nil, err
	}
	if err := c.SetDegraded(degraded); err != nil {
		return nil, fmt.Errorf("cluster_id: %w", err)
	}
	return nil, nil
}

type subnetInput struct {
	SubnetID string `json:"subnet_id"`
	Free     *int   `json:"free"`
}

type addSubnetInput struct {
	AZ   string `json:"az"`
	Free *int   `json:"free"`
}

// addSubnet makes a subnet, as EC2's CreateSubnet would: the way out of
// SUBNET_NOT_FOUND is a cluster restored from a backup into subnets that
// exist (procedure 6), and a deleted subnet never comes back.
func (a *API) addSubnet(ctx context.Context, in addSubnetInput) (any, error) {
	region := a.plane.Region()
	if len(in.AZ) != len(region)+1 || !strings.HasPrefix(in.AZ, region) {
		return nil, bad("az: %q, want an Availability Zone of %s such as %sa", in.AZ, region, region)
	}
	free := cloudhsm.DefaultFreeAddresses
	if in.Free != nil {
		if *in.Free < 0 {
			return nil, bad("free: %d, want 0 or more", *in.Free)
		}
		free = *in.Free
	}
	s := a.plane.AddSubnet(in.AZ, free)
	return map[string]any{"subnet_id": s.ID, "az": s.AZ, "free": s.FreeAddresses}, nil
}

func (a *API) deleteSubnet(ctx context.Context, in subnetInput) (any, error) {
	if in.SubnetID == "" {
		return nil, bad("subnet_id: required")
	}
	if err := a.plane.DeleteSubnet(ctx, in.SubnetID); err != nil {
		return nil, fmt.Errorf("subnet_id: %w", err)
	}
	return nil, nil
}

func (a *API) freeAddresses(ctx context.Context, in subnetInput) (any, error) {
	if in.SubnetID == "" {
		return nil, bad("subnet_id: required")
	}
	if in.Free == nil || *in.Free < 0 {
		return nil, bad("free: required, 0 or more")
	}
	if err := a.plane.SetFreeAddresses(in.SubnetID, *in.Free); err != nil {
		return nil, fmt.Errorf("subnet_id: %w", err)
	}
	return nil, nil
}

type sessionsInput struct {
	MaxPerHSM int `json:"max_per_hsm"`
}

func (a *API) sessions(ctx context.Context, in sessionsInput) (any, error) {
	if in.MaxPerHSM < 1 {
		return nil, bad("max_per_hsm: %d, want 1 or more", in.MaxPerHSM)
	}
	a.kms.SetSessionCap(in.MaxPerHSM)
	return nil, nil
}

type internalErrorInput struct {
	Operation string `json:"operation"`
	Count     int    `json:"count"`
}

func (a *API) internalError(ctx context.Context, in internalErrorInput) (any, error) {
	if in.Operation == "" {
		return nil, bad(`operation: required (a KMS operation such as "Encrypt", "*" for any, or "connect")`)
	}
	if in.Count < 0 {
		return nil, bad("count: %d, want 0 (clear) or more", in.Count)
	}
	a.kms.InjectInternalError(in.Operation, in.Count)
	return nil, nil
}

type backupInput struct {
	ClusterID string `json:"cluster_id"`
}

func (a *API) backup(ctx context.Context, in backupInput) (any, error) {
	if in.ClusterID == "" {
		return nil, bad("cluster_id: required")
	}
	b, err := a.plane.TakeBackup(ctx, in.ClusterID)
	if err != nil {
		return nil, fmt.Errorf("cluster_id: %w", err)
	}
	return map[string]any{"backup_id": b.ID, "cluster_id": b.ClusterID, "keys": b.Keys}, nil
}

type clockInput struct {
	Speed   float64 `json:"speed"`
	Advance string  `json:"advance"`
}

func (a *API) setClock(ctx context.Context, in clockInput) (any, error) {
	clk := a.kms.Clock()
	if in.Speed != 0 {
		if err := clk.SetSpeed(in.Speed); err != nil {
			return nil, bad("speed: %v", err)
		}
	}
	if in.Advance != "" {
		d, err := time.ParseDuration(in.Advance)
		if err != nil || d <= 0 {
			return nil, bad("advance: %q is not a positive duration such as \"168h\"", in.Advance)
		}
		clk.Advance(d)
	}
	return a.clock(), nil
}

func (a *API) clock() map[string]any {
	clk := a.kms.Clock()
	return map[string]any{"now": clk.Now().UTC().Format(time.RFC3339Nano), "speed": clk.Speed()}
}

// auditEvents serves the KMS audit log's management events, for scenarios
// that assert them (DeleteKey's backingKeysDeletionStatus) and for the
// backing key ids an operator reads from CreateKey's event.
func (a *API) auditEvents(w http.ResponseWriter, r *http.Request) {
	after := 0
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("after: %q, want a count of events (0 or more)", v)})
			return
		}
		after = n
	}
	events, next := a.kms.AuditEvents(after)
	if events == nil {
		events = []kms.AuditEvent{}
	}
	a.reply(w, r, map[string]any{"events": events, "next": next})
}
