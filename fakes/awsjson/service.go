package awsjson

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultRegion is the region a Service answers for unless WithRegion says otherwise.
const DefaultRegion = "us-east-1"

// MaxBodyBytes caps a request body. The largest KMS input (a key policy) is 32 KiB and
// CloudHSM's are smaller; the cap only keeps a misbehaving client from exhausting memory.
const MaxBodyBytes = 1 << 20

// A Handler serves one operation. It gets a request whose body has already been
// authenticated, deserialized and validated against the operation's input shape, and
// returns a value to JSON-encode as the response (nil for "{}"), or an error: an *Error
// (possibly wrapped) answers with that exception; any other error, or a panic, answers with
// the service's internal error and HTTP 500 without revealing the Go error.
type Handler func(ctx context.Context, req *Request) (any, error)

// Typed adapts a function of a decoded input to a Handler: the validated body
// is decoded into In (a struct named like the model's members), and fn's
// result and error are the handler's.
func Typed[In any](fn func(context.Context, In) (any, error)) Handler {
	return func(ctx context.Context, req *Request) (any, error) {
		var in In
		if err := req.Decode(&in); err != nil {
			return nil, clientError(SerializationException, "")
		}
		return fn(ctx, in)
	}
}

// A Request is a validated call of an operation.
type Request struct {
	Operation   string    // "Encrypt"
	RequestID   string    // the x-amzn-RequestId of the response
	AccessKeyID string    // whose credentials signed the request
	Time        time.Time // when the service received it, by its clock (WithClock)
	SignedAt    time.Time // the client's X-Amz-Date
	// Body is the input after deserialization: known members only, no nulls, blobs in
	// standard base64, so that Decode into a struct with []byte fields just works.
	Body json.RawMessage
}

// Decode unmarshals the body into v, typically a pointer to a struct whose fields are named
// like the model's members ("KeyId", "Plaintext" as []byte).
func (r *Request) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %s input: %w", r.Operation, err)
	}
	return nil
}

// An Observation describes one finished request, for metrics.
type Observation struct {
	Operation string // "" when the request named no served operation
	Status    int    // HTTP status sent
	ErrorType string // "" on success, else the __type sent
	Duration  time.Duration
}

// An Option configures a Service.
type Option func(*Service)

// WithCredentials sets the accepted credentials, access key id to secret access key. A
// Service without credentials refuses every request with UnrecognizedClientException.
func WithCredentials(creds map[string]string) Option {
	return func(s *Service) { s.credentials = maps.Clone(creds) }
}

// WithRegion sets the region the credential scope must name (default DefaultRegion).
func WithRegion(region string) Option {
	return func(s *Service) { s.region = region }
}

// WithPatterns enforces the model's `pattern` constraints (default off; see CheckOptions).
func WithPatterns(enforce bool) Option {
	return func(s *Service) { s.checkOpts.Patterns = enforce }
}

// WithInternalError names the exception sent for handler failures and panics (default: the
// model's fault exception with "Internal" in its name: KMSInternalException,
// CloudHsmInternalFailureException).
func WithInternalError(typ string) Option {
	return func(s *Service) { s.internalError = typ }
}

// WithObserver calls fn after every request, on the request's goroutine; fn must be safe
// for concurrent use and quick.
func WithObserver(fn func(Observation)) Option {
	return func(s *Service) { s.observe = fn }
}

// WithClock sets the clock used for the signature's five-minute window and Request.Time
// (default time.Now). Clients sign with their wall clock, so a scaled scenario clock does
// not belong here.
func WithClock(now func() time.Time) Option {
	return func(s *Service) { s.now = now }
}

// WithLogger sets where internal errors and handler panics are logged (default
// slog.Default()); the client never sees their details.
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) { s.log = l }
}

// A Service serves one AWS JSON 1.1 API from its model: routing by X-Amz-Target, SigV4
// verification, deserialization and validation of the input, then the registered Handler.
// It is an http.Handler and safe for concurrent use.
type Service struct {
	model         *Model
	credentials   map[string]string
	region        string
	checkOpts     CheckOptions
	internalError string
	observe       func(Observation)
	now           func() time.Time
	log           *slog.Logger

	mu       sync.RWMutex
	handlers map[string]Handler
}

var _ http.Handler = (*Service)(nil)

