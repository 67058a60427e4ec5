package faults

import "fmt"

// What Env keeps beyond names: the kmsuser logins that login-kmsuser holds
// open until logout-kmsuser ends them, and the backing key ids of keys.

// holdKmsuserLogin records the admin API session of a kmsuser login held on
// the named cluster. One at a time: a second would only hide the first,
// which would then stay open and keep every connect failing USER_LOGGED_IN.
func (e *Env) holdKmsuserLogin(cluster, session string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.kmsuserLogins == nil {
		e.kmsuserLogins = map[string]string{}
	}
	if _, ok := e.kmsuserLogins[cluster]; ok {
		return fmt.Errorf("a kmsuser login is already held on cluster %q (logout-kmsuser first)", cluster)
	}
	e.kmsuserLogins[cluster] = session
	return nil
}

// releaseKmsuserLogin forgets and returns the kmsuser login held on the
// named cluster.
func (e *Env) releaseKmsuserLogin(cluster string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.kmsuserLogins[cluster]
	delete(e.kmsuserLogins, cluster)
	return s, ok
}

// KmsuserLogins returns the admin API sessions of the kmsuser logins that
// login-kmsuser holds and no logout-kmsuser has ended, by cluster name: a
// runner ends them (/v1/cluster-sessions/logout) when the run is over, or
// they outlive it on an external target.
func (e *Env) KmsuserLogins() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]string, len(e.kmsuserLogins))
	for k, v := range e.kmsuserLogins {
		out[k] = v
	}
	return out
}

// BindBackingKey records the backing key id (the HSM key's id attribute,
// hex) of a named KMS key. No KMS or CloudHSM API maps a KMS key to its
// backing key: the operator reads it from the key's CreateKey audit event
// (CloudTrail's additionalEventData.backingKeyId), and whoever creates the
// scenario's keys and sees the audit log binds it here, for
// delete-key-material.
func (e *Env) BindBackingKey(key, backingKeyID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.backingKeys == nil {
		e.backingKeys = map[string]string{}
	}
	e.backingKeys[key] = backingKeyID
}

// BackingKey returns the backing key id bound to a named key.
func (e *Env) BackingKey(key string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.backingKeys[key]
	return id, ok
}

// otherBackingKeys returns the backing key ids bound to keys other than key.
func (e *Env) otherBackingKeys(key string) map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]bool{}
	for k, id := range e.backingKeys {
		if k != key {
			out[id] = true
		}
	}
	return out
}
