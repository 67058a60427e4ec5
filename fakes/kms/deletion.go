package kms

import (
	"context"
	"encoding/json"
	"time"
)

// deleter deletes keys whose waiting period is over, in stack time: first
// their metadata, then their backing key from the cluster (never from
// backups). It runs until the service closes.
func (s *Service) deleter() {
	defer s.wg.Done()
	for {
		due, next := s.dueKeys()
		for _, k := range due {
			s.deleteKey(k)
		}
		if _, err := s.clock.SleepUntilOrWake(s.ctx, next, s.deleteCh); err != nil {
			return
		}
	}
}

// dueKeys takes the keys due for deletion out of the service and returns
// them, with the time the next one is due (zero if none).
func (s *Service) dueKeys() (due []*key, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for id, k := range s.keys {
		if k.state != KeyPendingDeletion {
			continue
		}
		if !k.deletionDate.After(now) {
			due = append(due, k)
			delete(s.keys, id)
			for name, a := range s.aliases {
				if a.target == id {
					delete(s.aliases, name)
				}
			}
			continue
		}
		if next.IsZero() || k.deletionDate.Before(next) {
			next = k.deletionDate
		}
	}
	return due, next
}

// deleteKey tries to delete a deleted key's backing key through the store's
// kmsuser session and records the DeleteKey event. A store that is not
// connected (or a cluster that refuses) leaves the material orphaned:
// FAILURE.
func (s *Service) deleteKey(k *key) {
	extra := map[string]any{}
	if k.origin == OriginAWSCloudHSM {
		status := "FAILURE"
		s.mu.Lock()
		st := s.stores[k.storeID]
		var conn *connection
		if st != nil && st.state == StateConnected {
			conn = st.conn
		}
		s.mu.Unlock()
		if conn != nil {
			conn.mu.Lock()
			sess := conn.session
			conn.mu.Unlock()
			ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
			if sess != nil && sess.DeleteKey(ctx, k.backingKeyID) == nil {
				status = "SUCCESS"
			}
			cancel()
		}
		keys, _ := json.Marshal([]map[string]string{{"backingKeyId": k.backingKeyID}})
		statuses, _ := json.Marshal([]map[string]string{{"backingKeyId": k.backingKeyID, "deletionStatus": status}})
		extra = map[string]any{
			"customKeyStoreId": k.storeID, "clusterId": k.clusterID,
			"backingKeys": string(keys), "backingKeysDeletionStatus": string(statuses),
		}
	}
	s.audit.write(AuditEvent{
		EventName: "DeleteKey", EventType: "AwsServiceEvent",
		AdditionalEventData: extra,
		Resources:           []AuditResource{{ARN: k.arn, Type: "AWS::KMS::Key"}},
		UserIdentity:        map[string]string{"type": "AWSService", "invokedBy": "kms.amazonaws.com"},
	})
}
