package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keystorm/keystorm/fakes/stack"
)

// Environment of `keystorm cloudhsm-cli`. CLOUDHSM_PIN and CLOUDHSM_ROLE are
// the real CloudHSM CLI's: "username:password" and the role, for commands
// run without a prior login.
const (
	infoEnv        = "KEYSTORM_INFO"
	sessionFileEnv = "KEYSTORM_CLOUDHSM_SESSION"
	pinEnvCloudHSM = "CLOUDHSM_PIN"
	roleEnv        = "CLOUDHSM_ROLE"
)

const cloudhsmCLIUsage = `Usage: keystorm cloudhsm-cli [--info FILE] [--cluster-id ID] <command> [flags]

The crypto-officer and crypto-user actions of the CloudHSM CLI, against a
keystorm stack (its admin API), with the real CLI's command and flag names:

  login --username NAME --role admin|crypto-user [--password PW]
  logout
  user list
  user create --username NAME --role ROLE --password PW
  user delete --username NAME --role ROLE
  user change-password --username NAME --role ROLE --password PW
  key list [--filter attr.id=0x...]
  key delete --filter attr.id=0x<backingKeyId>

A login is held on the stack until logout (kmsuser logged in this way makes
a key store's connection fail USER_LOGGED_IN); it is remembered in
$KEYSTORM_CLOUDHSM_SESSION (default ~/.keystorm/cloudhsm-cli-session.json).
Without a login, a command logs in for itself with $CLOUDHSM_PIN
("username:password") and $CLOUDHSM_ROLE, as the real CLI's single-command
mode does. The stack is the one whose --info file (default $KEYSTORM_INFO)
'keystorm serve --info' wrote; --cluster-id defaults to its first cluster.

Answers are the CLI's JSON: {"error_code": 0, "data": ...}; a failure has
error_code 1 and exits 1.
`

// cliSession is a login remembered between invocations.
type cliSession struct {
	Endpoint  string `json:"endpoint"`
	Token     string `json:"admin_token"`
	ClusterID string `json:"cluster_id"`
	Session   string `json:"session"`
	Username  string `json:"username"`
	Role      string `json:"role"`
}

func runCloudHSMCLI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keystorm cloudhsm-cli", flag.ContinueOnError)
	fs.SetOutput(stderr)
	infoPath := fs.String("info", os.Getenv(infoEnv), "the stack's info `FILE` (keystorm serve --info)")
	clusterID := fs.String("cluster-id", "", "the cluster (default: the stack's first)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), cloudhsmCLIUsage, "\nFlags:\n"); fs.PrintDefaults() }
	if code, done := parseFlags(fs, args); done {
		return code
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitUsage
	}
	cmd, cmdArgs := rest[0], rest[1:]
	if (cmd == "user" || cmd == "key") && len(rest) > 1 {
		cmd, cmdArgs = rest[0]+" "+rest[1], rest[2:]
	}
	cf := flag.NewFlagSet("keystorm cloudhsm-cli "+cmd, flag.ContinueOnError)
	cf.SetOutput(stderr)
	username := cf.String("username", "", "user name")
	role := cf.String("role", "", "admin or crypto-user")
	password := cf.String("password", "", "password")
	filter := cf.String("filter", "", `key filter: attr.id=0x<id>`)
	if code, done := parseFlags(cf, cmdArgs); done {
		return code
	}
	c := &hsmCLI{ctx: ctx, stdout: stdout, stderr: stderr, sessionPath: sessionFile()}

	switch cmd {
	case "login":
		if *username == "" || *role == "" {
			return c.usage("login needs --username and --role")
		}
		pw := *password
		if pw == "" {
			pw = c.askPassword(*username)
		}
		info, cluster, err := c.stack(*infoPath, *clusterID)
		if err != nil {
			return c.usage(err.Error())
		}
		s, err := c.login(info, cluster, *username, *role, pw)
		if err != nil {
			return c.fail(err)
		}
		if err := c.save(s); err != nil {
			return c.fail(err)
		}
		return c.ok(map[string]string{"username": *username, "role": *role})
	case "logout":
		s, err := c.load()
		if err != nil {
			return c.fail(errors.New("not logged in"))
		}
		_, err = c.post(s.Endpoint, s.Token, "/v1/cluster-sessions/logout", map[string]string{"session": s.Session})
		os.Remove(c.sessionPath)
		if err != nil {
			return c.fail(err)
		}
		return c.ok("Logout successful")
	}

	action := map[string]string{
		"user list": "user-list", "user create": "user-create", "user delete": "user-delete",
		"user change-password": "user-change-password", "key list": "key-list", "key delete": "key-delete",
	}[cmd]
	if action == "" {
		return c.usage(fmt.Sprintf("unknown command %q", cmd))
	}
	keyID := ""
	if *filter != "" {
		name, val, ok := strings.Cut(*filter, "=")
		if !ok || name != "attr.id" {
			return c.usage(fmt.Sprintf("--filter %q: want attr.id=0x<id>", *filter))
		}
		keyID = strings.Trim(val, `"'`)
	}
	if action == "key-delete" && keyID == "" {
		return c.usage("key delete needs --filter attr.id=0x<id>")
	}
	s, err := c.load()
	oneShot := false
	if err != nil {
		// Single-command mode: log in for this command with CLOUDHSM_PIN.
		user, pw, ok := strings.Cut(os.Getenv(pinEnvCloudHSM), ":")
		if !ok || os.Getenv(roleEnv) == "" {
			return c.fail(errors.New("not logged in: run login first, or set CLOUDHSM_PIN=username:password and CLOUDHSM_ROLE"))
		}
		info, cluster, err := c.stack(*infoPath, *clusterID)
		if err != nil {
			return c.usage(err.Error())
		}
		if s, err = c.login(info, cluster, user, os.Getenv(roleEnv), pw); err != nil {
			return c.fail(err)
		}
		oneShot = true
	}
	data, err := c.post(s.Endpoint, s.Token, "/v1/cluster-sessions/run", map[string]string{
		"session": s.Session, "action": action, "username": *username, "role": *role, "password": *password, "key_id": keyID,
	})
	if oneShot {
		c.post(s.Endpoint, s.Token, "/v1/cluster-sessions/logout", map[string]string{"session": s.Session})
	}
	if err != nil {
		return c.fail(err)
	}
	return c.ok(data)
}

