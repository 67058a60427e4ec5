package awsjson_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every httptest server
// is closed and every client's idle connections are dropped in t.Cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
