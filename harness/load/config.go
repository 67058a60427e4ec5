package load

import "time"

// Config is a scenario's `load:` block.
type Config struct {
	// Duration is how long the load runs.
	Duration time.Duration `yaml:"duration" doc:"how long the load runs, such as 60s"`
	Shape    Shape         `yaml:"shape" doc:"the arrival rate over time"`
	Mix      []MixEntry    `yaml:"mix" doc:"the operations and their weights (default: Encrypt and Decrypt, equally)"`
	// Keys are scenario key names; each request picks one at random.
	Keys []string `yaml:"keys" doc:"names of the setup's keys the load uses"`
	// Sizes are plaintext sizes in bytes (1..4096), picked at random.
	Sizes []int `yaml:"sizes" doc:"plaintext sizes in bytes, 1 to 4096 (default [32])"`
	// Timeout bounds one request.
	Timeout time.Duration `yaml:"timeout" doc:"per-request timeout (default 5s)"`
	// LateTolerance is how far behind its schedule a request may be sent
	// before it counts as late (the load generator's fault, not the stack's).
	LateTolerance time.Duration `yaml:"late-tolerance" doc:"how late a send may be before it counts as the generator falling behind (default 100ms)"`
	// MaxLateFraction is the fraction of late sends above which the run is
	// invalid (exit 2).
	MaxLateFraction float64 `yaml:"max-late-fraction" doc:"fraction of late sends that makes the run invalid (default 0.01)"`
}

// Shape is one load shape: exactly one field is set. A Sequence plays its
// shapes one after the other, each for its `for`.
type Shape struct {
	Constant *Constant `yaml:"constant" doc:"a steady rate"`
	Ramp     *Ramp     `yaml:"ramp" doc:"a linear ramp from one rate to another"`
	Square   *Square   `yaml:"square" doc:"square-wave bursts between a low and a high rate"`
	Spike    *Spike    `yaml:"spike" doc:"a base rate with short spikes at a period"`
	Poisson  *Poisson  `yaml:"poisson" doc:"Poisson arrivals at a mean rate (seeded)"`
	Sequence []Shape   `yaml:"sequence" doc:"shapes played one after another, each for its 'for'"`
}

// Constant is a steady rate.
type Constant struct {
	Rate float64       `yaml:"rate" doc:"requests per second"`
	For  time.Duration `yaml:"for" doc:"how long, inside a sequence (default: the rest)"`
}

// Ramp goes linearly from From to To requests per second over For (or the
// whole load).
type Ramp struct {
	From float64       `yaml:"from" doc:"starting rate, requests per second"`
	To   float64       `yaml:"to" doc:"final rate, requests per second"`
	For  time.Duration `yaml:"for" doc:"how long the ramp takes (default: the rest)"`
}

// Square alternates between Low and High: High for Duty of each Period.
type Square struct {
	Low    float64       `yaml:"low" doc:"rate between bursts"`
	High   float64       `yaml:"high" doc:"rate during a burst"`
	Period time.Duration `yaml:"period" doc:"burst period"`
	Duty   float64       `yaml:"duty" doc:"fraction of each period at the high rate, 0 to 1 (default 0.5)"`
	For    time.Duration `yaml:"for" doc:"how long, inside a sequence (default: the rest)"`
}

// Spike is Base with a spike to Peak lasting Width every Every.
type Spike struct {
	Base  float64       `yaml:"base" doc:"rate outside spikes"`
	Peak  float64       `yaml:"peak" doc:"rate during a spike"`
	Every time.Duration `yaml:"every" doc:"time from one spike's start to the next"`
	Width time.Duration `yaml:"width" doc:"how long a spike lasts"`
	For   time.Duration `yaml:"for" doc:"how long, inside a sequence (default: the rest)"`
}

// Poisson is arrivals with exponential gaps at a mean Rate.
type Poisson struct {
	Rate float64       `yaml:"rate" doc:"mean requests per second"`
	For  time.Duration `yaml:"for" doc:"how long, inside a sequence (default: the rest)"`
}

// MixEntry weighs one operation.
type MixEntry struct {
	Op     string `yaml:"op" doc:"Encrypt, Decrypt, ReEncrypt, GenerateDataKey, DecryptTampered (must fail InvalidCiphertextException) or DecryptWrongKey (must fail IncorrectKeyException)"`
	Weight int    `yaml:"weight" doc:"relative weight (default 1)"`
}

// Operations the load knows. DecryptTampered decrypts an earlier
// ciphertext with one byte of its tag flipped (the spec's
// InvalidCiphertextException); DecryptWrongKey decrypts one naming another
// of the load's keys as KeyId (IncorrectKeyException): both must fail,
// and a success is a safety violation the History marks.
var Operations = []string{"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "DecryptTampered", "DecryptWrongKey"}
