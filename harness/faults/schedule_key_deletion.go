package faults

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/keystorm/keystorm/harness/target"
)

// ScheduleKeyDeletion schedules a KMS key's deletion (ScheduleKeyDeletion):
// the key is PendingDeletion at once (even in a disconnected store) and its
// crypto calls fail KMSInvalidStateException. When the waiting period ends
// (advance-clock), KMS deletes the key and tries to delete its backing key:
// with the store disconnected the material is orphaned (DeleteKey event
// FAILURE, procedure 5).
type ScheduleKeyDeletion struct {
	Key  string `yaml:"key" doc:"the key's name in the scenario"`
	Days int    `yaml:"days" doc:"the waiting period, 7 to 30 days (default 30)"`
}

var _ Action = (*ScheduleKeyDeletion)(nil)

func (*ScheduleKeyDeletion) Name() string               { return "schedule-key-deletion" }
func (*ScheduleKeyDeletion) Kind() Kind                 { return KindStep }
func (*ScheduleKeyDeletion) Needs() []target.Capability { return []target.Capability{target.KMS} }

func (s *ScheduleKeyDeletion) Validate() []error {
	errs := required(nil, "key", s.Key)
	if s.Days < 7 || s.Days > 30 {
		errs = append(errs, fmt.Errorf("days: %d, want 7 to 30", s.Days))
	}
	return errs
}

func (s *ScheduleKeyDeletion) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	id, err := env.Key(s.Key)
	if err != nil {
		return err
	}
	in := &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(int32(s.Days))}
	if _, err := env.Stack.KMS().ScheduleKeyDeletion(ctx, in); err != nil {
		return fmt.Errorf("schedule the deletion of key %s in %d days: %w", id, s.Days, err)
	}
	return nil
}
