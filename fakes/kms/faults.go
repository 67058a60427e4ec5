package kms

import "sync"

// Targets of injected internal errors.
const (
	// faultConnect makes the next connection attempts end INTERNAL_ERROR.
	faultConnect = "connect"
	// FaultAnyOperation makes the next API calls, whatever their operation,
	// fail with KMSInternalException.
	FaultAnyOperation = "*"
)

// faults holds the internal errors injected through the admin API: how many
// of the next calls of each target fail.
type faults struct {
	mu      sync.Mutex
	pending map[string]int
}

// take consumes one injected error for target, if there is one.
func (f *faults) take(target string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending[target] > 0 {
		f.pending[target]--
		return true
	}
	return false
}

// InjectInternalError makes the next count calls of op (an API operation
// name such as "Encrypt", "*" for any, or "connect" for connection attempts)
// fail with KMSInternalException (INTERNAL_ERROR for connect). count 0
// clears it.
func (s *Service) InjectInternalError(op string, count int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.pending == nil {
		s.faults.pending = map[string]int{}
	}
	if count <= 0 {
		delete(s.faults.pending, op)
		return
	}
	s.faults.pending[op] = count
}

// CheckInjected returns the injected internal error for a call of op, if
// any; the wire layer calls it first for every call.
func (s *Service) CheckInjected(op string) error {
	if s.faults.take(op) || s.faults.take(FaultAnyOperation) {
		return errf(KMSInternal, "An internal error occurred (injected by keystorm).")
	}
	return nil
}

// SetSessionCap sets the PKCS#11 session cap per HSM of every connected
// store, and of stores connected later.
func (s *Service) SetSessionCap(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Stored first: an attempt that builds its pool after this sees it, and
	// one that built it before holds conn.mu until its pool is set, below.
	s.sessionCap.Store(int64(n))
	for _, st := range s.stores {
		if st.conn != nil {
			st.conn.mu.Lock()
			if st.conn.pool != nil {
				st.conn.pool.SetMaxSessions(n)
			}
			st.conn.mu.Unlock()
		}
	}
}