// NewService returns a Service for model with no operations registered yet.
func NewService(model *Model, opts ...Option) *Service {
	s := &Service{
		model:         model,
		region:        DefaultRegion,
		internalError: defaultInternalError(model),
		now:           time.Now,
		log:           slog.Default(),
		handlers:      map[string]Handler{},
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// defaultInternalError picks the model's internal-failure fault; services without one get
// AWS's generic InternalFailure.
func defaultInternalError(m *Model) string {
	names := slices.Sorted(maps.Keys(m.Shapes))
	for _, name := range names {
		if sh := m.Shapes[name]; sh.Exception && sh.Fault && strings.Contains(name, "Internal") {
			return name
		}
	}
	return "InternalFailure"
}

// Model returns the model the Service serves.
func (s *Service) Model() *Model { return s.model }

// Handle registers h for the operation. It panics if the model has no such operation or one
// is already registered: both are wiring mistakes to catch at start-up.
func (s *Service) Handle(operation string, h Handler) {
	if _, ok := s.model.Operations[operation]; !ok {
		panic(fmt.Sprintf("awsjson: %s has no operation %q", s.model.Metadata.ServiceID, operation))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.handlers[operation]; dup {
		panic(fmt.Sprintf("awsjson: operation %q registered twice", operation))
	}
	s.handlers[operation] = h
}

func (s *Service) handler(operation string) (Handler, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.handlers[operation]
	return h, ok
}

// ServeHTTP answers one AWS JSON request. Every response carries x-amzn-RequestId.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := newRequestID()
	mediaType := jsonMediaType(r.Header.Get("Content-Type"))
	contentType := "application/x-amz-json-1.1"
	if mediaType == "application/x-amz-json-1.0" {
		contentType = mediaType
	}
	// Keys as Header.Set would canonicalize them ("x-amzn-RequestId" is sent as
	// X-Amzn-Requestid), without doing it on every request.
	h := w.Header()
	h["X-Amzn-Requestid"] = []string{requestID}
	h["Content-Type"] = []string{contentType}

	operation, body, aerr := s.serve(r, mediaType, requestID)
	status, errType := http.StatusOK, ""
	if aerr != nil {
		status, errType = s.status(aerr), aerr.Type
		body = s.errorBody(aerr)
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client gone away is not the server's error
	if s.observe != nil {
		s.observe(Observation{Operation: operation, Status: status, ErrorType: errType, Duration: time.Since(start)})
	}
}

// jsonMediaType is the AWS JSON media type a Content-Type header names, or "" when it names
// neither 1.1 nor 1.0. SDKs send the bare media type, which needs no parsing.
func jsonMediaType(contentType string) string {
	mt := contentType
	if mt != "application/x-amz-json-1.1" && mt != "application/x-amz-json-1.0" {
		mt, _, _ = mime.ParseMediaType(contentType)
	}
	if mt != "application/x-amz-json-1.1" && mt != "application/x-amz-json-1.0" {
		return ""
	}
	return mt
}

// serve runs the request pipeline in the real services' order: an anonymous request is
// refused first (AWS answers an unsigned POST with MissingAuthenticationTokenException
// whatever it names), then route, verify the signature, deserialize and validate, handle.
// It returns the response body or the error to send.
func (s *Service) serve(r *http.Request, mediaType, requestID string) (string, []byte, *Error) {
	if r.Header.Get("Authorization") == "" {
		return "", nil, clientError(MissingAuthenticationTokenException, msgMissingToken)
	}
	op, h, aerr := s.route(r, mediaType)
	if aerr != nil {
		return "", nil, aerr
	}
	received := s.now()
	buf, aerr := readBody(r)
	if aerr != nil {
		return op.Name, nil, aerr
	}
	defer putBody(buf)
	body := buf.Bytes()
	accessKeyID, signedAt, aerr := s.authenticate(r.Context(), r, body)
	if aerr != nil {
		return op.Name, nil, aerr
	}
	input, err := s.model.Check(op.Input, body, s.checkOpts)
	if err != nil {
		if ae, ok := errors.AsType[*Error](err); ok {
			return op.Name, nil, ae
		}
		return op.Name, nil, s.internal(op.Name, requestID, err)
	}
	req := &Request{
		Operation:   op.Name,
		RequestID:   requestID,
		AccessKeyID: accessKeyID,
		Time:        received,
		SignedAt:    signedAt,
		Body:        input,
	}
	result, err := s.call(r.Context(), h, req)
	if err != nil {
		if ae, ok := errors.AsType[*Error](err); ok && ae.Type != "" {
			return op.Name, nil, ae
		}
		return op.Name, nil, s.internal(op.Name, requestID, err)
	}
	if result == nil {
		return op.Name, []byte("{}"), nil
	}
	out, err := json.Marshal(result)
	if err != nil {
		return op.Name, nil, s.internal(op.Name, requestID, fmt.Errorf("encode %s result: %w", op.Name, err))
	}
	return op.Name, out, nil
}

// bodyPool recycles request body buffers: every request reads its body whole, and nothing
// refers to it once the input is checked (decoding copies what it keeps).
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody keeps the rare large body's buffer out of the pool.
const maxPooledBody = 64 << 10

// readBody reads the request body, up to MaxBodyBytes, into a pooled buffer the caller
// gives back with putBody.
func readBody(r *http.Request) (*bytes.Buffer, *Error) {
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	body := io.LimitedReader{R: r.Body, N: MaxBodyBytes + 1}
	_, err := buf.ReadFrom(&body)
	switch {
	case err != nil:
		putBody(buf)
		return nil, serializationError("")
	case buf.Len() > MaxBodyBytes:
		putBody(buf)
		return nil, serializationError(fmt.Sprintf("Request body is larger than %d bytes", MaxBodyBytes))
	}
	return buf, nil
}

func putBody(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBody {
		bodyPool.Put(buf)
	}
}

// route finds the operation: POST / with X-Amz-Target "<targetPrefix>.<Operation>" and an
// AWS JSON content type (mediaType, from jsonMediaType). Anything else names no operation
// this service serves.
func (s *Service) route(r *http.Request, mediaType string) (*Operation, Handler, *Error) {
	prefix, name, ok := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	if r.Method != http.MethodPost || r.URL.Path != "/" || mediaType == "" || !ok || prefix != s.model.Metadata.TargetPrefix {
		return nil, nil, clientError(UnknownOperationException, "")
	}
	op, known := s.model.Operations[name]
	h, handled := s.handler(name)
	if !known || !handled {
		return nil, nil, clientError(UnknownOperationException, "")
	}
	return op, h, nil
}

// call runs the handler, turning a panic into an error so that one bad handler cannot take
// the server down.
func (s *Service) call(ctx context.Context, h Handler, req *Request) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, req)
}

// internal logs err and returns the generic internal error that replaces it on the wire.
func (s *Service) internal(operation, requestID string, err error) *Error {
	s.log.Error("awsjson: internal error", "service", s.model.Metadata.ServiceID,
		"operation", operation, "requestId", requestID, "error", err)
	return &Error{Type: s.internalError, Message: internalErrorMessage, Status: http.StatusInternalServerError}
}

// status is e's HTTP status: its own, else the model's for its type, else 400.
func (s *Service) status(e *Error) int {
	if e.Status != 0 {
		return e.Status
	}
	if st, ok := s.model.ErrorStatus(e.Type); ok {
		return st
	}
	if e.Type == s.internalError {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// errorBody is {"__type": ..., "message": ...}, with the message member spelled as the
// model spells it for that exception ("Message" in CloudHSM v2).
func (s *Service) errorBody(e *Error) []byte {
	body := map[string]string{"__type": e.Type}
	if e.Message != "" {
		body[s.model.errorMessageMember(e.Type)] = e.Message
	}
	out, err := json.Marshal(body)
	if err != nil {
		// A map of strings always marshals; keep a valid body regardless.
		return []byte(`{"__type":"` + s.internalError + `"}`)
	}
	return out
}

// newRequestID returns a random (version 4) UUID, the form of AWS request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var id [36]byte
	hex.Encode(id[0:8], b[0:4])
	id[8] = '-'
	hex.Encode(id[9:13], b[4:6])
	id[13] = '-'
	hex.Encode(id[14:18], b[6:8])
	id[18] = '-'
	hex.Encode(id[19:23], b[8:10])
	id[23] = '-'
	hex.Encode(id[24:36], b[10:16])
	return string(id[:])
}
