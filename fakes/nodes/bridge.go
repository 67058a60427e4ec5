package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// bridge carries p11-kit's RPC from a Unix socket, where p11-kit-client.so
// connects, to an HSM node's TCP port: p11-kit's client speaks only to Unix
// sockets and to commands it starts. Closing the bridge cuts every
// connection, which ends any PKCS#11 call still waiting on the node.
type bridge struct {
	path   string // the Unix socket
	remote string // host:port of the node
	l      net.Listener

	mu      sync.Mutex
	conns   map[net.Conn]bool
	closed  bool
	severed bool // the network to the node is gone: connections fail at once
	wg      sync.WaitGroup
}

// dialTimeout bounds a connection to a node that does not answer.
const dialTimeout = 5 * time.Second

func newBridge(path, remote string) (*bridge, error) {
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("bridge to %s: %w", remote, err)
	}
	b := &bridge{path: path, remote: remote, l: l, conns: map[net.Conn]bool{}}
	b.wg.Add(1)
	go b.accept()
	return b, nil
}

// address is the p11-kit address of the bridge's socket.
func (b *bridge) address() string { return "unix:path=" + b.path }

func (b *bridge) accept() {
	defer b.wg.Done()
	for {
		local, err := b.l.Accept()
		if err != nil {
			return // closed
		}
		b.mu.Lock()
		severed := b.severed
		b.mu.Unlock()
		if severed {
			local.Close()
			continue
		}
		d := net.Dialer{Timeout: dialTimeout}
		remote, err := d.Dial("tcp", b.remote)
		if err != nil {
			local.Close() // p11-kit reports the call as failed
			continue
		}
		if !b.track(local, remote) {
			return
		}
		b.wg.Add(2)
		go b.pipe(remote, local)
		go b.pipe(local, remote)
	}
}

// track registers a connection pair; false if the bridge closed meanwhile.
func (b *bridge) track(conns ...net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		b.conns[c] = true
	}
	return true
}

// pipe copies one way; when either side ends, both are closed, so that the
// other direction ends too.
func (b *bridge) pipe(dst, src net.Conn) {
	defer b.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// sever cuts the bridge off from the node for good, as a removed network
// does: connections open now end, and new ones fail at once. (Packets to an
// address whose network is gone would otherwise be retransmitted for many
// minutes, and every call on the connection would wait as long.)
func (b *bridge) sever() {
	b.mu.Lock()
	b.severed = true
	b.mu.Unlock()
	b.cut()
}

// cut closes every connection but keeps accepting new ones.
func (b *bridge) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
		delete(b.conns, c)
	}
}

// Close stops the bridge and waits for its goroutines.
func (b *bridge) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	err := b.l.Close()
	b.cut()
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("bridge to %s: %w", b.remote, ctx.Err())
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
