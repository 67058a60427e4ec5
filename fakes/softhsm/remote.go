package softhsm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/pkcs11x"
)

// ClientEnv names the environment variable that overrides where p11-kit's
// RPC client module is looked for.
const ClientEnv = "KEYSTORM_P11KIT_CLIENT"

// clientCandidates are the places distributions install p11-kit-client.so.
var clientCandidates = []string{
	"/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
	"/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
	"/usr/lib64/pkcs11/p11-kit-client.so",
	"/usr/lib/pkcs11/p11-kit-client.so",
}

// serverAddressEnv is where p11-kit-client.so reads the address of the
// module it forwards to, in each C_GetFunctionList call.
const serverAddressEnv = "P11_KIT_SERVER_ADDRESS"

// dialMu serialises Dials: the address travels in the process environment.
var dialMu sync.Mutex

// ClientPath finds p11-kit-client.so: $KEYSTORM_P11KIT_CLIENT, else the usual
// install locations.
func ClientPath() (string, error) {
	if p := os.Getenv(ClientEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("softhsm: %s=%s: %w", ClientEnv, p, err)
		}
		return p, nil
	}
	for _, p := range clientCandidates {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("softhsm: p11-kit-client.so not found (looked in %v; install p11-kit-modules or set %s)", clientCandidates, ClientEnv)
}

// Dial connects to a SoftHSM that another machine serves over p11-kit's RPC
// (`p11-kit remote libsofthsm2.so`), at a p11-kit address such as
// "unix:path=/run/hsm.sock". The module it returns is that SoftHSM: its own
// process, tokens and logins, reached through p11-kit-client.so, so every
// call crosses whatever lies between (a Docker network, for the containers
// stack). Unlike Open's, the module is not shared: Close disconnects it.
//
// p11-kit's RPC forwards CKM_AES_GCM parameters from version 0.25 on; an older
// p11-kit on either side fails every encryption with CKR_MECHANISM_INVALID.
func Dial(ctx context.Context, address string) (*Module, error) {
	path, err := ClientPath()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("softhsm: dial %s: %w", address, err)
	}
	dialMu.Lock()
	prev, had := os.LookupEnv(serverAddressEnv)
	os.Setenv(serverAddressEnv, address)
	c := pkcs11.New(path)
	if had {
		os.Setenv(serverAddressEnv, prev)
	} else {
		os.Unsetenv(serverAddressEnv)
	}
	dialMu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("softhsm: dial %s: cannot load %s", address, path)
	}
	if err := c.Initialize(); err != nil {
		c.Destroy()
		return nil, fmt.Errorf("softhsm: dial %s: initialise: %w", address, err)
	}
	x, err := pkcs11x.FromCtx(c)
	if err != nil {
		c.Finalize()
		c.Destroy()
		return nil, fmt.Errorf("softhsm: dial %s: %w", address, err)
	}
	return &Module{Path: address, Ctx: c, X: x, soPIN: randomPIN(), remote: true}, nil
}

// closeRemote disconnects a module of Dial.
func (m *Module) closeRemote() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Ctx == nil {
		return errors.New("softhsm: module closed twice")
	}
	m.X.Close()
	err := m.Ctx.Finalize()
	m.Ctx.Destroy()
	m.Ctx = nil
	if err != nil {
		return fmt.Errorf("softhsm: disconnect %s: %w", m.Path, err)
	}
	return nil
}
