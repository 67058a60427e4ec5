package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/keystorm/keystorm/harness/history"
)

// record turns one vegeta Result into its history.Request, keeps an
// acknowledged ciphertext for later Decrypts, and counts it.
func (l *loader) record(res *vegeta.Result) history.Request {
	c := &call{}
	if id, ok := opID(res.URL); ok {
		if taken, ok := l.ledger.take(id); ok {
			c = taken
		}
	}
	began := l.pacer.started()
	base := l.base
	if base.IsZero() {
		base = began
	}
	due := c.due
	if !c.sent {
		// No transport saw it (building the request failed).
		due = l.schedule.Due(res.Seq)
	}
	if due == Never {
		due = res.Timestamp.Sub(began)
	}
	req := history.Request{
		Seq: res.Seq, Op: c.op, Key: c.key, Size: c.size,
		Intended: began.Sub(base) + due,
		Sent:     res.Timestamp.Sub(base),
		Done:     res.End().Sub(base),
		Status:   int(res.Code),
	}
	switch {
	case res.Code == 0:
		req.Error = res.Error
		if res.URL != "" {
			// The op id in the URL is noise: keep errors comparable.
			req.Error = strings.ReplaceAll(req.Error, res.URL, l.postURL)
		}
		if req.Error == "" {
			req.Error = "no answer"
		}
	case res.Code < 200 || res.Code >= 300:
		req.Exception, req.Message = decodeError(res.Body)
		if req.Exception == "" && req.Message == "" {
			req.Message = clip(string(res.Body))
		}
	default:
		l.decodeAnswer(c, res.Body, &req)
	}
	l.count(&req)
	return req
}

// decodeAnswer reads a successful answer: an Encrypt's or ReEncrypt's
// ciphertext is kept (in the History for the integrity check, in the pool
// for Decrypts), a Decrypt's plaintext is compared with the one sealed.
func (l *loader) decodeAnswer(c *call, body []byte, req *history.Request) {
	var out struct {
		CiphertextBlob []byte `json:"CiphertextBlob"`
		Plaintext      []byte `json:"Plaintext"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		req.Error = fmt.Sprintf("decode %s answer: %v", c.op, err)
		return
	}
	switch c.op {
	case opEncrypt, opReEncrypt:
		if len(out.CiphertextBlob) == 0 {
			req.Error = fmt.Sprintf("%s answer has no CiphertextBlob", c.op)
			return
		}
		req.PlaintextID, req.Ciphertext = c.pt, out.CiphertextBlob
		l.pool.add(Ciphertext{Key: c.key, PlaintextID: c.pt, Size: c.size, Blob: out.CiphertextBlob})
	case opDecrypt:
		// PlaintextID says which plaintext was expected, for the report.
		req.PlaintextID = c.pt
		req.WrongPlaintext = !bytes.Equal(out.Plaintext, Plaintext(l.seed, c.pt, c.size))
	case opDecryptTampered, opDecryptWrongKey:
		// Either must fail: any plaintext it answers is one it must not
		// have given.
		req.PlaintextID = c.pt
		req.WrongPlaintext = true
	}
}

// count adds req to the summary and the progress counters.
func (l *loader) count(req *history.Request) {
	s := &l.sum
	s.Sent++
	if req.OK() {
		s.OK++
		l.progress.OK.Add(1)
	} else {
		s.Errors++
		l.progress.Errors.Add(1)
	}
	late := req.Sent - req.Intended
	s.MaxLate = max(s.MaxLate, late)
	if late > l.cfg.LateTolerance {
		s.Late++
		l.progress.Late.Add(1)
	}
}

// decodeError reads a KMS JSON error: {"__type": "...#Name", "message": ...}.
// The type may carry a namespace ("com.amazonaws.kms#") and, in older
// services, a ":"-suffix; both go, as the AWS SDKs drop them.
func decodeError(body []byte) (exception, message string) {
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
		Upper   string `json:"Message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	exception = e.Type
	if i := strings.LastIndexByte(exception, '#'); i >= 0 {
		exception = exception[i+1:]
	}
	if i := strings.IndexByte(exception, ':'); i >= 0 {
		exception = exception[:i]
	}
	message = e.Message
	if message == "" {
		message = e.Upper
	}
	return exception, message
}

// clip keeps an unexpected answer short enough for the History.
func clip(s string) string {
	const limit = 200
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}
