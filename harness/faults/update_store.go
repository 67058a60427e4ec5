package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/keystorm/keystorm/harness/target"
)

// passwordKnown is update-store's `password:` for the kmsuser password Env
// knows.
const passwordKnown = "known"

// UpdateStore changes a store (UpdateCustomKeyStore): the "Update if
// needed" of every fix. `password:` tells KMS kmsuser's current password
// (procedures 3 and 4; it changes nothing in the cluster); `known` takes
// the one Env knows for the store's cluster, or for `cluster:` when given.
// `cluster:` moves the store to a related cluster (procedure 6). Only a
// rename works while the store is CONNECTED.
type UpdateStore struct {
	Store    string `yaml:"store" doc:"the store's name in the scenario"`
	Password string `yaml:"password" doc:"kmsuser's password to tell KMS: 7 to 32 letters and digits, or \"known\" for the one the scenario knows"`
	Cluster  string `yaml:"cluster" doc:"move the store to this related cluster (its name in the scenario)"`
	NewName  string `yaml:"name" doc:"a new CustomKeyStoreName"`
}

var _ Action = (*UpdateStore)(nil)

func (*UpdateStore) Name() string               { return "update-store" }
func (*UpdateStore) Kind() Kind                 { return KindStep }
func (*UpdateStore) Needs() []target.Capability { return []target.Capability{target.KMS} }

func (s *UpdateStore) Validate() []error {
	errs := required(nil, "store", s.Store)
	if s.Password == "" && s.Cluster == "" && s.NewName == "" {
		errs = append(errs, errors.New("password, cluster, name: give at least one"))
	}
	if s.Password != "" && s.Password != passwordKnown {
		if err := checkPassword("password", s.Password); err != nil {
			errs = append(errs, fmt.Errorf("%w (or \"known\")", err))
		}
	}
	if len(s.NewName) > 256 {
		errs = append(errs, fmt.Errorf("name: %d characters, want 1 to 256", len(s.NewName)))
	}
	return errs
}

func (s *UpdateStore) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	id, err := env.Store(s.Store)
	if err != nil {
		return err
	}
	in := &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}
	if s.NewName != "" {
		in.NewCustomKeyStoreName = aws.String(s.NewName)
	}
	if s.Cluster != "" {
		c, err := env.Cluster(s.Cluster)
		if err != nil {
			return err
		}
		in.CloudHsmClusterId = aws.String(c.ID)
	}
	switch s.Password {
	case "":
	case passwordKnown:
		pw, err := s.knownPassword(ctx, env, id)
		if err != nil {
			return err
		}
		in.KeyStorePassword = aws.String(pw)
	default:
		in.KeyStorePassword = aws.String(s.Password)
	}
	if _, err := env.Stack.KMS().UpdateCustomKeyStore(ctx, in); err != nil {
		return fmt.Errorf("update store %s: %w", storeLabel(env, id), err)
	}
	return nil
}

// knownPassword is the kmsuser password Env knows for the cluster the store
// will be over.
func (s *UpdateStore) knownPassword(ctx context.Context, env *Env, storeID string) (string, error) {
	var c Cluster
	var err error
	if s.Cluster != "" {
		c, err = env.Cluster(s.Cluster)
	} else {
		st, derr := describeStore(ctx, env, storeID)
		if derr != nil {
			return "", derr
		}
		_, c, err = clusterByID(env, aws.ToString(st.CloudHsmClusterId))
	}
	if err != nil {
		return "", err
	}
	if c.KmsuserPassword == "" {
		return "", fmt.Errorf("kmsuser's password on cluster %s is not known: set one with set-kmsuser-password (procedure 3)", c.ID)
	}
	return c.KmsuserPassword, nil
}
