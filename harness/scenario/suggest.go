package scenario

// suggest returns the candidate closest to s when it is close enough to be
// a plausible typo ("dutty" for "duty", "delete-hsn" for "delete-hsm",
// "Encrpyt" for "Encrypt"), or "" when none is.
func suggest(s string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(s, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// Allow about one edit per four characters, at least one, at most
	// three: enough for typos, not so much that unrelated names match.
	// A name of one or two characters rewritten entirely ("c" for "a")
	// is no typo.
	limit := min(max(len(s)/4, 1), 3)
	if bestDist < 0 || bestDist > limit || bestDist >= len(s) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b,
// in bytes (the names compared here are ASCII): Levenshtein's insertions,
// deletions and substitutions, plus swapping two adjacent characters, the
// commonest typo.
func editDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
