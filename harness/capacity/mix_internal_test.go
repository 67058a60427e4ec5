package capacity

import "testing"

func TestPickerKeepsTheRatio(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mix  Mix
		want map[Op]int // counts over one cycle of the weights' sum
	}{
		// Equal weights alternate.
		{Mix{Encrypt: 1, Decrypt: 1}, map[Op]int{Encrypt: 1, Decrypt: 1}},
		{Mix{Encrypt: 3, Decrypt: 1}, map[Op]int{Encrypt: 3, Decrypt: 1}},
		// A zero weight never runs.
		{Mix{Encrypt: 0, Decrypt: 5}, map[Op]int{Decrypt: 5}},
	} {
		p := newPicker(tc.mix)
		total := 0
		for _, n := range tc.want {
			total += n
		}
		// Three cycles: the smooth round-robin repeats exactly per cycle.
		got := map[Op]int{}
		for range 3 * total {
			got[p.next()]++
		}
		for op, n := range tc.want {
			if got[op] != 3*n {
				t.Errorf("mix %v: %s picked %d times in %d, want %d", tc.mix, op, got[op], 3*total, 3*n)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("mix %v: picked %v", tc.mix, got)
		}
	}
}
