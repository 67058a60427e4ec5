package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/keystorm/keystorm/fakes/nodes"
	"github.com/keystorm/keystorm/fakes/stack"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keystorm serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		opts     stack.Options
		infoPath string
		auditLog string
		caDir    string
		nodesOn  string
		hostCfg  nodes.Config
	)
	fs.IntVar(&opts.Clusters, "clusters", 1, "seed `N` unrelated ACTIVE clusters, each of two HSMs in two AZs with kmsuser")
	fs.Float64Var(&opts.Speed, "speed", 1, "stack clock speed: stack seconds per real second (60 makes the 20-minute connect take 20 s)")
	fs.StringVar(&infoPath, "info", "", "once ready, write the endpoints, credentials and clusters as JSON to `FILE`")
	fs.StringVar(&opts.Host, "host", "127.0.0.1", "address the servers listen on")
	fs.StringVar(&opts.Region, "region", "us-east-1", "the stack's Region")
	fs.StringVar(&opts.AccessKeyID, "access-key-id", "", "the access key id requests must be signed with (default: a fresh one)")
	fs.StringVar(&opts.SecretAccessKey, "secret-access-key", "", "its secret (default: a fresh one)")
	fs.DurationVar(&opts.ConnectDuration, "connect-duration", 0, "how long a connection attempt takes in stack time (default 20m, as the real service)")
	fs.StringVar(&auditLog, "audit", "", "append the KMS audit log (CloudTrail-like JSON lines) to `FILE`")
	fs.StringVar(&nodesOn, "nodes", "embedded", "where HSM nodes run: embedded (tokens of this process's SoftHSM) or containers (one Docker container each, on a network per subnet; needs --hsm-image)")
	fs.StringVar(&hostCfg.Image, "hsm-image", "", "with --nodes containers: the HSM node image (built from docker/hsm)")
	fs.StringVar(&hostCfg.StackID, "stack-id", "", "with --nodes containers: the id that labels the stack's containers and networks (default: a fresh one)")
	fs.IntVar(&opts.PortBase, "port-base", 0, "listen on fixed ports: KMS on `N`, CloudHSM on N+1, admin on N+2, metrics on N+3 (default: free ports)")
	fs.StringVar(&caDir, "trust-anchors", "", "write each cluster's customerCA.crt into `DIR` (default: a temporary directory)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: keystorm serve [flags]\n\nStarts the embedded key-store stack alone (KMS, CloudHSM v2, admin API, metrics on\nloopback ports) until interrupted, for the aws CLI, boto3 or an SDK.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, done := parseFlagsOnly(fs, args); done {
		return code
	}
	switch {
	case opts.Clusters < 1 || opts.Clusters > 64:
		fmt.Fprintf(stderr, "keystorm serve: --clusters %d: want 1..64\n", opts.Clusters)
		return exitUsage
	case !(opts.Speed > 0):
		fmt.Fprintf(stderr, "keystorm serve: --speed %v: want > 0\n", opts.Speed)
		return exitUsage
	case (opts.AccessKeyID == "") != (opts.SecretAccessKey == ""):
		fmt.Fprintf(stderr, "keystorm serve: give both --access-key-id and --secret-access-key, or neither\n")
		return exitUsage
	case nodesOn != "embedded" && nodesOn != "containers":
		fmt.Fprintf(stderr, "keystorm serve: --nodes %q: want embedded or containers\n", nodesOn)
		return exitUsage
	case nodesOn == "containers" && hostCfg.Image == "":
		fmt.Fprintf(stderr, "keystorm serve: --nodes containers needs --hsm-image\n")
		return exitUsage
	case opts.PortBase < 0 || opts.PortBase > 65532:
		fmt.Fprintf(stderr, "keystorm serve: --port-base %d: want 1..65532\n", opts.PortBase)
		return exitUsage
	}
	if auditLog != "" {
		f, err := os.OpenFile(auditLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "keystorm serve: --audit: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		opts.Audit = f
	}

	if nodesOn == "containers" {
		host, err := startNodeHost(ctx, hostCfg)
		if err != nil {
			fmt.Fprintf(stderr, "keystorm serve: %v\n", err)
			return exitUsage
		}
		// Deferred first, so it runs after the stack's Close, which retires
		// the nodes; it removes what is left (networks, failed starts).
		defer func() {
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := host.Close(closeCtx); err != nil {
				fmt.Fprintf(stderr, "keystorm serve: remove node containers: %v\n", err)
			}
		}()
		opts.Nodes = host
	}
	defer stack.TuneGC()()
	st, err := stack.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "keystorm serve: %v\n", err)
		return exitUsage
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.Close(closeCtx); err != nil {
			fmt.Fprintf(stderr, "keystorm serve: stop: %v\n", err)
		}
	}()
	if caDir == "" {
		dir, err := os.MkdirTemp("", "keystorm-serve-")
		if err != nil {
			fmt.Fprintf(stderr, "keystorm serve: %v\n", err)
			return exitUsage
		}
		defer os.RemoveAll(dir)
		caDir = dir
	}
	info := st.Info()
	caFiles := make([]string, len(info.Clusters))
	for i, c := range info.Clusters {
		caFiles[i] = filepath.Join(caDir, c.ClusterID+"-customerCA.crt")
		if err := os.WriteFile(caFiles[i], []byte(c.TrustAnchorPEM), 0o644); err != nil {
			fmt.Fprintf(stderr, "keystorm serve: trust anchor: %v\n", err)
			return exitUsage
		}
	}
	printServeBanner(stdout, info, caFiles)
	// Written last: its appearance tells scripts the stack is ready.
	if infoPath != "" {
		if err := st.WriteInfo(infoPath); err != nil {
			fmt.Fprintf(stderr, "keystorm serve: --info: %v\n", err)
			return exitUsage
		}
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "keystorm serve: stopping; removing the stack's tokens")
	return exitOK
}

