package cloudhsm

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// idAlphabet is the alphabet of CloudHSM resource ids: "cluster-" and friends
// followed by 11..16 characters of [2-7a-zA-Z].
const idAlphabet = "234567abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// newID returns prefix-xxxxxxxxxxx, as CloudHSM names clusters, HSMs and
// backups.
func newID(prefix string) string {
	b := make([]byte, 11)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("cloudhsm: id: %v", err))
	}
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return prefix + "-" + string(b)
}

// newHexID returns prefix-<17 hex digits>, as EC2 names subnets, ENIs,
// security groups and VPCs.
func newHexID(prefix string) string {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("cloudhsm: id: %v", err))
	}
	return prefix + "-" + hex.EncodeToString(b)[:17]
}

// randomPassword returns a password that passes the CloudHSM CLI's rules.
func randomPassword() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("cloudhsm: password: %v", err))
	}
	return hex.EncodeToString(b)
}
