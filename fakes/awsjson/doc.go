// Package awsjson serves AWS JSON 1.1 APIs (the protocol of KMS and CloudHSM v2) from their
// botocore models.
//
// It is the shared server side of keystorm's KMS and CloudHSM v2 fakes: a Service built from
// KMSModel or CloudHSMModel routes POST / by X-Amz-Target, verifies SigV4 signatures with the
// aws-sdk-go-v2 signer, deserializes and validates the input against the model the way the
// AWS frontend does (SerializationException, ValidationException with AWS's messages), and
// only then calls the Handler registered for the operation. Errors go out as
// {"__type": "...", "message": "..."} with the model's HTTP status, so the aws CLI, boto3
// and aws-sdk-go-v2 work against it unchanged.
//
// README.md lists the exact error names, statuses and messages and where each comes from.
package awsjson
