package awsjson_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keystorm/keystorm/fakes/awsjson"
)

func TestEmbeddedModelsMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		model *awsjson.Model
		want  awsjson.Metadata
	}{
		// KMS has no signingName: the endpoint prefix signs.
		{"KMS", awsjson.KMSModel(), awsjson.Metadata{APIVersion: "2014-11-01", ServiceID: "KMS", Protocol: "json", JSONVersion: "1.1",
			TargetPrefix: "TrentService", EndpointPrefix: "kms", SigningName: "kms"}},
		// CloudHSM v2 signs as "cloudhsm", not its endpoint prefix.
		{"CloudHSM v2", awsjson.CloudHSMModel(), awsjson.Metadata{APIVersion: "2017-04-28", ServiceID: "CloudHSM V2", Protocol: "json", JSONVersion: "1.1",
			TargetPrefix: "BaldrApiService", EndpointPrefix: "cloudhsmv2", SigningName: "cloudhsm"}},
	}
	for _, tt := range tests {
		if tt.model.Metadata != tt.want {
			t.Errorf("%s metadata = %+v\nwant %+v", tt.name, tt.model.Metadata, tt.want)
		}
	}
	if awsjson.KMSModel() != awsjson.KMSModel() || awsjson.CloudHSMModel() != awsjson.CloudHSMModel() {
		t.Error("models are parsed more than once")
	}
}

func TestModelOperationsAndShapes(t *testing.T) {
	t.Parallel()
	m := awsjson.KMSModel()
	op, ok := m.Operation("Encrypt")
	if !ok || op.Input != "EncryptRequest" || op.Output != "EncryptResponse" || !slices.Contains(op.Errors, "KMSInternalException") {
		t.Fatalf("Encrypt = %+v", op)
	}
	in, _ := m.Shape(op.Input)
	var names []string
	var required []string
	for _, mem := range in.Members {
		names = append(names, mem.Name)
		if mem.Required {
			required = append(required, mem.Name)
		}
	}
	if want := []string{"KeyId", "Plaintext", "EncryptionContext", "GrantTokens", "EncryptionAlgorithm", "DryRun"}; !slices.Equal(names, want) {
		t.Errorf("EncryptRequest members = %v, want model order %v", names, want)
	}
	if want := []string{"KeyId", "Plaintext"}; !slices.Equal(required, want) {
		t.Errorf("required = %v, want %v", required, want)
	}
	mem, ok := in.Member("Plaintext")
	pt, _ := m.Shape(mem.Shape)
	if !ok || pt.Type != "blob" || *pt.Min != 1 || *pt.Max != 4096 || !pt.Sensitive {
		t.Errorf("Plaintext shape = %+v", pt)
	}
	cs, _ := m.Shape("ConnectionStateType")
	if want := []string{"CONNECTED", "CONNECTING", "FAILED", "DISCONNECTED", "DISCONNECTING"}; !slices.Equal(cs.Enum, want) {
		t.Errorf("ConnectionStateType enum = %v", cs.Enum)
	}
	if _, ok := m.Operation("DescribeClusters"); ok {
		t.Error("KMS model has a CloudHSM operation")
	}
	hsmID, _ := awsjson.CloudHSMModel().Shape("ClusterId")
	if hsmID.Pattern != "cluster-[2-7a-zA-Z]{11,16}" {
		t.Errorf("ClusterId pattern = %q", hsmID.Pattern)
	}
}

func TestModelErrorStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model  *awsjson.Model
		name   string
		status int
		ok     bool
	}{
		{awsjson.KMSModel(), "KMSInternalException", 500, true},                  // "fault": true
		{awsjson.KMSModel(), "DependencyTimeoutException", 500, true},            // "fault": true
		{awsjson.KMSModel(), "CustomKeyStoreInvalidStateException", 400, true},   // client error
		{awsjson.KMSModel(), "KMSInvalidStateException", 400, true},              // client error
		{awsjson.CloudHSMModel(), "CloudHsmInternalFailureException", 500, true}, // "fault": true
		{awsjson.CloudHSMModel(), "CloudHsmResourceNotFoundException", 400, true},
		{awsjson.KMSModel(), "EncryptRequest", 0, false},      // a shape, not an exception
		{awsjson.KMSModel(), "ValidationException", 0, false}, // a frontend error, not in the model
	}
	for _, tt := range tests {
		status, ok := tt.model.ErrorStatus(tt.name)
		if status != tt.status || ok != tt.ok {
			t.Errorf("ErrorStatus(%s) = %d, %v; want %d, %v", tt.name, status, ok, tt.status, tt.ok)
		}
	}
}

func TestParseModelRefusesBrokenModels(t *testing.T) {
	t.Parallel()
	const meta = `"metadata":{"targetPrefix":"T","endpointPrefix":"t","protocol":"json"}`
	tests := []struct {
		name, doc, wantErr string
	}{
		{"dangling member reference", `{` + meta + `,"operations":{},"shapes":{"S":{"type":"structure","members":{"A":{"shape":"Missing"}}}}}`, `unknown shape "Missing"`},
		{"dangling operation input", `{` + meta + `,"operations":{"Op":{"input":{"shape":"Nope"}}},"shapes":{}}`, `operation Op: unknown shape "Nope"`},
		{"required member that does not exist", `{` + meta + `,"operations":{},"shapes":{"S":{"type":"structure","required":["B"],"members":{}}}}`, `required member "B"`},
		{"unknown shape type", `{` + meta + `,"operations":{},"shapes":{"S":{"type":"union"}}}`, `unsupported type "union"`},
		{"no target prefix", `{"metadata":{"endpointPrefix":"t"},"operations":{},"shapes":{}}`, "lacks targetPrefix"},
		{"not JSON", `{`, "decode model"},
	}
	for _, tt := range tests {
		_, err := awsjson.ParseModel(strings.NewReader(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestTimestampWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		at   time.Time
		wire string
	}{
		{time.Unix(1700000000, 123e6), "1700000000.123"},
		{time.Unix(1700000000, 500e6), "1700000000.5"},
		{time.Unix(1700000000, 0), "1700000000"},
		{time.Unix(1700000000, 999_999), "1700000000"}, // below a millisecond: dropped
		{time.Unix(-1, 250e6), "-0.75"},                // before the epoch
	}
	for _, tt := range tests {
		b, err := json.Marshal(awsjson.Timestamp(tt.at))
		if err != nil || string(b) != tt.wire {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tt.at, b, err, tt.wire)
		}
		var back awsjson.Timestamp
		if err := json.Unmarshal([]byte(tt.wire), &back); err != nil || !back.Time().Equal(tt.at.Truncate(time.Millisecond)) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", tt.wire, back.Time(), err, tt.at.Truncate(time.Millisecond))
		}
	}
	var ts awsjson.Timestamp
	if err := json.Unmarshal([]byte(`"soon"`), &ts); err == nil {
		t.Error(`Unmarshal("soon") succeeded`)
	}
}
