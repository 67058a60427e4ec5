package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/target"
)

// cleanup undoes what the run left on the target, so that a target that
// outlives the run (an external one) can run the next scenario: kmsuser
// logins held by login-kmsuser end; the run's keys are scheduled for
// deletion and its stores disconnected; where the target's clock can be
// advanced, the 7-day waiting period is skipped and the stores deleted,
// which frees their clusters (a cluster backs one store at a time).
func (r *runner) cleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	for cluster, session := range r.env.KmsuserLogins() {
		if err := r.stack.Admin().Post(ctx, "/v1/cluster-sessions/logout", map[string]string{"session": session}, nil); err != nil {
			errs = append(errs, fmt.Errorf("log kmsuser out of %s: %w", cluster, err))
		}
	}
	if r.stack.Kind() == "external" && len(r.created.stores) > 0 {
		errs = append(errs, r.removeCreated(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		r.hist.Note(history.Note{At: r.since(), Kind: "cleanup", Text: err.Error()})
	}
}

func (r *runner) removeCreated(ctx context.Context) error {
	client := r.stack.KMS()
	var errs []error
	for _, name := range r.env.StoreNames() {
		step := &faults.DisconnectStore{Store: name, Wait: true}
		if err := step.Inject(ctx, r.env); err != nil && !isException(err, "CustomKeyStoreInvalidStateException") {
			errs = append(errs, fmt.Errorf("disconnect store %s: %w", name, err))
		}
	}
	// KMS rotated kmsuser's password when it connected: give each cluster
	// the password the target's info names again, so the next run's
	// stores can connect.
	if r.stack.Has(target.HSMClient) {
		for i, name := range r.sc.Setup.Clusters {
			step := &faults.SetKmsuserPassword{Cluster: name, Password: r.stack.Info().Clusters[i].KmsuserPassword}
			if err := step.Inject(ctx, r.env); err != nil {
				errs = append(errs, fmt.Errorf("reset kmsuser's password on %s: %w", name, err))
			}
		}
	}
	for _, id := range r.created.keys {
		_, err := client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
		if err != nil && !isException(err, "KMSInvalidStateException", "NotFoundException") {
			errs = append(errs, fmt.Errorf("schedule deletion of key %s: %w", id, err))
		}
	}
	if !r.stack.Has(target.Clock) {
		errs = append(errs, fmt.Errorf("the target's clock cannot be advanced: the run's stores %v stay until their keys are deleted in 7 days", r.created.stores))
		return errors.Join(errs...)
	}
	if err := r.stack.Admin().Post(ctx, "/v1/clock", map[string]string{"advance": "169h"}, nil); err != nil {
		return errors.Join(append(errs, fmt.Errorf("advance the clock: %w", err))...)
	}
	for _, id := range r.created.stores {
		errs = append(errs, deleteStoreWhenEmpty(ctx, client, id))
	}
	return errors.Join(errs...)
}

// deleteStoreWhenEmpty deletes a store once it is DISCONNECTED and its keys
// are gone.
func deleteStoreWhenEmpty(ctx context.Context, client *kms.Client, id string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := client.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		if err == nil || isException(err, "CustomKeyStoreNotFoundException") {
			return nil
		}
		if !isException(err, "CustomKeyStoreHasCMKsException", "CustomKeyStoreInvalidStateException") {
			return fmt.Errorf("delete store %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delete store %s: %w", id, err)
		case <-tick.C:
		}
	}
}

// isException tells whether err is one of the named KMS exceptions.
func isException(err error, names ...string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && slices.Contains(names, api.ErrorCode())
}
