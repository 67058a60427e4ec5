package kms

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// auditLog writes CloudTrail-like events, one JSON object per line.
type auditLog struct {
	mu  sync.Mutex
	enc *json.Encoder
	now func() time.Time // the stack clock
}

func newAuditLog(w io.Writer, now func() time.Time) *auditLog {
	a := &auditLog{now: now}
	if w != nil {
		a.enc = json.NewEncoder(w)
	}
	return a
}

// AuditEvent is one event of the audit log, in CloudTrail's shape.
type AuditEvent struct {
	EventVersion        string            `json:"eventVersion"`
	EventTime           string            `json:"eventTime"`
	EventSource         string            `json:"eventSource"`
	EventName           string            `json:"eventName"`
	EventType           string            `json:"eventType"` // AwsApiCall or AwsServiceEvent
	EventID             string            `json:"eventID"`
	ReadOnly            bool              `json:"readOnly"`
	RequestParameters   map[string]any    `json:"requestParameters,omitempty"`
	AdditionalEventData map[string]any    `json:"additionalEventData,omitempty"`
	Resources           []AuditResource   `json:"resources,omitempty"`
	UserIdentity        map[string]string `json:"userIdentity"`
}

// AuditResource is a resource an event is about.
type AuditResource struct {
	ARN  string `json:"ARN"`
	Type string `json:"type"`
}

func (a *auditLog) write(ev AuditEvent) {
	if a.enc == nil {
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	ev.EventID = hex.EncodeToString(b)
	ev.EventVersion = "1.08"
	ev.EventSource = "kms.amazonaws.com"
	ev.EventTime = a.now().UTC().Format(time.RFC3339)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.enc.Encode(ev)
}

// on reports whether events are recorded; callers skip building them
// otherwise (crypto calls are the hot path).
func (a *auditLog) on() bool { return a.enc != nil }

// call records an API call on a key.
func (a *auditLog) call(op, keyArn string, params, extra map[string]any) {
	a.write(AuditEvent{
		EventName: op, EventType: "AwsApiCall",
		RequestParameters: params, AdditionalEventData: extra,
		Resources:    []AuditResource{{ARN: keyArn, Type: "AWS::KMS::Key"}},
		UserIdentity: map[string]string{"type": "IAMUser"},
	})
}

// auditCrypto is the additional data of an event on a key in a store.
func auditCrypto(k *key) map[string]any {
	if k.origin != OriginAWSCloudHSM {
		return nil
	}
	return map[string]any{"customKeyStoreId": k.storeID, "backingKeyId": k.backingKeyID}
}