type hsmCLI struct {
	ctx         context.Context
	stdout      io.Writer
	stderr      io.Writer
	sessionPath string
}

func sessionFile() string {
	if p := os.Getenv(sessionFileEnv); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".keystorm", "cloudhsm-cli-session.json")
}

// stack reads the stack's info file and picks the cluster.
func (c *hsmCLI) stack(path, clusterID string) (stack.Info, string, error) {
	if path == "" {
		return stack.Info{}, "", fmt.Errorf("no stack: give --info FILE (or set %s) as written by 'keystorm serve --info'", infoEnv)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return stack.Info{}, "", fmt.Errorf("--info: %w", err)
	}
	var info stack.Info
	if err := json.Unmarshal(b, &info); err != nil {
		return stack.Info{}, "", fmt.Errorf("--info %s: %w", path, err)
	}
	if info.AdminEndpoint == "" {
		return stack.Info{}, "", fmt.Errorf("--info %s: no admin_endpoint: this stack offers no CloudHSM CLI", path)
	}
	if clusterID == "" {
		if len(info.Clusters) == 0 {
			return stack.Info{}, "", fmt.Errorf("--info %s: no cluster; give --cluster-id", path)
		}
		clusterID = info.Clusters[0].ClusterID
	}
	return info, clusterID, nil
}

func (c *hsmCLI) login(info stack.Info, cluster, user, role, pw string) (cliSession, error) {
	data, err := c.post(info.AdminEndpoint, info.AdminToken, "/v1/cluster-sessions", map[string]string{
		"cluster_id": cluster, "username": user, "role": role, "password": pw,
	})
	if err != nil {
		return cliSession{}, err
	}
	var out struct{ Session string }
	json.Unmarshal(data, &out)
	return cliSession{Endpoint: info.AdminEndpoint, Token: info.AdminToken, ClusterID: cluster, Session: out.Session, Username: user, Role: role}, nil
}

func (c *hsmCLI) askPassword(user string) string {
	if u, pw, ok := strings.Cut(os.Getenv(pinEnvCloudHSM), ":"); ok && u == user {
		return pw
	}
	fmt.Fprint(c.stderr, "Enter password:\n")
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	return strings.TrimRight(line, "\r\n")
}

func (c *hsmCLI) save(s cliSession) error {
	if err := os.MkdirAll(filepath.Dir(c.sessionPath), 0o700); err != nil {
		return fmt.Errorf("remember the login: %w", err)
	}
	b, _ := json.Marshal(s)
	if err := os.WriteFile(c.sessionPath, b, 0o600); err != nil {
		return fmt.Errorf("remember the login: %w", err)
	}
	return nil
}

func (c *hsmCLI) load() (cliSession, error) {
	var s cliSession
	b, err := os.ReadFile(c.sessionPath)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Session == "" {
		return s, fmt.Errorf("login file %s is damaged", c.sessionPath)
	}
	return s, nil
}

// post calls the admin API and returns the answer's body; an error carries
// the API's message.
func (c *hsmCLI) post(endpoint, token, path string, body any) (json.RawMessage, error) {
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the stack at %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.Unmarshal(data, &e)
		return nil, errors.New(e.Error)
	}
	return data, nil
}

func (c *hsmCLI) ok(data any) int {
	c.print(map[string]any{"error_code": 0, "data": data})
	return exitOK
}

func (c *hsmCLI) fail(err error) int {
	c.print(map[string]any{"error_code": 1, "data": err.Error()})
	return exitFailed
}

func (c *hsmCLI) usage(msg string) int {
	fmt.Fprintf(c.stderr, "keystorm cloudhsm-cli: %s\nRun 'keystorm cloudhsm-cli -h' for usage.\n", msg)
	return exitUsage
}

func (c *hsmCLI) print(v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(c.stdout, string(b))
}
