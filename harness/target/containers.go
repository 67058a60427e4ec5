package target

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keystorm/keystorm/fakes/images"
	"github.com/keystorm/keystorm/fakes/nodes"
	fakestack "github.com/keystorm/keystorm/fakes/stack"
)

// ContainersOptions configure the containers stack.
type ContainersOptions struct {
	Clusters        int
	Speed           float64
	ConnectDuration time.Duration
	// Binary is the keystorm binary the KMS image carries; default: this
	// process's executable, which must then be keystorm.
	Binary string
	// Log gets a line per image built or reused and per container started.
	Log io.Writer
}

// kmsPortBase is where `keystorm serve` listens inside the KMS container.
const kmsPortBase = 4566

// infoPath is where the KMS container writes its Info.
const infoPath = "/run/keystorm-info.json"

// StartContainers starts the containers stack: the images of docker/ (built
// on first use), then the KMS container (the KMS service, the CloudHSM
// control plane and the admin API), which starts one container per HSM on a
// Docker network per subnet. Everything it starts is labelled with the
// stack's id; Close removes it all, and `keystorm clean` removes what a
// killed run left.
func StartContainers(ctx context.Context, opts ContainersOptions) (_ Stack, err error) {
	tclog.SetDefault(tclog.NewNoopLogger())
	if opts.Binary == "" {
		if opts.Binary, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("start containers stack: keystorm binary: %w", err)
		}
	}
	if opts.Clusters <= 0 {
		opts.Clusters = 1
	}
	if opts.Speed == 0 {
		opts.Speed = 1
	}
	set, err := images.Build(ctx, images.Options{Binary: opts.Binary, Log: opts.Log})
	if err != nil {
		return nil, fmt.Errorf("start containers stack: %w", err)
	}
	id := newStackID()
	cmd := []string{"serve", "--nodes", "containers", "--hsm-image", set.HSM, "--stack-id", id,
		"--host", "0.0.0.0", "--port-base", strconv.Itoa(kmsPortBase), "--info", infoPath,
		"--clusters", strconv.Itoa(opts.Clusters), "--speed", strconv.FormatFloat(opts.Speed, 'g', -1, 64)}
	if opts.ConnectDuration > 0 {
		cmd = append(cmd, "--connect-duration", opts.ConnectDuration.String())
	}
	ports := make([]string, 4)
	for i := range ports {
		ports[i] = fmt.Sprintf("%d/tcp", kmsPortBase+i)
	}
	started := time.Now()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        set.KMS,
			Name:         "keystorm-" + id + "-kms",
			Cmd:          cmd,
			Env:          map[string]string{"TESTCONTAINERS_RYUK_DISABLED": "true"},
			ExposedPorts: ports,
			Labels:       map[string]string{nodes.LabelStack: id},
			HostConfigModifier: func(hc *container.HostConfig) {
				// The control plane starts and stops the HSM containers.
				hc.Binds = append(hc.Binds, "/var/run/docker.sock:/var/run/docker.sock")
			},
			WaitingFor: wait.ForFile(infoPath).WithStartupTimeout(3 * time.Minute),
		},
		Started: true,
	})
	cleanup := func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		stopContainers(closeCtx, c, id)
	}
	if err != nil {
		err = fmt.Errorf("start containers stack: KMS container: %w%s", err, containerLogs(ctx, c))
		cleanup()
		return nil, err
	}
	info, err := readContainerInfo(ctx, c)
	if err != nil {
		err = fmt.Errorf("start containers stack: %w%s", err, containerLogs(ctx, c))
		cleanup()
		return nil, err
	}
	if opts.Log != nil {
		fmt.Fprintf(opts.Log, "containers stack %s up in %v: KMS %s\n", id, time.Since(started).Round(time.Millisecond), info.KMSEndpoint)
	}
	r := newRemote("containers", info, nil)
	r.close = func(ctx context.Context) error {
		stopping := time.Now()
		err := stopContainers(ctx, c, id)
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "containers stack %s removed in %v\n", id, time.Since(stopping).Round(time.Millisecond))
		}
		return err
	}
	return r, nil
}

// readContainerInfo reads the KMS container's Info and points its endpoints
// at the ports the container publishes on this host.
func readContainerInfo(ctx context.Context, c testcontainers.Container) (Info, error) {
	rc, err := c.CopyFileFromContainer(ctx, infoPath)
	if err != nil {
		return Info{}, fmt.Errorf("read %s: %w", infoPath, err)
	}
	defer rc.Close()
	var info Info
	if err := json.NewDecoder(rc).Decode(&info); err != nil {
		return Info{}, fmt.Errorf("read %s: %w", infoPath, err)
	}
	// A local engine publishes ports on this host's loopback; testcontainers'
	// guess at the host (a gateway address) is only needed for a remote one.
	host := "127.0.0.1"
	if strings.HasPrefix(os.Getenv("DOCKER_HOST"), "tcp://") {
		if host, err = c.Host(ctx); err != nil {
			return Info{}, fmt.Errorf("docker host: %w", err)
		}
	}
	for offset, ep := range map[int]*string{
		fakestack.KMSPort: &info.KMSEndpoint, fakestack.CloudHSMPort: &info.CloudHSMEndpoint,
		fakestack.AdminPort: &info.AdminEndpoint, fakestack.MetricsPort: &info.MetricsEndpoint,
	} {
		u, err := url.Parse(*ep)
		if err != nil {
			return Info{}, fmt.Errorf("endpoint %q: %w", *ep, err)
		}
		port, err := c.MappedPort(ctx, fmt.Sprintf("%d/tcp", kmsPortBase+offset))
		if err != nil {
			return Info{}, fmt.Errorf("published port of %s: %w", *ep, err)
		}
		u.Host = net.JoinHostPort(host, port.Port())
		*ep = u.String()
	}
	return info, nil
}

// stopContainers stops the KMS container, giving `keystorm serve` time to
// remove its HSM containers and networks, then removes whatever carries the
// stack's label still.
func stopContainers(ctx context.Context, c testcontainers.Container, id string) error {
	var errs []error
	if c != nil {
		if err := testcontainers.TerminateContainer(c, testcontainers.StopContext(ctx), testcontainers.StopTimeout(time.Minute)); err != nil {
			errs = append(errs, fmt.Errorf("remove KMS container: %w", err))
		}
	}
	if _, err := nodes.Clean(ctx, id); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// containerLogs is the tail of a container's output, for an error message.
func containerLogs(ctx context.Context, c testcontainers.Container) string {
	if c == nil {
		return ""
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	if len(b) == 0 {
		return ""
	}
	return "\n--- KMS container output ---\n" + string(b)
}

func newStackID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
