// Package history is the record of one run: every request of the load,
// every state transition the observer saw, every fault and recovery step,
// and scraped metric samples, each stamped with its time since the run's
// one base time. A History streams to a file as JSON lines so that memory
// stays bounded however long the run; checks and reports read it back.
package history

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Request is one request of the load.
type Request struct {
	Seq uint64 `json:"seq"`
	// Op is the KMS operation: Encrypt, Decrypt, ReEncrypt, GenerateDataKey.
	Op string `json:"op"`
	// Key is the scenario's name of the key used.
	Key string `json:"key,omitempty"`
	// Intended is when the schedule wanted the request sent; Sent when it
	// was; Done when the answer (or the error) came. Latency counts from
	// Intended, so queueing in the harness or the stack is never hidden.
	Intended time.Duration `json:"intended"`
	Sent     time.Duration `json:"sent"`
	Done     time.Duration `json:"done"`
	// Status is the HTTP status; 0 when no answer came (Error says why).
	Status int `json:"status,omitempty"`
	// Exception is the KMS error type (__type), empty on success.
	Exception string `json:"exception,omitempty"`
	Message   string `json:"message,omitempty"`
	// Error is a transport failure or timeout: the outcome is unknown.
	Error string `json:"error,omitempty"`
	Size  int    `json:"size,omitempty"`
	// Integrity: an acknowledged Encrypt (or ReEncrypt) keeps its
	// ciphertext and the id of the plaintext it sealed (plaintexts are
	// derived from the run's seed and this id, so they need no storing).
	PlaintextID uint64 `json:"pt,omitempty"`
	Ciphertext  []byte `json:"ct,omitempty"`
	// WrongPlaintext marks a Decrypt that answered with a plaintext other
	// than the one sealed: a safety violation.
	WrongPlaintext bool `json:"wrong,omitempty"`
}

// Latency is the time from the intended send to the answer.
func (r *Request) Latency() time.Duration { return r.Done - r.Intended }

// OK tells whether the request succeeded.
func (r *Request) OK() bool {
	return r.Error == "" && r.Exception == "" && r.Status >= 200 && r.Status < 300
}

// Outcome is "ok", the exception name, or "error" for a transport failure.
func (r *Request) Outcome() string {
	switch {
	case r.Exception != "":
		return r.Exception
	case r.Error != "" || r.Status == 0:
		return "error"
	case r.Status >= 300:
		return fmt.Sprintf("http-%d", r.Status)
	}
	return "ok"
}

// Transition is a change of an observed state.
type Transition struct {
	At time.Duration `json:"at"`
	// Subject is what changed: "store:<name>", "key:<name>",
	// "cluster:<name>" or "hsms:<cluster name>".
	Subject string `json:"subject"`
	From    string `json:"from,omitempty"`
	To      string `json:"to"`
	// Code is the store's ConnectionErrorCode, when there is one.
	Code string `json:"code,omitempty"`
}

// Injection is one fault or recovery step of the timeline, or one setup
// action.
type Injection struct {
	// ID is the timeline entry's id (or the fault's name when it has none).
	ID string `json:"id"`
	// Kind is "fault", "step" or "setup".
	Kind   string        `json:"kind"`
	Action string        `json:"action"` // the catalog name, such as delete-hsm
	Detail string        `json:"detail,omitempty"`
	Start  time.Duration `json:"start"`
	End    time.Duration `json:"end"`
	// Error is set when the action failed; NotApplicable when the target
	// lacks what it needs (then it never ran).
	Error         string `json:"error,omitempty"`
	NotApplicable bool   `json:"not_applicable,omitempty"`
	// Exception is the AWS exception of a failed API call, when the error
	// is one.
	Exception string `json:"exception,omitempty"`
	// Skipped marks a timeline entry whose moment never came (its
	// condition never held in time): it never ran.
	Skipped bool `json:"skipped,omitempty"`
}

// Sample is a scraped metric value.
type Sample struct {
	At     time.Duration     `json:"at"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// Note is anything else worth keeping in order: the run's phases, aborts,
// the load generator's own trouble.
type Note struct {
	At   time.Duration `json:"at"`
	Kind string        `json:"kind"`
	Text string        `json:"text"`
}

// Audit is one event of the target's audit log (CloudTrail's shape, as
// the target wrote it), read at the end of the run.
type Audit struct {
	Event json.RawMessage `json:"event"`
}

// Binding records what a scenario name stands for on the target: a store
// or key id (and a key's ARN, which the audit log uses).
type Binding struct {
	At   time.Duration `json:"at"`
	Kind string        `json:"kind"` // "store" or "key"
	Name string        `json:"name"`
	ID   string        `json:"id"`
	ARN  string        `json:"arn,omitempty"`
}

// Event is one line of the history: exactly one field is set.
type Event struct {
	Binding    *Binding    `json:"bind,omitempty"`
	Audit      *Audit      `json:"audit,omitempty"`
	Request    *Request    `json:"req,omitempty"`
	Transition *Transition `json:"tr,omitempty"`
	Injection  *Injection  `json:"inj,omitempty"`
	Sample     *Sample     `json:"sample,omitempty"`
	Note       *Note       `json:"note,omitempty"`
}

// Writer appends events to a history file. It is safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	bw   *bufio.Writer
	enc  *json.Encoder
	n    int64
	err  error
	path string
	tap  func(Event)
}

// Tap calls fn with every event added from now on, before it is written
// (for live metrics). fn must be quick and safe for concurrent use.
func (w *Writer) Tap(fn func(Event)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tap = fn
}

// Create starts a history file at path.
func Create(path string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	return &Writer{f: f, bw: bw, enc: json.NewEncoder(bw), path: path}, nil
}

// Path is the file the history goes to.
func (w *Writer) Path() string { return w.path }

// Add appends e. The first write error sticks and is returned by Close.
func (w *Writer) Add(e Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tap != nil {
		w.tap(e)
	}
	if w.err != nil {
		return
	}
	if err := w.enc.Encode(e); err != nil {
		w.err = fmt.Errorf("history %s: %w", w.path, err)
		return
	}
	w.n++
}

// Request, Transition, Injection, Sample and Note append one event.
func (w *Writer) Request(r Request)       { w.Add(Event{Request: &r}) }
func (w *Writer) Transition(t Transition) { w.Add(Event{Transition: &t}) }
func (w *Writer) Injection(i Injection)   { w.Add(Event{Injection: &i}) }
func (w *Writer) Sample(s Sample)         { w.Add(Event{Sample: &s}) }
func (w *Writer) Note(n Note)             { w.Add(Event{Note: &n}) }

// Len is the number of events written.
func (w *Writer) Len() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Flush writes buffered events to the file.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("history %s: %w", w.path, err)
		}
	}
	return w.err
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	err := w.Flush()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return err
	}
	cerr := w.f.Close()
	w.f = nil
	return errors.Join(err, cerr)
}

// Scan reads the history at path in order, calling fn for every event;
// fn's error stops the scan and is returned.
func Scan(path string, fn func(Event) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	return ScanReader(f, fn)
}

// ScanReader is Scan over any reader of JSON lines.
func ScanReader(r io.Reader, fn func(Event) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 256<<10))
	for line := 1; ; line++ {
		var e Event
		if err := dec.Decode(&e); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("history: event %d: %w", line, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}
