package scenario_test

import (
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/scenario"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want scenario.Ref
		err  string
	}{
		{in: "start", want: scenario.Ref{Name: "start"}},                                               // the load's start
		{in: "end", want: scenario.Ref{Name: "end"}},                                                   // the load's end
		{in: "kill", want: scenario.Ref{Name: "kill"}},                                                 // an entry's start
		{in: "kill.end", want: scenario.Ref{Name: "kill", End: true}},                                  // its end
		{in: "kill+5s", want: scenario.Ref{Name: "kill", Offset: 5 * time.Second}},                     // a delay
		{in: "kill.end-1m30s", want: scenario.Ref{Name: "kill", End: true, Offset: -90 * time.Second}}, // before
		{in: " kill + 5s ", want: scenario.Ref{Name: "kill", Offset: 5 * time.Second}},                 // spaces are fine
		{in: "delete-hsm", want: scenario.Ref{Name: "delete-hsm"}},                                     // a dash in an id
		{in: "delete-hsm-5s", want: scenario.Ref{Name: "delete-hsm", Offset: -5 * time.Second}},        // a dash, then an offset
		{in: "net-2", want: scenario.Ref{Name: "net-2"}},                                               // no unit: part of the id
		{in: "start+10s", want: scenario.Ref{Name: "start", Offset: 10 * time.Second}},
		{in: "", err: `empty reference (want start, end, an id or <id>.end, with an optional +/-duration)`},
		{in: "kill+5", err: `reference "kill+5": offset "5" needs a unit (want e.g. 5s)`},
		{in: "kill+soon", err: `reference "kill+soon": offset "soon" is not a duration (want e.g. 5s, 1m)`},
		{in: "start.end", err: `reference "start.end": only a timeline entry has an .end`},
		{in: "kill.stop", err: `reference "kill.stop": want start, end, an id or <id>.end, with an optional +/-duration`},
		{in: "+5s", err: `reference "+5s" names nothing (want start, end, an id or <id>.end)`},
	} {
		got, err := scenario.ParseRef(tt.in)
		switch {
		case tt.err != "":
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseRef(%q) error = %v, want %s", tt.in, err, tt.err)
			}
		case err != nil:
			t.Errorf("ParseRef(%q): %v", tt.in, err)
		case got != tt.want:
			t.Errorf("ParseRef(%q) = %+v, want %+v", tt.in, got, tt.want)
		default:
			// String writes what ParseRef reads back.
			if back, err := scenario.ParseRef(got.String()); err != nil || back != got {
				t.Errorf("ParseRef(%q.String() = %q) = %+v, %v", tt.in, got.String(), back, err)
			}
		}
	}
}
