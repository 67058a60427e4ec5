package kms

import (
	"errors"
	"fmt"
)

// Error is a KMS exception: Code is its name in the KMS API model
// ("CustomKeyStoreInvalidStateException"), which the wire layer turns into
// the error body and, through the model, the HTTP status.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is matches errors of the same code, so errors.Is(err, &Error{Code: X})
// tests for exception X.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func errf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the exception name of err, or "" if it is not a KMS one.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Exception names of the KMS API model that the stack returns.
const (
	CustomKeyStoreNotFound       = "CustomKeyStoreNotFoundException"
	CustomKeyStoreNameInUse      = "CustomKeyStoreNameInUseException"
	CustomKeyStoreInvalidState   = "CustomKeyStoreInvalidStateException"
	CustomKeyStoreHasCMKs        = "CustomKeyStoreHasCMKsException"
	CloudHsmClusterNotFound      = "CloudHsmClusterNotFoundException"
	CloudHsmClusterNotActive     = "CloudHsmClusterNotActiveException"
	CloudHsmClusterInUse         = "CloudHsmClusterInUseException"
	CloudHsmClusterNotRelated    = "CloudHsmClusterNotRelatedException"
	CloudHsmClusterInvalidConfig = "CloudHsmClusterInvalidConfigurationException"
	IncorrectTrustAnchor         = "IncorrectTrustAnchorException"
	LimitExceeded                = "LimitExceededException"
	InvalidMarker                = "InvalidMarkerException"
	NotFound                     = "NotFoundException"
	Disabled                     = "DisabledException"
	KMSInvalidState              = "KMSInvalidStateException"
	KMSInternal                  = "KMSInternalException"
	InvalidCiphertext            = "InvalidCiphertextException"
	IncorrectKey                 = "IncorrectKeyException"
	AlreadyExists                = "AlreadyExistsException"
	InvalidAliasName             = "InvalidAliasNameException"
	InvalidArn                   = "InvalidArnException"
	UnsupportedOperation         = "UnsupportedOperationException"
	Validation                   = "ValidationException"
	InvalidKeyUsage              = "InvalidKeyUsageException"
)

// Messages of the data plane, as the troubleshooting guide quotes them.
const (
	msgNetwork = "KMS cannot communicate with your CloudHSM cluster. This might be a transient network issue. " +
		"If you see this error repeatedly, verify that the Network ACLs and the security group rules for the VPC " +
		"of your AWS CloudHSM cluster are correct."
	msgLockedOut = "KMS cannot communicate with your AWS CloudHSM cluster because the kmsuser is locked out. " +
		"If you see this error repeatedly, disconnect the AWS CloudHSM key store and reset the kmsuser account password. " +
		"Update the kmsuser password for the custom key store and try the request again."
	msgNoSession = "KMS could not get a PKCS #11 session with your AWS CloudHSM cluster in time: all sessions are in use. " +
		"Back off and retry the request."
	msgKeyMaterial = "The key material of this KMS key is unavailable: its backing key is not in the AWS CloudHSM cluster " +
		"associated with the custom key store."
	msgClusterGone = "KMS cannot use your AWS CloudHSM cluster: it has no active HSM, or it no longer exists."
)
