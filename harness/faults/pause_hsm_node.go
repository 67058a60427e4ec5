package faults

import "context"

// PauseHSMNode freezes the machine an HSM runs on (its container's
// processes stop where they are, mid-request): calls to it wait until KMS
// gives up on them, then fail with the guide's network message
// (KMSInvalidStateException). resume-hsm-node thaws it.
type PauseHSMNode struct {
	hsmNode `yaml:",inline"`
}

var _ Action = (*PauseHSMNode)(nil)

func (*PauseHSMNode) Name() string { return "pause-hsm-node" }
func (*PauseHSMNode) Kind() Kind   { return KindFault }

func (f *PauseHSMNode) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return f.act(ctx, env, "pause")
}
