package faults

import (
	"sort"
	"time"
)

// catalog is every fault and step. A new one is one line here and one file
// of its own.
var catalog = []Entry{
	// Faults.
	{Name: "delete-hsm", Kind: KindFault, Summary: "Delete HSMs of a cluster (DeleteHsm): with none left the store's keys fail KMSInvalidStateException, and a connect fails INSUFFICIENT_CLOUDHSM_HSMS.", New: func() Action { return &DeleteHSM{Count: "all"} }},
	{Name: "delete-cluster", Kind: KindFault, Summary: "Delete a cluster's HSMs, then the cluster (DeleteCluster): its keys fail KMSInvalidStateException, a connect fails CLUSTER_NOT_FOUND; fix: procedure 6.", New: func() Action { return &DeleteCluster{} }},
	{Name: "delete-subnet", Kind: KindFault, Summary: "Delete a cluster's subnets (admin): a connect fails SUBNET_NOT_FOUND; fix: procedure 6 with subnets: new.", New: func() Action { return &DeleteSubnet{Subnet: "all"} }},
	{Name: "exhaust-addresses", Kind: KindFault, Summary: "Take every free IP address of a cluster's subnets (admin): a connect fails INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET.", New: func() Action { return &ExhaustAddresses{Subnet: "all"} }},
	{Name: "block-network", Kind: KindFault, Summary: "Block the network path to a cluster or one HSM (admin): keys fail KMSInvalidStateException with the guide's network message, a connect fails NETWORK_ERRORS.", New: func() Action { return &BlockNetwork{} }},
	{Name: "add-latency", Kind: KindFault, Summary: "Add latency to every call to a cluster or one HSM (admin): slower crypto; bursts run out of PKCS#11 sessions sooner.", New: func() Action { return &AddLatency{Latency: 50 * time.Millisecond} }},
	{Name: "break-security-group", Kind: KindFault, Summary: "Break the cluster security group's 2223-2225 rules (admin): connect fails at once with CloudHsmClusterInvalidConfigurationException.", New: func() Action { return &BreakSecurityGroup{} }},
	{Name: "cluster-not-active", Kind: KindFault, Summary: "Make a cluster DEGRADED (admin): connect fails at once with CloudHsmClusterNotActiveException.", New: func() Action { return &ClusterNotActive{} }},
	{Name: "lock-out-kmsuser", Kind: KindFault, Summary: "Log in as kmsuser with a wrong password 5 times (HSM client): connected keys fail KMSInvalidStateException with the lockout message, a connect fails USER_LOCKED_OUT; fix: procedure 3.", New: func() Action { return &LockOutKmsuser{Attempts: maxFailedLogins} }},
	{Name: "rotate-kmsuser-password", Kind: KindFault, Summary: "As admin (CO), change kmsuser's password behind KMS's back; the store must be DISCONNECTED: a connect fails INVALID_CREDENTIALS; fix: procedure 3.", New: func() Action { return &RotateKmsuserPassword{} }},
	{Name: "set-store-password", Kind: KindFault, Summary: "Tell KMS a wrong kmsuser password (UpdateCustomKeyStore) while DISCONNECTED: a connect fails INVALID_CREDENTIALS and counts toward the lockout; fix: procedure 3.", New: func() Action { return &SetStorePassword{} }},
	{Name: "delete-kmsuser", Kind: KindFault, Summary: "As admin (CO), delete kmsuser (it must own no keys; store DISCONNECTED): a connect fails USER_NOT_FOUND; fix: create-kmsuser, update-store.", New: func() Action { return &DeleteKmsuser{} }},
	{Name: "login-kmsuser", Kind: KindFault, Summary: "Log in as kmsuser and hold the login (procedure 4, in; store DISCONNECTED): a connect fails USER_LOGGED_IN; fix: logout-kmsuser.", New: func() Action { return &LoginKmsuser{} }},
	{Name: "delete-key-material", Kind: KindFault, Summary: "Delete a key's backing key from the HSMs (procedures 4 and 5), leaving the store connected as found: the key fails KMSInvalidStateException; fix: procedure 6.", New: func() Action { return &DeleteKeyMaterial{} }},
	{Name: "delete-orphaned-material", Kind: KindStep, Summary: "Procedure 5: as kmsuser, delete the backing key of a KMS key deleted while its store was disconnected (DeleteKey audit event FAILURE), by its backingKeyId; the store is left as found.", New: func() Action { return &DeleteOrphanedMaterial{} }},
	{Name: "delete-store", Kind: KindStep, Summary: "DeleteCustomKeyStore: only a DISCONNECTED store with no keys goes (else CustomKeyStoreInvalidStateException, or CustomKeyStoreHasCMKsException, even for PendingDeletion keys).", New: func() Action { return &DeleteStore{} }},
	{Name: "exhaust-sessions", Kind: KindFault, Summary: "Cap PKCS#11 sessions per HSM, stack-wide (admin): bursts fail KMSInternalException about PKCS #11 sessions; back off (procedure 7).", New: func() Action { return &ExhaustSessions{MaxPerHSM: 1} }},
	{Name: "kill-hsm-node", Kind: KindFault, Summary: "Kill the machine of one HSM mid-call (containers stack): its calls fail KMSInvalidStateException with the network message, the store stays CONNECTED; fix: delete-hsm the dead HSM, create-hsm.", New: func() Action { return &KillHSMNode{} }},
	{Name: "pause-hsm-node", Kind: KindFault, Summary: "Freeze the machine of one HSM mid-request (containers stack): its calls time out with the network message (KMSInvalidStateException); fix: resume-hsm-node.", New: func() Action { return &PauseHSMNode{} }},
	{Name: "internal-error", Kind: KindFault, Summary: "Fail the next calls of an operation (admin): KMSInternalException, or INTERNAL_ERROR for \"connect\"; fix: retry.", New: func() Action { return &InternalError{Operation: "*", Count: 1} }},

	// Recovery steps.
	{Name: "create-hsm", Kind: KindStep, Summary: "Add HSMs to a cluster (CreateHsm), one per AZ in turn: procedure 7.", New: func() Action { return &CreateHSM{Count: 1} }},
	{Name: "connect-store", Kind: KindStep, Summary: "Connect a store (ConnectCustomKeyStore), optionally waiting for CONNECTED or FAILED: procedure 1, the end of procedures 2-6.", New: func() Action { return &ConnectStore{} }},
	{Name: "disconnect-store", Kind: KindStep, Summary: "Disconnect a store (DisconnectCustomKeyStore) and wait for DISCONNECTED: the start of procedures 2-6.", New: func() Action { return &DisconnectStore{Wait: true} }},
	{Name: "update-store", Kind: KindStep, Summary: "Update a DISCONNECTED store (UpdateCustomKeyStore): password (literal or known), related cluster, name: procedures 3, 4 and 6.", New: func() Action { return &UpdateStore{} }},
	{Name: "set-kmsuser-password", Kind: KindStep, Summary: "As admin (CO), set kmsuser's password to a known one, unlocking it (store DISCONNECTED): procedure 3; also on a restored cluster in procedure 6.", New: func() Action { return &SetKmsuserPassword{} }},
	{Name: "logout-kmsuser", Kind: KindStep, Summary: "End the kmsuser login login-kmsuser holds: procedure 4, out (fixes USER_LOGGED_IN).", New: func() Action { return &LogoutKmsuser{} }},
	{Name: "create-kmsuser", Kind: KindStep, Summary: "As admin (CO), create the crypto user kmsuser with a known password: fixes USER_NOT_FOUND, then update-store (procedure 2).", New: func() Action { return &CreateKmsuser{} }},
	{Name: "resume-hsm-node", Kind: KindStep, Summary: "Thaw the machine pause-hsm-node froze (containers stack): the calls it held complete.", New: func() Action { return &ResumeHSMNode{} }},
	{Name: "unblock-network", Kind: KindStep, Summary: "Restore the network path to a cluster or one HSM (admin): fixes NETWORK_ERRORS and the network message (procedure 7: retry).", New: func() Action { return &UnblockNetwork{} }},
	{Name: "remove-latency", Kind: KindStep, Summary: "Remove the latency added to a cluster or one HSM (admin): undoes add-latency (procedure 7: back off and retry meanwhile).", New: func() Action { return &RemoveLatency{} }},
	{Name: "restore-security-group", Kind: KindStep, Summary: "Restore the cluster security group's rules (admin): fixes CloudHsmClusterInvalidConfigurationException (procedure 2, quick failure).", New: func() Action { return &RestoreSecurityGroup{} }},
	{Name: "cluster-active", Kind: KindStep, Summary: "Make a DEGRADED cluster ACTIVE (admin): fixes CloudHsmClusterNotActiveException (procedure 2, quick failure).", New: func() Action { return &ClusterActive{} }},
	{Name: "free-addresses", Kind: KindStep, Summary: "Give a cluster's subnets free IP addresses (admin): fixes INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET (procedure 2).", New: func() Action { return &FreeAddresses{Subnet: "all", Free: 16} }},
	{Name: "take-backup", Kind: KindStep, Summary: "Back up a cluster now (admin) and name the backup: the backup procedure 6 restores.", New: func() Action { return &TakeBackup{} }},
	{Name: "create-cluster-from-backup", Kind: KindStep, Summary: "Create a related cluster from a backup, with HSMs in two AZs (CreateCluster, CreateHsm): procedure 6; its kmsuser has the backup-time password KMS rotated, so set-kmsuser-password on it before update-store.", New: func() Action { return &CreateClusterFromBackup{Backup: backupLatest, HSMs: 2, Subnets: subnetsSource} }},
	{Name: "restore-sessions", Kind: KindStep, Summary: "Set the PKCS#11 session cap per HSM back to the stack's default, 16 (admin): undoes exhaust-sessions (procedure 7).", New: func() Action { return &RestoreSessions{MaxPerHSM: DefaultSessionsPerHSM} }},
	{Name: "clear-internal-error", Kind: KindStep, Summary: "Drop injected internal errors no call has taken yet (admin); KMSInternalException and INTERNAL_ERROR are otherwise fixed by a retry (procedure 2).", New: func() Action { return &ClearInternalError{Operation: "*"} }},
	{Name: "disable-key", Kind: KindStep, Summary: "Disable a key (DisableKey): its crypto fails DisabledException (section 3; on an Unavailable key, from its reconnect).", New: func() Action { return &DisableKey{} }},
	{Name: "enable-key", Kind: KindStep, Summary: "Enable a key (EnableKey): fixes DisabledException; follows cancel-key-deletion (section 3).", New: func() Action { return &EnableKey{} }},
	{Name: "schedule-key-deletion", Kind: KindStep, Summary: "Schedule a key's deletion in 7-30 days (ScheduleKeyDeletion): PendingDeletion, crypto fails KMSInvalidStateException; a disconnected store orphans the material (procedure 5).", New: func() Action { return &ScheduleKeyDeletion{Days: 30} }},
	{Name: "cancel-key-deletion", Kind: KindStep, Summary: "Cancel a key's scheduled deletion (CancelKeyDeletion): the key is left Disabled (enable-key next).", New: func() Action { return &CancelKeyDeletion{} }},
	{Name: "advance-clock", Kind: KindStep, Summary: "Move the stack clock forward (admin clock): waiting periods and connects it passes end at once (section 3's 7-30 days in a run).", New: func() Action { return &AdvanceClock{} }},
	{Name: "set-clock-speed", Kind: KindStep, Summary: "Set the stack clock's speed (admin clock): stack seconds per real second.", New: func() Action { return &SetClockSpeed{} }},
}

// Lookup returns the entry named name.
func Lookup(name string) (Entry, bool) {
	for _, e := range catalog {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// All returns the catalog sorted by kind (faults first), then name.
func All() []Entry {
	out := append([]Entry(nil), catalog...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind == KindFault
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Names lists the catalog's names, sorted.
func Names() []string {
	var out []string
	for _, e := range catalog {
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out
}
