package run

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/target"
)

// auditPage is the admin API's answer to GET /v1/audit.
type auditPage struct {
	Events []json.RawMessage `json:"events"`
	Next   int               `json:"next"`
}

// auditEvent is the part of an audit event the run reads.
type auditEvent struct {
	EventName string `json:"eventName"`
	Resources []struct {
		ARN string `json:"ARN"`
	} `json:"resources"`
	AdditionalEventData map[string]any `json:"additionalEventData"`
}

// readAudit fetches the audit events after the n-th.
func (r *runner) readAudit(ctx context.Context, after int) (auditPage, error) {
	var page auditPage
	err := r.stack.Admin().Get(ctx, fmt.Sprintf("/v1/audit?after=%d", after), &page)
	return page, err
}

// bindBackingKeys reads each setup key's backing key id from its CreateKey
// audit event, as an operator reads it from CloudTrail, for the faults and
// steps that act on key material (delete-key-material).
func (r *runner) bindBackingKeys(ctx context.Context, arns map[string]string) error {
	if !r.stack.Has(target.Audit) || len(arns) == 0 {
		return nil
	}
	page, err := r.readAudit(ctx, 0)
	if err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	for _, raw := range page.Events {
		var ev auditEvent
		if json.Unmarshal(raw, &ev) != nil || ev.EventName != "CreateKey" || len(ev.Resources) == 0 {
			continue
		}
		id, _ := ev.AdditionalEventData["backingKeyId"].(string)
		if name, ok := arns[ev.Resources[0].ARN]; ok && id != "" {
			r.env.BindBackingKey(name, id)
		}
	}
	return nil
}

// recordAudit copies the audit log's management events into the History at
// the end of the run, for audit expectations.
func (r *runner) recordAudit(ctx context.Context) error {
	if !r.stack.Has(target.Audit) {
		return nil
	}
	page, err := r.readAudit(ctx, 0)
	if err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	for _, raw := range page.Events {
		r.hist.Add(history.Event{Audit: &history.Audit{Event: raw}})
	}
	return nil
}
