package scenario

import (
	"regexp"
	"slices"
)

// StoreStates are a custom key store's ConnectionState values.
var StoreStates = []string{"DISCONNECTED", "CONNECTING", "CONNECTED", "FAILED", "DISCONNECTING"}

// KeyStates are the KeyState values a key of a custom key store can show.
var KeyStates = []string{"Enabled", "Disabled", "PendingDeletion", "Unavailable", "Creating", "PendingImport"}

// ConnectionErrorCodes are the ConnectionErrorCode values of a CloudHSM
// key store (spec section 2).
var ConnectionErrorCodes = []string{
	"CLUSTER_NOT_FOUND", "SUBNET_NOT_FOUND", "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET",
	"INSUFFICIENT_CLOUDHSM_HSMS", "NETWORK_ERRORS", "USER_NOT_FOUND", "USER_LOCKED_OUT",
	"USER_LOGGED_IN", "INVALID_CREDENTIALS", "INTERNAL_ERROR",
}

// AnyException is the exception name that counts every failed request.
const AnyException = "any"

// exceptionPattern is what a KMS exception name looks like. The list is
// open (the stack and a real target may add some), so only the shape is
// checked: it catches "KMSInvalidState" and "kmsinvalidstateexception".
var exceptionPattern = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*Exception$`)

// validException tells whether name can be an expectation's exception.
func validException(name string) bool {
	return name == AnyException || exceptionPattern.MatchString(name)
}

func knownState(k nameKind, state string) bool {
	if k == kindKey {
		return slices.Contains(KeyStates, state)
	}
	return slices.Contains(StoreStates, state)
}

func statesOf(k nameKind) []string {
	if k == kindKey {
		return KeyStates
	}
	return StoreStates
}
