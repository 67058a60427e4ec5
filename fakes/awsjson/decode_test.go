package awsjson

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
)

// decodeSeeds are bodies that exercise the deserializer's corners: repeated members, nulls,
// escapes, invalid UTF-8, numbers at their limits, nesting, white space.
var decodeSeeds = []string{
	`{}`, ` { } `, `[]`, `"x"`, `1`, `null`, ``, `{} {}`, `{"a":`, `{"KeyId":"k"} x`,
	`{"KeyId":"k","Plaintext":"aGk="}`,
	`{"KeyId":"k","KeyId":5}`, `{"KeyId":5,"KeyId":"k"}`, `{"KeyId":5,"KeyId":null}`, `{"KeyId":"k","KeyId":null}`,
	`{"KeyId":"a\"b\\c\u00e9\ud83d\ude00\ud800","Plaintext":"aG\u006b="}`,
	"{\"KeyId\":\"\xff\xfe\",\"Key\\u0049d\":\"escaped name\"}",
	`{"Plaintext":"aGk=\n"}`, `{"Plaintext":"aGk"}`, `{"Plaintext":""}`, `{"Plaintext":"!!"}`, `{"Plaintext":["aGk="]}`,
	`{"EncryptionContext":{"a":"b","a":null,"c":1,"d":"e"}}`, `{"EncryptionContext":{"z":1,"a":true}}`,
	`{"EncryptionContext":{"a":"b","a":1}}`, `{"EncryptionContext":{"a":1,"a":"b"}}`, `{"EncryptionContext":[]}`, `{"EncryptionContext":"x"}`,
	`{"GrantTokens":["a",null,"b"]}`, `{"GrantTokens":["a",1,{}]}`, `{"GrantTokens":{}}`, `{"GrantTokens":"a"}`, `{"GrantTokens":[[]]}`,
	`{"DryRun":true}`, `{"DryRun":false}`, `{"DryRun":"true"}`, `{"DryRun":0}`,
	`{"Limit":2.9}`, `{"Limit":-2.9}`, `{"Limit":2147483647}`, `{"Limit":2147483648}`, `{"Limit":-2147483649}`, `{"Limit":1e3}`,
	`{"Limit":1e400}`, `{"Limit":-0}`, `{"Limit":"5"}`, `{"Limit":[1]}`, `{"Limit":{"a":1}}`, `{"Limit":true}`,
	`{"PendingWindowInDays":7,"KeyId":"k"}`,
	`{"Tags":[{"TagKey":"a","TagValue":"b"},null,{"TagKey":1}]}`, `{"Tags":[{"TagKey":1},{"TagValue":[]}]}`, `{"Tags":["x"]}`, `{"Tags":[[1]]}`,
	`{"Tags":[{"TagKey":"a","TagKey":null,"Bogus":{"deep":[1,[2,{"x":"]}"}]]}}]}`,
	`{"Policy":"{\"Version\":\"2012-10-17\"}","BypassPolicyLockoutSafetyCheck":true,"KeyUsage":"ENCRYPT_DECRYPT","Origin":"AWS_KMS"}`,
	`{"Filters":{"states":["ACTIVE",null],"clusterIds":[]},"MaxResults":10}`, `{"Filters":{"a":[1]},"NextToken":null}`,
	`{"Filters":{"a":"b"}}`, `{"Filters":{"a":{"b":1}}}`,
	`{"HsmType":"hsm1.medium","SubnetIds":["subnet-0123abcd"],"TagList":[{"Key":"k","Value":"v"}]}`,
	`{"ClusterId":"cluster-1","TagKeyList":["a","b"],"ResourceId":5}`,
	`{"Bogus":[{"a":[1,2,{"b":"\"]}"}]}],"KeyId":"after"}`,
	"\t{\r\n\"KeyId\" : \"k\" ,\n \"Plaintext\" :\t\"aGk=\" }\n",
	`{"ValidFrom":1700000000.5,"ValidTo":"2024-01-01","ImportToken":"aGk=","EncryptedKeyMaterial":"aGk="}`,
	`{"NumberOfBytes":1024,"KeySpec":"AES_256","EncryptionContext":{"a\u0000":"\u2028"}}`,
}

// inputShapes are the input shapes of every operation of both models, with the model
// each belongs to.
func inputShapes() []struct {
	model *Model
	shape *Shape
} {
	var out []struct {
		model *Model
		shape *Shape
	}
	for _, m := range []*Model{KMSModel(), CloudHSMModel()} {
		for _, name := range slices.Sorted(maps.Keys(m.Operations)) {
			if in := m.Operations[name].Input; in != "" {
				out = append(out, struct {
					model *Model
					shape *Shape
				}{m, m.Shapes[in]})
			}
		}
	}
	return out
}

// TestDecodeMatchesOracle decodes every seed as every input shape of both models with the
// streaming decoder and the two-pass one it replaced: same tree or same error.
func TestDecodeMatchesOracle(t *testing.T) {
	t.Parallel()
	for _, in := range inputShapes() {
		for _, body := range decodeSeeds {
			if msg := compareWithOracle(in.model, in.shape, []byte(body)); msg != "" {
				t.Errorf("%s %s: %s", in.shape.Name, body, msg)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	shapes := inputShapes()
	for i, body := range decodeSeeds {
		f.Add(uint16(i), []byte(body))
	}
	f.Fuzz(func(t *testing.T, which uint16, body []byte) {
		in := shapes[int(which)%len(shapes)]
		if msg := compareWithOracle(in.model, in.shape, body); msg != "" {
			t.Errorf("%s %q: %s", in.shape.Name, body, msg)
		}
	})
}

// compareWithOracle returns "" when both decoders agree on body. Where several map values
// fail the oracle names one at random (Go's map order), so it is asked again until it
// names the one the streaming decoder did.
func compareWithOracle(m *Model, shape *Shape, body []byte) string {
	got, gotErr := m.decodeBody(shape, body)
	for try := 0; ; try++ {
		want, wantErr := m.oracleDecodeBody(shape, body)
		switch {
		case gotErr == nil && wantErr == nil:
			if reflect.DeepEqual(got, want) {
				return ""
			}
			return fmt.Sprintf("tree %#v, want %#v", got, want)
		case gotErr != nil && wantErr != nil && *gotErr == *wantErr:
			return ""
		case gotErr != nil && wantErr != nil && try < 100:
			continue
		}
		return fmt.Sprintf("got %#v, %v; want %#v, %v", got, gotErr, want, wantErr)
	}
}
