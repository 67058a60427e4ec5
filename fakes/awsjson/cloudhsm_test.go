package awsjson_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/keystorm/keystorm/fakes/awsjson"
)

// newCloudHSM serves a CloudHSM v2 service with a toy DescribeClusters, behind a wrapper
// that records the credential scope of each request's Authorization header.
func newCloudHSM(t *testing.T) (url string, scopes func() []string) {
	t.Helper()
	svc := awsjson.NewService(awsjson.CloudHSMModel(),
		awsjson.WithCredentials(map[string]string{testAccessKey: testSecret}),
		awsjson.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	svc.Handle("DescribeClusters", func(ctx context.Context, req *awsjson.Request) (any, error) {
		if req.AccessKeyID != testAccessKey {
			return nil, awsjson.Errorf("CloudHsmAccessDeniedException", "caller %s", req.AccessKeyID)
		}
		return map[string]any{"Clusters": []map[string]any{{
			"ClusterId":       "cluster-1a23b4cdefg",
			"State":           "ACTIVE",
			"HsmType":         "hsm1.medium",
			"CreateTimestamp": awsjson.Timestamp(time.Unix(1700000000, 0)),
			"Hsms":            []map[string]any{{"HsmId": "hsm-abcde123456", "State": "ACTIVE", "AvailabilityZone": "us-east-1a"}},
		}}}, nil
	})
	svc.Handle("DeleteHsm", func(ctx context.Context, req *awsjson.Request) (any, error) {
		return nil, awsjson.NewError("CloudHsmResourceNotFoundException", "no such HSM")
	})
	svc.Handle("CreateHsm", func(ctx context.Context, req *awsjson.Request) (any, error) {
		panic("toy CreateHsm panics")
	})
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, rest, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
			cred, _, _ := strings.Cut(rest, ",")
			mu.Lock()
			seen = append(seen, cred[strings.Index(cred, "/")+1:])
			mu.Unlock()
		}
		svc.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func TestCloudHSMDescribeClusters(t *testing.T) {
	t.Parallel()
	url, scopes := newCloudHSM(t)
	out, err := cloudHSMClient(t, url, testAccessKey, testSecret).DescribeClusters(context.Background(), &cloudhsmv2.DescribeClustersInput{
		Filters: map[string][]string{"clusterIds": {"cluster-1a23b4cdefg"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Clusters) != 1 {
		t.Fatalf("got %d clusters", len(out.Clusters))
	}
	c := out.Clusters[0]
	if aws.ToString(c.ClusterId) != "cluster-1a23b4cdefg" || c.State != types.ClusterStateActive ||
		len(c.Hsms) != 1 || aws.ToString(c.Hsms[0].HsmId) != "hsm-abcde123456" ||
		!aws.ToTime(c.CreateTimestamp).Equal(time.Unix(1700000000, 0)) {
		t.Errorf("cluster = %+v", c)
	}
	// The SDK signed for "cloudhsm" (the model's signingName, not its endpoint prefix
	// "cloudhsmv2"), and the service verified that signature.
	got := scopes()
	if len(got) != 1 || !strings.HasSuffix(got[0], "/us-east-1/cloudhsm/aws4_request") {
		t.Errorf("credential scopes = %q, want one .../us-east-1/cloudhsm/aws4_request", got)
	}
}

func TestCloudHSMRefusesKMSSigningName(t *testing.T) {
	t.Parallel()
	url, _ := newCloudHSM(t)
	for _, service := range []string{"cloudhsmv2", "kms"} {
		r := post(t, url, "BaldrApiService.DescribeClusters", "application/x-amz-json-1.1", "{}", signing{service: service})
		r.wantError(t, http.StatusBadRequest, "InvalidSignatureException", "Credential should be scoped to correct service: 'cloudhsm'. ")
	}
	r := post(t, url, "BaldrApiService.DescribeClusters", "application/x-amz-json-1.1", "{}", signing{service: "cloudhsm"})
	if r.status != http.StatusOK {
		t.Errorf("signed for cloudhsm: %d %s", r.status, r.raw)
	}
}

func TestCloudHSMErrors(t *testing.T) {
	t.Parallel()
	url, _ := newCloudHSM(t)
	client := cloudHSMClient(t, url, testAccessKey, testSecret)

	// CloudHSM's exceptions spell their message member "Message"; the SDK reads it.
	_, err := client.DeleteHsm(context.Background(), &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String("cluster-1a23b4cdefg"), HsmId: aws.String("hsm-abcde123456")})
	code, msg, status := apiError(t, err)
	if code != "CloudHsmResourceNotFoundException" || msg != "no such HSM" || status != 400 {
		t.Errorf("DeleteHsm: got %d %s %q", status, code, msg)
	}
	var notFound *types.CloudHsmResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("DeleteHsm error %v is not the SDK's typed exception", err)
	}

	// A panic is CloudHSM's internal fault, HTTP 500.
	_, err = client.CreateHsm(context.Background(), &cloudhsmv2.CreateHsmInput{ClusterId: aws.String("cluster-1a23b4cdefg"), AvailabilityZone: aws.String("us-east-1a")})
	code, _, status = apiError(t, err)
	if code != "CloudHsmInternalFailureException" || status != 500 {
		t.Errorf("CreateHsm: got %d %s", status, code)
	}

	// Validation paths and limits come from the CloudHSM model.
	r := post(t, url, "BaldrApiService.DescribeClusters", "application/x-amz-json-1.1", `{"MaxResults":26}`, signing{service: "cloudhsm"})
	r.wantError(t, 400, "ValidationException",
		"1 validation error detected: Value '26' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 25")
}
