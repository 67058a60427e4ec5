package faults

import "context"

// KillHSMNode kills the machine an HSM runs on (SIGKILL to its container),
// calls in flight included, without telling the control plane: a node that
// dies, not one an operator deletes. Calls KMS sends to it fail with the
// guide's network message (KMSInvalidStateException) and the store stays
// CONNECTED; the fix is delete-hsm of the dead HSM, then create-hsm.
type KillHSMNode struct {
	hsmNode `yaml:",inline"`
}

var _ Action = (*KillHSMNode)(nil)

func (*KillHSMNode) Name() string { return "kill-hsm-node" }
func (*KillHSMNode) Kind() Kind   { return KindFault }

func (f *KillHSMNode) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return f.act(ctx, env, "kill")
}
