package awsjson

import (
	"fmt"
	"net/http"
)

// Error names the AWS JSON frontend itself answers with, before or around any operation.
// They are not shapes of the service models; SDKs match them by name.
const (
	UnknownOperationException           = "UnknownOperationException"
	SerializationException              = "SerializationException"
	ValidationException                 = "ValidationException"
	MissingAuthenticationTokenException = "MissingAuthenticationTokenException"
	UnrecognizedClientException         = "UnrecognizedClientException"
	InvalidSignatureException           = "InvalidSignatureException"
	IncompleteSignatureException        = "IncompleteSignatureException"
)

// internalErrorMessage is AWS's documented text for an internal failure (the common error
// InternalFailure); it says nothing about what failed, which is the point: a Go error text
// must never reach a client.
const internalErrorMessage = "The request processing has failed because of an unknown error, exception or failure."

// An Error is an AWS error response: {"__type": Type, "message": Message} with an HTTP
// status. Handlers return one (possibly wrapped) to answer with a modelled exception.
type Error struct {
	Type    string // exception name, e.g. "CustomKeyStoreInvalidStateException"
	Message string // "" omits the message from the body
	// Status is the HTTP status. Zero derives it from the model: 500 for a shape marked
	// "fault" (KMSInternalException), 400 for other exceptions and for unknown names.
	Status int
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// NewError returns an error of the given exception type whose status comes from the model.
func NewError(typ, message string) *Error {
	return &Error{Type: typ, Message: message}
}

// Errorf is NewError with a formatted message.
func Errorf(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...)}
}

// clientError is an error the frontend raises itself; those are all HTTP 400.
func clientError(typ, message string) *Error {
	return &Error{Type: typ, Message: message, Status: http.StatusBadRequest}
}
