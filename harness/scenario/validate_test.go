package scenario_test

import (
	"strings"
	"testing"
)

// TestValidateErrors covers the checks that run once a file decodes:
// required fields, references, the timeline's order, budgets. Each case
// is a small scenario (mostly base plus a few lines) and every error line
// it must give.
func TestValidateErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		yaml string
		want []string
	}{
		// Required fields.
		{
			name: "A missing name and load duration are required",
			yaml: strings.Replace(strings.Replace(base, "name: t\n", "", 1), "  duration: 60s\n", "", 1),
			want: []string{
				`x.yaml:1:1: name: required: the scenario's name (lower-case letters, digits and dashes)`,
				`x.yaml:6:3: load.duration: required: how long the load runs, more than 0 (such as 60s)`,
			},
		},
		{
			name: "A parameter the action requires is reported at its with",
			yaml: base + "timeline:\n  - at: 1s\n    fault: delete-hsm\n    with: {count: \"2\"}\n",
			want: []string{`x.yaml:13:11: timeline[0].with.cluster: required`},
		},
		{
			name: "A parameter the action refuses is reported at the parameter",
			yaml: base + "timeline:\n  - at: 1s\n    step: create-hsm\n    with: {cluster: a, count: 40}\n",
			want: []string{`x.yaml:13:31: timeline[0].with.count: 40, want 1 to 28`},
		},
		{
			name: "An entry needs a time and an action",
			yaml: base + "timeline:\n  - id: nothing\n",
			want: []string{
				`x.yaml:11:5: timeline[0]: required: at (a time since the load started) or when (a condition to wait for)`,
				`x.yaml:11:5: timeline[0]: required: fault or step (see keystorm faults)`,
			},
		},
		{
			name: "An empty expectation needs a kind",
			yaml: base + "expect:\n  - id: nothing\n",
			want: []string{`x.yaml:11:5: expect[0]: required: one of state, sequence, errors, latency, error-rate, throughput, integrity, steady-state, outcome, audit`},
		},

		// The setup.
		{
			name: "Two stores on one cluster are an error that says why",
			yaml: strings.Replace(base, "stores: [{name: s1, cluster: a}]", "stores: [{name: s1, cluster: a}, {name: s2, cluster: a}]", 1),
			want: []string{`x.yaml:4:56: setup.stores[1].cluster: cluster "a" already backs store "s1" (setup.stores[0]): KMS refuses a second store on a cluster with CloudHsmClusterInUseException`},
		},
		{
			name: "A store on an unknown cluster is an error, with the defined ones",
			yaml: strings.Replace(base, "cluster: a}", "cluster: c}", 1),
			want: []string{`x.yaml:4:32: setup.stores[0].cluster: unknown cluster "c" (defined: a, b)`},
		},
		{
			name: "Names are unique within each kind, not across kinds",
			yaml: strings.Replace(base, "clusters: [a, b]", "clusters: [a, b, a, s1]", 1),
			want: []string{`x.yaml:3:20: setup.clusters[2]: cluster "a" is already defined (setup.clusters[0]): names must be unique`},
		},

		// The load.
		{
			name: "An explicit zero weight is an error, not the default",
			yaml: base + "  mix: [{op: Encrypt, weight: 0}]\n",
			want: []string{`x.yaml:10:31: load.mix[0].weight: 0: want at least 1 (leave the operation out to not run it)`},
		},
		{
			name: "Decrypt without Encrypt needs setup ciphertexts, and says why",
			yaml: base + "  mix: [{op: Decrypt}]\n",
			want: []string{`x.yaml:10:14: load.mix[0].op: Decrypt needs ciphertexts, and without Encrypt in the mix only setup.ciphertexts make them: add Encrypt to the mix, or setup.ciphertexts for key k1`},
		},
		{
			name: "A shape needs exactly one kind",
			yaml: strings.Replace(base, "{constant: {rate: 10}}", "{constant: {rate: 10}, poisson: {rate: 5}}", 1),
			want: []string{`x.yaml:8:10: load.shape: sets constant and poisson: want exactly one shape (use a sequence to play several)`},
		},
		{
			name: "In a nested sequence every shape but the last needs a for, and the fors fit the duration",
			yaml: strings.Replace(base, "{constant: {rate: 10}}", "\n    sequence:\n      - constant: {rate: 1, for: 50s}\n      - sequence:\n        - ramp: {from: 1, to: 9}\n        - spike: {base: 5, peak: 1, every: 2s, width: 2s, for: 20s}", 1),
			want: []string{
				`x.yaml:10:7: load.shape.sequence: the shapes' for add up to 1m10s, more than load.duration (1m0s)`,
				`x.yaml:12:17: load.shape.sequence[1].sequence[0].ramp.for: required: every shape of a sequence but the last needs a for`,
				`x.yaml:13:34: load.shape.sequence[1].sequence[1].spike.peak: 1 is below base (5)`,
				`x.yaml:13:55: load.shape.sequence[1].sequence[1].spike.width: 2s: want less than every (2s), or the spikes merge into one`,
			},
		},

		// The timeline.
		{
			name: "An entry waiting for a later one is an impossible timeline",
			yaml: base + "timeline:\n  - id: first\n    when: {after: second}\n    step: create-hsm\n    with: {cluster: a}\n  - id: second\n    at: 5s\n    fault: delete-hsm\n    with: {cluster: a}\n",
			want: []string{`x.yaml:12:19: timeline[0].when.after: impossible timeline: first waits for second, which is listed later (timeline[1]): list entries in the order they happen`},
		},
		{
			name: "Entries waiting for each other are a cycle",
			yaml: base + "timeline:\n  - id: x\n    when: {after: y.end}\n    step: create-hsm\n    with: {cluster: a}\n  - id: y\n    when: {after: x+1s}\n    fault: delete-hsm\n    with: {cluster: a}\n",
			want: []string{`x.yaml:12:19: timeline[0].when.after: impossible timeline: a cycle: x waits for y, y waits for x`},
		},
		{
			name: "An entry waiting for itself is a cycle",
			yaml: base + "timeline:\n  - id: x\n    when: {after: x.end}\n    step: create-hsm\n    with: {cluster: a}\n",
			want: []string{`x.yaml:12:19: timeline[0].when.after: impossible timeline: x waits for itself`},
		},
		{
			name: "An entry at a time beyond the load is impossible",
			yaml: base + "timeline:\n  - at: 90s\n    fault: delete-hsm\n    with: {cluster: a}\n",
			want: []string{`x.yaml:11:9: timeline[0].at: impossible timeline: at 1m30s is after the load ends (load.duration is 1m0s)`},
		},
		{
			name: "An entry that cannot start before the load ends is impossible",
			yaml: base + "timeline:\n  - at: 50s\n    fault: delete-hsm\n    with: {cluster: a}\n  - when: {after: delete-hsm.end+5s}\n    step: create-hsm\n    with: {cluster: a}\n  - id: late\n    when: {after: create-hsm+10s}\n    step: create-hsm\n    with: {cluster: a}\n",
			want: []string{`x.yaml:18:19: timeline[2].when.after: impossible timeline: late cannot start before 1m5s (late after create-hsm+10s, create-hsm after delete-hsm.end+5s, delete-hsm at 50s), after the load ends (load.duration is 1m0s)`},
		},
		{
			name: "Two entries of one action need ids",
			yaml: base + "timeline:\n  - at: 1s\n    fault: delete-hsm\n    with: {cluster: a}\n  - at: 2s\n    fault: delete-hsm\n    with: {cluster: b}\n",
			want: []string{`x.yaml:14:5: timeline[1].id: "delete-hsm" (the action's name, by default) is already the id of timeline[0]: give each entry its own id`},
		},
		{
			name: "An id that reads as a reference with an offset is refused",
			yaml: base + "timeline:\n  - id: kill-5s\n    at: 1s\n    fault: delete-hsm\n    with: {cluster: a}\n",
			want: []string{`x.yaml:11:9: timeline[0].id: "kill-5s" reads as a reference to "kill" with an offset of -5s: choose another id`},
		},
		{
			name: "A condition on an unknown store with an unknown state is two errors",
			yaml: base + "timeline:\n  - when: {store: s9, state: CONECTED}\n    step: create-hsm\n    with: {cluster: a}\n",
			want: []string{
				`x.yaml:11:19: timeline[0].when.store: unknown store "s9" (defined: s1; did you mean s1?)`,
				`x.yaml:11:30: timeline[0].when.state: unknown store state "CONECTED" (want one of: DISCONNECTED, CONNECTING, CONNECTED, FAILED, DISCONNECTING)`,
			},
		},
		{
			name: "A code needs a FAILED store and a known code",
			yaml: base + "timeline:\n  - when: {store: s1, state: CONNECTED, code: NETWORK_ERROR}\n    step: create-hsm\n    with: {cluster: a}\n  - id: k\n    when: {key: k1, state: Disabled, code: NETWORK_ERRORS}\n    step: create-hsm\n    with: {cluster: a}\n",
			want: []string{
				`x.yaml:11:47: timeline[0].when.code: unknown ConnectionErrorCode "NETWORK_ERROR" (want one of: CLUSTER_NOT_FOUND, SUBNET_NOT_FOUND, INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET, INSUFFICIENT_CLOUDHSM_HSMS, NETWORK_ERRORS, USER_NOT_FOUND, USER_LOCKED_OUT, USER_LOGGED_IN, INVALID_CREDENTIALS, INTERNAL_ERROR)`,
				`x.yaml:15:44: timeline[1].when.code: a ConnectionErrorCode is a store's: set store`,
			},
		},
		{
			name: "A parameter naming an unknown cluster is an error",
			yaml: base + "timeline:\n  - at: 1s\n    fault: delete-hsm\n    with: {cluster: c}\n",
			want: []string{`x.yaml:13:21: timeline[0].with.cluster: unknown cluster "c" (defined: a, b)`},
		},
		{
			name: "A cluster made by a later entry is an impossible timeline",
			yaml: base + "timeline:\n  - at: 10s\n    step: create-hsm\n    with: {cluster: restored}\n  - at: 20s\n    step: create-cluster-from-backup\n    with: {cluster: a, as: restored}\n",
			want: []string{`x.yaml:13:21: timeline[0].with.cluster: impossible timeline: cluster "restored" is made by timeline[1] (create-cluster-from-backup), which runs after this entry`},
		},
		{
			name: "A backup no entry makes is unknown",
			yaml: base + "timeline:\n  - at: 10s\n    step: create-cluster-from-backup\n    with: {cluster: a, backup: nightly, as: restored}\n",
			want: []string{`x.yaml:13:32: timeline[0].with.backup: unknown backup "nightly": no backup is made by the timeline (an action's as: names one)`},
		},
		{
			name: "A new name may not hide a setup name",
			yaml: base + "timeline:\n  - at: 10s\n    step: create-cluster-from-backup\n    with: {cluster: a, as: b}\n",
			want: []string{`x.yaml:13:28: timeline[0].with.as: "b" already names a setup cluster (setup.clusters[1]): choose a new name`},
		},

		// Expectations.
		{
			name: "A window reference to an unknown id is an error, with the ids",
			yaml: base + "timeline:\n  - at: 10s\n    fault: delete-hsm\n    with: {cluster: a}\nexpect:\n  - errors: {exception: KMSInvalidStateException, min: 1, window: {from: delete-hms, to: end}}\n",
			want: []string{`x.yaml:15:74: expect[0].errors.window.from: unknown timeline id "delete-hms" (ids: delete-hsm; did you mean delete-hsm?)`},
		},
		{
			name: "A window that ends before it starts is empty",
			yaml: base + "expect:\n  - latency: {p99: 1s, window: {from: end-10s, to: start+40s}}\n",
			want: []string{`x.yaml:11:52: expect[0].latency.window.to: start+40s (40s) is not after from end-10s (50s): the window is empty`},
		},
		{
			name: "An expectation of two kinds is an error",
			yaml: base + "expect:\n  - state: {store: s1, to: CONNECTED}\n    integrity: {}\n",
			want: []string{`x.yaml:12:16: expect[0].integrity: sets state and integrity: want exactly one kind per expectation (split it)`},
		},
		{
			name: "Budgets must be within range",
			yaml: base + "expect:\n  - errors: {exception: KMSInvalidState, min: 5, max: 2}\n  - error-rate: {max: 1.5}\n  - sequence: {key: k1, states: [Enabled, CONNECTED]}\n  - state: {store: s1, key: k1, to: FAILED}\n  - throughput: {}\nabort:\n  - window: 5s\n",
			want: []string{
				`x.yaml:11:25: expect[0].errors.exception: "KMSInvalidState": want a KMS exception name such as KMSInvalidStateException (CamelCase, ending in Exception), or any`,
				`x.yaml:11:55: expect[0].errors.max: 2 is below min (5)`,
				`x.yaml:12:23: expect[1].error-rate.max: 1.5: want a fraction 0 to 1`,
				`x.yaml:13:43: expect[2].sequence.states[1]: unknown key state "CONNECTED" (want one of: Enabled, Disabled, PendingDeletion, Unavailable, Creating, PendingImport)`,
				`x.yaml:14:29: expect[3].state.key: set store or key, not both`,
				`x.yaml:15:17: expect[4].throughput: required: min (requests per second) or min-of-target (a fraction of the planned rate)`,
				`x.yaml:17:5: abort[0]: required: error-rate or p99 (or both), what to abort on`,
			},
		},

		{
			name: "Every validation error of a file is reported, in file order",
			yaml: "name: Bad_Name\nsetup:\n  keys: [{name: k1, store: nope}]\nload:\n  duration: 60s\n  shape: {square: {low: 5, high: 1, period: 1s, duty: 0}}\n  keys: [k1, k2]\n  sizes: [0]\ntimeline:\n  - at: 10s\n    when: {after: start}\n    fault: delete-hsm\n    with: {cluster: a}\n",
			want: []string{
				`x.yaml:1:7: name: "Bad_Name": want lower-case letters, digits and dashes, starting with a letter or digit`,
				`x.yaml:3:28: setup.keys[0].store: unknown store "nope": no store is defined (add it to setup.stores); leave store out for a software (AWS_KMS) key`,
				`x.yaml:6:34: load.shape.square.high: 1 is below low (5)`,
				`x.yaml:6:55: load.shape.square.duty: 0: want more than 0, at most 1 (the fraction of each period at the high rate)`,
				`x.yaml:7:14: load.keys[1]: unknown key "k2" (defined: k1; did you mean k1?)`,
				`x.yaml:8:11: load.sizes[0]: 0: want 1 to 4096 bytes (KMS's plaintext limit)`,
				`x.yaml:11:11: timeline[0].when: set at or when, not both`,
				`x.yaml:13:21: timeline[0].with.cluster: unknown cluster "a": no cluster is defined (add it to setup.clusters)`,
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkErrors(t, tt.yaml, tt.want)
		})
	}
}