// startNodeHost starts the Docker side of `--nodes containers`. In a
// container (as in the containers stack), this process's container joins
// each subnet's network.
func startNodeHost(ctx context.Context, cfg nodes.Config) (*nodes.Host, error) {
	if cfg.StackID == "" {
		cfg.StackID = fmt.Sprintf("%x", time.Now().UnixNano())
	}
	tclog.SetDefault(tclog.NewNoopLogger())
	if _, err := os.Stat("/.dockerenv"); err == nil {
		self, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("this container's id: %w", err)
		}
		cfg.Self = self
	}
	return nodes.New(ctx, cfg)
}

func printServeBanner(w io.Writer, info stack.Info, caFiles []string) {
	fmt.Fprintf(w, "keystorm serve: the stack is up (clock speed %gx)\n\n", info.Speed)
	fmt.Fprintf(w, "  KMS          %s\n  CloudHSM v2  %s\n  admin        %s  (Authorization: Bearer %s)\n  metrics      %s\n\n",
		info.KMSEndpoint, info.CloudHSMEndpoint, info.AdminEndpoint, info.AdminToken, info.MetricsEndpoint)
	for i, c := range info.Clusters {
		fmt.Fprintf(w, "  cluster %s  kmsuser password %s  admin password %s  subnets %s\n    trust anchor %s\n",
			c.ClusterID, c.KmsuserPassword, c.AdminPassword, strings.Join(c.SubnetIDs, ","), caFiles[i])
	}
	c := info.Clusters[0]
	fmt.Fprintf(w, "\nTry it (copy and paste):\n\n")
	fmt.Fprintf(w, "  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=%s\n", info.AccessKeyID, info.SecretAccessKey, info.Region)
	fmt.Fprintf(w, "  aws cloudhsmv2 describe-clusters --endpoint-url %s\n", info.CloudHSMEndpoint)
	fmt.Fprintf(w, "  aws kms create-custom-key-store --endpoint-url %s --custom-key-store-name ExampleCKS \\\n      --cloud-hsm-cluster-id %s --key-store-password %s \\\n      --trust-anchor-certificate file://%s\n",
		info.KMSEndpoint, c.ClusterID, c.KmsuserPassword, caFiles[0])
	fmt.Fprintf(w, "  aws kms connect-custom-key-store --endpoint-url %s --custom-key-store-id <cks-id>\n", info.KMSEndpoint)
	fmt.Fprintf(w, "  aws kms describe-custom-key-stores --endpoint-url %s --custom-key-store-id <cks-id>\n", info.KMSEndpoint)
	fmt.Fprintf(w, "  aws kms create-key --endpoint-url %s --origin AWS_CLOUDHSM --custom-key-store-id <cks-id>\n", info.KMSEndpoint)
	fmt.Fprintf(w, "  aws kms encrypt --endpoint-url %s --key-id <key-id> --plaintext hello   # aws CLI v2: add --cli-binary-format raw-in-base64-out\n", info.KMSEndpoint)
	fmt.Fprintf(w, "  aws kms disconnect-custom-key-store --endpoint-url %s --custom-key-store-id <cks-id>\n\n", info.KMSEndpoint)
	fmt.Fprintf(w, "Stop with Ctrl-C: the stack's tokens are removed.\n")
}
