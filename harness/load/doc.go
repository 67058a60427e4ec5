// Package load is keystorm's load generator: vegeta does the attacking,
// paced by the shapes capacity planners ask for (constant, ramp,
// square-wave bursts, spikes, Poisson arrivals, and sequences of them),
// with an operation mix (Encrypt, Decrypt and ReEncrypt of earlier
// ciphertexts, GenerateDataKey) over the scenario's keys and payload sizes,
// each request the real KMS JSON 1.1 wire protocol, SigV4-signed as it is
// sent. Every answer streams into the History as one history.Request with
// its intended, sent and done times, so that latency counts from when the
// schedule wanted the request sent and queueing is never hidden (no
// coordinated omission), and a generator that fell behind its schedule
// makes the run invalid rather than quietly lighter.
package load
