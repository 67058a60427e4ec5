package kms

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// auditLog writes CloudTrail-like events, one JSON object per line, and
// keeps the recent management events (everything but the data plane's
// Encrypt, Decrypt, ReEncrypt and GenerateDataKey*) in memory, where
// AuditEvents serves them: few enough to keep, and what an operator reads
// CloudTrail for (CreateKey's backing key, DeleteKey's deletion status).
type auditLog struct {
	mu   sync.Mutex
	enc  *json.Encoder
	now  func() time.Time // the stack clock
	kept []AuditEvent
	seq  int // events kept so far, including those dropped from kept
}

// auditKeep bounds the management events kept in memory.
const auditKeep = 4096

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
	if a.enc == nil && dataPlane(ev.EventName) {
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
	if !dataPlane(ev.EventName) {
		if len(a.kept) == auditKeep {
			a.kept = append(a.kept[:0], a.kept[1:]...)
		}
		a.kept = append(a.kept, ev)
		a.seq++
	}
	if a.enc != nil {
		a.enc.Encode(ev)
	}
}

func dataPlane(op string) bool {
	switch op {
	case "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext":
		return true
	}
	return false
}

// AuditEvents returns the management events kept since the after-th (0:
// all kept) and the number to pass next time.
func (s *Service) AuditEvents(after int) ([]AuditEvent, int) {
	a := s.audit
	a.mu.Lock()
	defer a.mu.Unlock()
	first := a.seq - len(a.kept) // sequence number of kept[0]
	from := max(after-first, 0)
	if from > len(a.kept) {
		from = len(a.kept)
	}
	return append([]AuditEvent(nil), a.kept[from:]...), a.seq
}

// on reports whether data-plane events are recorded; crypto calls skip
// building them otherwise (they are the hot path). Management events are
// always recorded.
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
