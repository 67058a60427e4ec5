package sessionpool

import (
	"context"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// ModuleSlot is a token of any PKCS#11 module, pooled as one HSM: sessions
// are read-write and logged in as the token's user. Capacity planners point
// it at a real HSM's library.
type ModuleSlot struct {
	Name string      // the HSM's id in errors and metrics
	Ctx  *pkcs11.Ctx // an initialised module
	Slot uint
	PIN  string // the user PIN
}

var _ HSM = (*ModuleSlot)(nil)

// ID implements HSM.
func (s *ModuleSlot) ID() string { return s.Name }

// OpenSession implements HSM. PKCS#11 keeps one login per token and
// application, so only the first session's login does anything.
func (s *ModuleSlot) OpenSession(ctx context.Context) (pkcs11.SessionHandle, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	sh, err := s.Ctx.OpenSession(s.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("open session on slot %d: %w", s.Slot, err)
	}
	if err := s.Ctx.Login(sh, pkcs11.CKU_USER, s.PIN); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		s.Ctx.CloseSession(sh)
		return 0, fmt.Errorf("log in to slot %d: %w", s.Slot, err)
	}
	return sh, nil
}

// CloseSession implements HSM.
func (s *ModuleSlot) CloseSession(sh pkcs11.SessionHandle) error {
	return s.Ctx.CloseSession(sh)
}
