package run

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/keystorm/keystorm/harness/check"
	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/load"
)

// verifyWorkers is how many Decrypts the verification keeps in flight.
const verifyWorkers = 8

// acked is an acknowledged ciphertext to verify.
type acked struct {
	seq  uint64
	key  string
	id   uint64
	size int
	blob []byte
}

// verify decrypts every acknowledged ciphertext of the run (the load's
// sampled down to the integrity expectation's limit; setup's all) and
// records each answer as a Verify request for the integrity check.
func (r *runner) verify(ctx context.Context) error {
	limit := 0
	for _, e := range r.sc.Expect {
		if e.Integrity != nil && e.Integrity.Sample > 0 {
			limit = e.Integrity.Sample
		}
	}
	if err := r.hist.Flush(); err != nil {
		return err
	}
	// Every setup ciphertext is verified; the load's are sampled (reservoir
	// sampling keeps memory at the limit however long the run).
	var all, sample []acked
	seen := 0
	rng := rand.New(rand.NewPCG(uint64(r.seed), 0x5eed))
	err := history.Scan(r.hist.Path(), func(ev history.Event) error {
		q := ev.Request
		if q == nil || q.Op == check.OpVerify || !q.OK() || len(q.Ciphertext) == 0 {
			return nil
		}
		a := acked{seq: q.Seq, key: q.Key, id: q.PlaintextID, size: q.Size, blob: q.Ciphertext}
		if q.Op == check.OpSetupEncrypt || limit == 0 {
			all = append(all, a)
			return nil
		}
		seen++ // the load's ciphertexts met so far
		if len(sample) < limit {
			sample = append(sample, a)
		} else if j := rng.IntN(seen); j < limit {
			sample[j] = a
		}
		return nil
	})
	if err != nil {
		return err
	}
	todo := append(all, sample...)
	work := make(chan acked)
	var wg sync.WaitGroup
	for w := 0; w < verifyWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				r.verifyOne(ctx, a)
			}
		}()
	}
	for _, a := range todo {
		select {
		case work <- a:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	return ctx.Err()
}

// verifyOne decrypts one ciphertext, retrying what a healthy stack may
// answer under load (no session free, throttling) a few times.
func (r *runner) verifyOne(ctx context.Context, a acked) {
	rec := history.Request{Seq: a.seq, Op: check.OpVerify, Key: a.key, PlaintextID: a.id, Size: a.size}
	rec.Intended = r.since()
	rec.Sent = rec.Intended
	for attempt := 0; ; attempt++ {
		out, err := r.stack.KMS().Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: a.blob})
		rec.Done = r.since()
		rec.Exception, rec.Message, rec.Error, rec.Status = "", "", "", 200
		if err == nil {
			rec.WrongPlaintext = string(out.Plaintext) != string(load.Plaintext(r.seed, a.id, a.size))
			break
		}
		var api smithy.APIError
		if errors.As(err, &api) {
			rec.Exception, rec.Message, rec.Status = api.ErrorCode(), api.ErrorMessage(), 400
		} else {
			rec.Error, rec.Status = err.Error(), 0
		}
		retry := rec.Error != "" || rec.Exception == "KMSInternalException" || rec.Exception == "ThrottlingException"
		if !retry || attempt == 3 || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	r.hist.Request(rec)
}
