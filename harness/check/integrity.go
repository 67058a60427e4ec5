package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/scenario"
)

// checkIntegrity is jepsen's set checker over ciphertexts: an acknowledged
// Encrypt (or ReEncrypt, or setup encrypt) whose verification after the
// run failed is lost; one the run did not verify (sampled out) is not
// judged; a request that timed out was never acknowledged and is
// indeterminate. Any Decrypt, during the load or after it, that answered a
// wrong plaintext fails the run outright.
func checkIntegrity(e scenario.IntegrityExpect, in Input) result.Expectation {
	r := result.Expectation{Kind: "integrity", Description: "every acknowledged ciphertext decrypts to its plaintext after the run, and no Decrypt returns a wrong plaintext"}
	if len(e.Keys) > 0 {
		r.Description += " (keys " + strings.Join(e.Keys, ", ") + ")"
	}
	judged := func(key string) bool { return len(e.Keys) == 0 || slices.Contains(e.Keys, key) }
	type verdict struct{ op, outcome string }
	acked := map[uint64]string{} // seq -> op of the acknowledged encrypts
	verified := map[uint64]verdict{}
	var wrongDuringLoad int64
	var examples []string
	err := history.Scan(in.History, func(ev history.Event) error {
		req := ev.Request
		if req == nil || !judged(req.Key) {
			return nil
		}
		switch {
		case req.Op == OpVerify:
			o := req.Outcome()
			if req.WrongPlaintext {
				o = "wrong plaintext"
			}
			verified[req.Seq] = verdict{op: req.Key, outcome: o}
		case req.WrongPlaintext:
			wrongDuringLoad++
			if len(examples) < 3 {
				examples = append(examples, fmt.Sprintf("%s #%d at %s", req.Op, req.Seq, fmtAt(req.Done-in.Timeline.LoadStart)))
			}
		}
		if req.Op != OpVerify && req.OK() && len(req.Ciphertext) > 0 {
			acked[req.Seq] = req.Op
		}
		return nil
	})
	if err != nil {
		r.Status, r.Detail = result.Unknown, err.Error()
		return r
	}
	var lost, wrong, checked int64
	for seq, op := range acked {
		v, ok := verified[seq]
		if !ok {
			continue
		}
		checked++
		switch v.outcome {
		case "ok":
		case "wrong plaintext":
			wrong++
		default:
			lost++
			if len(examples) < 3 {
				examples = append(examples, fmt.Sprintf("%s #%d: %s", op, seq, v.outcome))
			}
		}
	}
	r.Detail = fmt.Sprintf("%d acknowledged ciphertexts, %d verified after the run: %d lost, %d wrong; %d wrong plaintexts during the load",
		len(acked), checked, lost, wrong, wrongDuringLoad)
	if len(examples) > 0 {
		r.Detail += " (e.g. " + strings.Join(examples, "; ") + ")"
	}
	switch {
	case lost > 0 || wrong > 0 || wrongDuringLoad > 0:
		r.Status = result.Fail
	case checked == 0:
		r.Status = result.Unknown
		r.Detail = "no acknowledged ciphertext was verified: " + r.Detail
	default:
		r.Status = result.Pass
	}
	return r
}
