package hsm

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// Role is a user's role, named as the CloudHSM CLI names it.
type Role string

const (
	// RoleAdmin is the crypto officer: manages users, owns no keys.
	RoleAdmin Role = "admin"
	// RoleCryptoUser owns and uses keys.
	RoleCryptoUser Role = "crypto-user"
)

// MaxFailedLogins is how many consecutive failed logins lock a user out.
const MaxFailedLogins = 5

// Password length limits of the CloudHSM CLI.
const (
	MinPasswordLen = 7
	MaxPasswordLen = 32
)

// UserInfo describes a user, as `user list` shows it.
type UserInfo struct {
	Name      string `json:"username"`
	Role      Role   `json:"role"`
	LockedOut bool   `json:"locked-out"`
	LoggedIn  bool   `json:"logged-in"`
	// KeyOwner is set for the one crypto user whose password is the token's
	// user PIN and who owns the token's keys.
	KeyOwner bool `json:"key-owner"`
}

// user is one account of a node. The key owner's password is the token's
// user PIN and is checked by the token; every other user's is a salted
// SHA-256 kept here, since PKCS#11 has one user per token.
type user struct {
	name   string
	role   Role
	owner  bool
	salt   []byte
	digest []byte
	failed int // consecutive failed logins
	locked bool
	logins int // open logins
}

func (u *user) info() UserInfo {
	return UserInfo{Name: u.name, Role: u.role, LockedOut: u.locked, LoggedIn: u.logins > 0, KeyOwner: u.owner}
}

func (u *user) setPassword(pw string) {
	u.salt = make([]byte, 16)
	if _, err := rand.Read(u.salt); err != nil {
		panic(fmt.Sprintf("hsm: salt: %v", err))
	}
	u.digest = digest(u.salt, pw)
}

func (u *user) passwordIs(pw string) bool {
	return subtle.ConstantTimeCompare(u.digest, digest(u.salt, pw)) == 1
}

// failure counts one failed login and reports whether it locked the user.
func (u *user) failure() bool {
	u.failed++
	if u.failed >= MaxFailedLogins && !u.locked {
		u.locked = true
		return true
	}
	return false
}

func digest(salt []byte, pw string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(pw))
	return h.Sum(nil)
}

func checkPassword(pw string) error {
	if n := len(pw); n < MinPasswordLen || n > MaxPasswordLen {
		return fmt.Errorf("%w: %d characters, want %d..%d", ErrBadPassword, n, MinPasswordLen, MaxPasswordLen)
	}
	return nil
}
