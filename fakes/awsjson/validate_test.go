package awsjson_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keystorm/keystorm/fakes/awsjson"
)

func b64(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }

func TestCheck(t *testing.T) {
	t.Parallel()
	kmsM, hsm := awsjson.KMSModel(), awsjson.CloudHSMModel()
	long := strings.Repeat("k", 2049)
	tests := []struct {
		name     string
		model    *awsjson.Model
		shape    string
		body     string
		patterns bool
		wantType string // "" for success
		wantMsg  string // error message, or the normalized body on success
	}{
		// --- success and normalization
		{"Encrypt - minimal - passes", kmsM, "EncryptRequest", `{"KeyId":"k","Plaintext":"aGk="}`, false,
			"", `{"KeyId":"k","Plaintext":"aGk="}`},
		{"Encrypt - unknown members and nulls - dropped", kmsM, "EncryptRequest",
			`{"KeyId":"k","Plaintext":"aGk=","Bogus":{"x":1},"GrantTokens":["a",null],"EncryptionContext":{"a":"b","c":null},"DryRun":null}`, false,
			"", `{"EncryptionContext":{"a":"b"},"GrantTokens":["a"],"KeyId":"k","Plaintext":"aGk="}`},
		{"DescribeCustomKeyStores - fractional Limit - truncated as AWS does", kmsM, "DescribeCustomKeyStoresRequest", `{"Limit":2.9}`, false,
			"", `{"Limit":2}`},
		{"Encrypt - plaintext of 4096 bytes - passes", kmsM, "EncryptRequest", `{"KeyId":"k","Plaintext":"` + b64(4096) + `"}`, false,
			"", `{"KeyId":"k","Plaintext":"` + b64(4096) + `"}`},
		{"no input shape - empty object - passes", kmsM, "", `{}`, false, "", `{}`},

		// --- required members
		{"Encrypt - empty object - both required members null, in model order", kmsM, "EncryptRequest", `{}`, false,
			"ValidationException", "2 validation errors detected: " +
				"Value null at 'keyId' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'plaintext' failed to satisfy constraint: Member must not be null"},
		{"ConnectCustomKeyStore - no id - not null", kmsM, "ConnectCustomKeyStoreRequest", `{}`, false,
			"ValidationException", "1 validation error detected: Value null at 'customKeyStoreId' failed to satisfy constraint: Member must not be null"},

		// --- string lengths
		{"Encrypt - KeyId of 2049 chars - too long", kmsM, "EncryptRequest", `{"KeyId":"` + long + `","Plaintext":"aGk="}`, false,
			"ValidationException", "1 validation error detected: Value '" + long + "' at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048"},
		{"Encrypt - empty KeyId - too short", kmsM, "EncryptRequest", `{"KeyId":"","Plaintext":"aGk="}`, false,
			"ValidationException", "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"CreateCustomKeyStore - length counts characters not bytes", kmsM, "CreateCustomKeyStoreRequest",
			`{"CustomKeyStoreName":"` + strings.Repeat("é", 256) + `"}`, false, "", `{"CustomKeyStoreName":"` + strings.Repeat("é", 256) + `"}`},
		{"CreateCustomKeyStore - sensitive password too short - value not echoed", kmsM, "CreateCustomKeyStoreRequest",
			`{"CustomKeyStoreName":"s","KeyStorePassword":"abc"}`, false,
			"ValidationException", "1 validation error detected: Value at 'keyStorePassword' failed to satisfy constraint: Member must have length greater than or equal to 7"},

		// --- blobs: lengths of the decoded bytes
		{"Encrypt - plaintext of 4097 bytes - sensitive, too long", kmsM, "EncryptRequest", `{"KeyId":"k","Plaintext":"` + b64(4097) + `"}`, false,
			"ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"},
		{"Encrypt - empty plaintext - too short", kmsM, "EncryptRequest", `{"KeyId":"k","Plaintext":""}`, false,
			"ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"Decrypt - ciphertext of 6145 bytes - shown as Java ByteBuffer", kmsM, "DecryptRequest", `{"CiphertextBlob":"` + b64(6145) + `"}`, false,
			"ValidationException", "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=6145 cap=6145]' at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144"},

		// --- numbers
		{"DescribeCustomKeyStores - Limit 0 - below min", kmsM, "DescribeCustomKeyStoresRequest", `{"Limit":0}`, false,
			"ValidationException", "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"DescribeCustomKeyStores - Limit 1001 - above max", kmsM, "DescribeCustomKeyStoresRequest", `{"Limit":1001}`, false,
			"ValidationException", "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000"},
		{"ScheduleKeyDeletion - window 366 days - above the model's max", kmsM, "ScheduleKeyDeletionRequest", `{"KeyId":"k","PendingWindowInDays":366}`, false,
			"ValidationException", "1 validation error detected: Value '366' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 365"},

		// --- enums
		{"Encrypt - unknown algorithm - enum value set in model order", kmsM, "EncryptRequest", `{"KeyId":"k","Plaintext":"aGk=","EncryptionAlgorithm":"ROT13"}`, false,
			"ValidationException", "1 validation error detected: Value 'ROT13' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]"},

		// --- lists
		{"Encrypt - 11 grant tokens - list too long", kmsM, "EncryptRequest",
			`{"KeyId":"k","Plaintext":"aGk=","GrantTokens":["a","b","c","d","e","f","g","h","i","j","k"]}`, false,
			"ValidationException", "1 validation error detected: Value '[a, b, c, d, e, f, g, h, i, j, k]' at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10"},
		{"Encrypt - empty grant token - element constraints listed for the whole list", kmsM, "EncryptRequest",
			`{"KeyId":"k","Plaintext":"aGk=","GrantTokens":["","a"]}`, false,
			"ValidationException", "1 validation error detected: Value '[, a]' at 'grantTokens' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 8192, Member must have length greater than or equal to 1]"},
		{"CreateKey - tags - structure elements numbered from 1 with .member", kmsM, "CreateKeyRequest",
			`{"Tags":[{"TagKey":"ok","TagValue":"v"},{"TagKey":""}]}`, false,
			"ValidationException", "2 validation errors detected: " +
				"Value '' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value null at 'tags.2.member.tagValue' failed to satisfy constraint: Member must not be null"},
		{"CreateCluster - no subnets - list below min", hsm, "CreateClusterRequest", `{"HsmType":"hsm1.medium","SubnetIds":[]}`, false,
			"ValidationException", "1 validation error detected: Value '[]' at 'subnetIds' failed to satisfy constraint: Member must have length greater than or equal to 1"},

		// --- maps
		{"DescribeClusters - 31 filters - map too long", hsm, "DescribeClustersRequest", `{"Filters":` + filters(31) + `}`, false,
			"ValidationException", "1 validation error detected: Value '" + renderFilters(31) + "' at 'filters' failed to satisfy constraint: Member must have length less than or equal to 30"},
		{"DescribeClusters - bad filter key, patterns on - map keys constraint", hsm, "DescribeClustersRequest", `{"Filters":{"bad key!":["x"]}}`, true,
			"ValidationException", "1 validation error detected: Value '{bad key!=[x]}' at 'filters' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+]"},
		{"DescribeClusters - bad filter key, patterns off - passes", hsm, "DescribeClustersRequest", `{"Filters":{"bad key!":["x"]}}`, false,
			"", `{"Filters":{"bad key!":["x"]}}`},

		// --- patterns: off by default because documented ids break them
		{"CreateCluster - documented backup id, patterns off - passes", hsm, "CreateClusterRequest",
			`{"HsmType":"hsm1.medium","SubnetIds":["subnet-0123abcd"],"SourceBackupId":"backup-9g87f6edcba"}`, false,
			"", `{"HsmType":"hsm1.medium","SourceBackupId":"backup-9g87f6edcba","SubnetIds":["subnet-0123abcd"]}`},
		{"CreateCluster - documented backup id, patterns on - fails the model's pattern", hsm, "CreateClusterRequest",
			`{"HsmType":"hsm1.medium","SubnetIds":["subnet-0123abcd"],"SourceBackupId":"backup-9g87f6edcba"}`, true,
			"ValidationException", "1 validation error detected: Value 'backup-9g87f6edcba' at 'sourceBackupId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(arn:aws(-(us-gov))?:cloudhsm:([a-z]{2}(-(gov|isob|iso))?-(east|west|north|south|central){1,2}-[0-9]{1}):[0-9]{12}:backup/)?backup-[2-7a-zA-Z]{11,16}"},
		{"DescribeCustomKeyStores - Java \\u escapes in patterns - translated", kmsM, "DescribeCustomKeyStoresRequest", `{"Marker":"é"}`, true,
			"", `{"Marker":"é"}`},
		{"DescribeCustomKeyStores - character outside the Marker pattern, patterns on - fails", kmsM, "DescribeCustomKeyStoresRequest", `{"Marker":"Ā"}`, true,
			"ValidationException", "1 validation error detected: Value 'Ā' at 'marker' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0020-\\u00FF]*"},

		// --- deserialization: SerializationException before any validation
		{"Encrypt - number for a string", kmsM, "EncryptRequest", `{"KeyId":5}`, false, "SerializationException", "NUMBER_VALUE can not be converted to a String"},
		{"Encrypt - true for a string", kmsM, "EncryptRequest", `{"KeyId":true}`, false, "SerializationException", "TRUE_VALUE can not be converted to a String"},
		{"Encrypt - list for a string", kmsM, "EncryptRequest", `{"KeyId":["k"]}`, false, "SerializationException", "Start of list found where not expected"},
		{"Encrypt - object for a string", kmsM, "EncryptRequest", `{"KeyId":{}}`, false, "SerializationException", "Start of structure or map found where not expected."},
		{"Encrypt - number for a blob", kmsM, "EncryptRequest", `{"Plaintext":1}`, false, "SerializationException", "NUMBER_VALUE can not be converted to a ByteBuffer"},
		{"Encrypt - blob not base64", kmsM, "EncryptRequest", `{"KeyId":"k","Plaintext":"not base64!"}`, false, "SerializationException", "Base64 encoded value is not valid"},
		{"Encrypt - string for a boolean", kmsM, "EncryptRequest", `{"DryRun":"yes"}`, false, "SerializationException", "STRING_VALUE can not be converted to a Boolean"},
		{"Encrypt - string for a list", kmsM, "EncryptRequest", `{"GrantTokens":"a"}`, false, "SerializationException", "Expected list or null"},
		{"Encrypt - object for a list", kmsM, "EncryptRequest", `{"GrantTokens":{}}`, false, "SerializationException", "Start of structure or map found where not expected."},
		{"Encrypt - list for a map", kmsM, "EncryptRequest", `{"EncryptionContext":[]}`, false, "SerializationException", "Start of list found where not expected"},
		{"Encrypt - number inside a map", kmsM, "EncryptRequest", `{"EncryptionContext":{"a":1}}`, false, "SerializationException", "NUMBER_VALUE can not be converted to a String"},
		{"CreateKey - string for a structure", kmsM, "CreateKeyRequest", `{"Tags":["x"]}`, false, "SerializationException", "Expected null"},
		{"DescribeCustomKeyStores - string for an integer", kmsM, "DescribeCustomKeyStoresRequest", `{"Limit":"5"}`, false, "SerializationException", "STRING_VALUE can not be converted to an Integer"},
		{"DescribeCustomKeyStores - integer beyond int32", kmsM, "DescribeCustomKeyStoresRequest", `{"Limit":2147483648}`, false, "SerializationException", "NUMBER_VALUE can not be converted to an Integer"},
		{"top-level list", kmsM, "EncryptRequest", `[]`, false, "SerializationException", "Start of list found where not expected"},
		{"malformed JSON", kmsM, "EncryptRequest", `{"KeyId":`, false, "SerializationException", ""},
		{"trailing data", kmsM, "EncryptRequest", `{} {}`, false, "SerializationException", ""},
		{"empty body", kmsM, "EncryptRequest", ``, false, "SerializationException", ""},
		{"top-level string", kmsM, "EncryptRequest", `"x"`, false, "SerializationException", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := tt.model.Check(tt.shape, []byte(tt.body), awsjson.CheckOptions{Patterns: tt.patterns})
			if tt.wantType == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if string(out) != tt.wantMsg {
					t.Errorf("normalized body = %s\nwant              %s", out, tt.wantMsg)
				}
				return
			}
			var ae *awsjson.Error
			if !errors.As(err, &ae) {
				t.Fatalf("Check = %s, %v; want %s", out, err, tt.wantType)
			}
			if ae.Type != tt.wantType || ae.Message != tt.wantMsg || ae.Status != 400 {
				t.Errorf("got %d %s %q\nwant 400 %s %q", ae.Status, ae.Type, ae.Message, tt.wantType, tt.wantMsg)
			}
		})
	}
}

func TestCheckRefusesNonInputShapes(t *testing.T) {
	t.Parallel()
	for _, shape := range []string{"NoSuchShape", "KeyIdType"} {
		_, err := awsjson.KMSModel().Check(shape, []byte(`{}`), awsjson.CheckOptions{})
		var ae *awsjson.Error
		if err == nil || errors.As(err, &ae) {
			t.Errorf("Check(%q) = %v, want a plain Go error", shape, err)
		}
	}
}

// filters builds a Filters map of n entries; renderFilters is how AWS echoes it (sorted
// here, as Java's map order is not specified).
func filters(n int) string {
	m := map[string][]string{}
	for i := range n {
		m[fmt.Sprintf("f%02d", i)] = []string{"x"}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func renderFilters(n int) string {
	parts := make([]string, n)
	for i := range n {
		parts[i] = fmt.Sprintf("f%02d=[x]", i)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
