package check

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/scenario"
)

// checkAudit looks for an audit event about a key: DeleteKey, with its
// backingKeysDeletionStatus (a JSON string of a list, as CloudTrail has
// it) naming the wanted status.
func checkAudit(e scenario.AuditExpect, in Input) result.Expectation {
	r := result.Expectation{Kind: "audit", Description: fmt.Sprintf("the audit log has %s for key %s", e.Event, e.Key)}
	if e.DeletionStatus != "" {
		r.Description += " with backingKeysDeletionStatus " + e.DeletionStatus
	}
	arn := ""
	var seen []string
	audited := false
	err := history.Scan(in.History, func(ev history.Event) error {
		if b := ev.Binding; b != nil && b.Kind == "key" && b.Name == e.Key {
			arn = b.ARN
		}
		if a := ev.Audit; a != nil {
			audited = true
			var event struct {
				EventName string `json:"eventName"`
				Resources []struct {
					ARN string `json:"ARN"`
				} `json:"resources"`
				AdditionalEventData struct {
					Statuses string `json:"backingKeysDeletionStatus"`
				} `json:"additionalEventData"`
			}
			if json.Unmarshal(a.Event, &event) != nil || len(event.Resources) == 0 || arn == "" || event.Resources[0].ARN != arn {
				return nil
			}
			status := ""
			var statuses []struct {
				Status string `json:"deletionStatus"`
			}
			if json.Unmarshal([]byte(event.AdditionalEventData.Statuses), &statuses) == nil && len(statuses) > 0 {
				status = statuses[0].Status
			}
			seen = append(seen, strings.TrimSpace(event.EventName+" "+status))
		}
		return nil
	})
	switch {
	case err != nil:
		r.Status, r.Detail = result.Unknown, err.Error()
		return r
	case !audited:
		r.Status, r.Detail = result.NotApplicable, "the target's audit log was not read (no audit capability)"
		return r
	case arn == "":
		r.Status, r.Detail = result.Unknown, "key "+e.Key+" was never created"
		return r
	}
	want := strings.TrimSpace(e.Event + " " + e.DeletionStatus)
	for _, s := range seen {
		if s == want || (e.DeletionStatus == "" && strings.HasPrefix(s, e.Event+" ")) || s == e.Event {
			r.Status, r.Detail = result.Pass, "found: "+s
			return r
		}
	}
	r.Status = result.Fail
	r.Detail = "events about the key: " + strings.Join(seen, ", ")
	if len(seen) == 0 {
		r.Detail = "no event about the key"
	}
	return r
}
