package scenario_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/keystorm/keystorm/harness/scenario"
)

// TestDescribe compares the summary of testdata/full.yaml with its golden
// file (rewrite it with -update).
func TestDescribe(t *testing.T) {
	t.Parallel()
	s, err := scenario.Load("testdata/full.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var buf bytes.Buffer
	s.Describe(&buf)
	const golden = "testdata/full.describe.txt"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden: %v (run with -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Describe:\n%s\nwant (%s):\n%s", buf.Bytes(), golden, want)
	}
}

func TestShapeString(t *testing.T) {
	t.Parallel()
	s, err := scenario.Parse("x.yaml", []byte(`name: t
setup: {keys: [{name: k}]}
load:
  duration: 60s
  keys: [k]
  shape:
    sequence:
      - constant: {rate: 100, for: 10s}
      - square: {low: 50, high: 400, period: 5s, duty: 0.2, for: 20s}
      - sequence:
          - spike: {base: 10, peak: 90, every: 10s, width: 1s, for: 10s}
          - ramp: {from: 1, to: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := scenario.ShapeString(s.Load.Shape)
	want := "sequence: constant 100/s for 10s, square 50..400/s period 5s duty 0.2 for 20s, (spike 10/s, 90/s for 1s every 10s for 10s, ramp 1..2/s)"
	if got != want {
		t.Errorf("ShapeString =\n%s\nwant\n%s", got, want)
	}
}
