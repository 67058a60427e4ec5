package result_test

import (
	"testing"

	"github.com/keystorm/keystorm/harness/result"
)

func TestMerge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []result.Status
		want result.Status
	}{
		{"nothing - not applicable", nil, result.NotApplicable},
		{"only not applicable - not applicable", []result.Status{result.NotApplicable, result.NotApplicable}, result.NotApplicable},
		{"pass and not applicable - pass", []result.Status{result.NotApplicable, result.Pass}, result.Pass},
		{"unknown beats pass", []result.Status{result.Pass, result.Unknown, result.Pass}, result.Unknown},
		{"fail beats unknown", []result.Status{result.Unknown, result.Fail, result.Pass}, result.Fail},
		{"fail beats not applicable", []result.Status{result.NotApplicable, result.Fail}, result.Fail},
	} {
		if got := result.Merge(tc.in...); got != tc.want {
			t.Errorf("%s: got %s", tc.name, got)
		}
	}
}
