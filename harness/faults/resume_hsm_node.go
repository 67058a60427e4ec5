package faults

import "context"

// ResumeHSMNode thaws a machine pause-hsm-node froze: the calls it held
// complete, and new ones succeed again.
type ResumeHSMNode struct {
	hsmNode `yaml:",inline"`
}

var _ Action = (*ResumeHSMNode)(nil)

func (*ResumeHSMNode) Name() string { return "resume-hsm-node" }
func (*ResumeHSMNode) Kind() Kind   { return KindStep }

func (f *ResumeHSMNode) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return f.act(ctx, env, "resume")
}
