package nodes

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// echoServer answers each line with itself, as a node's RPC port would
// answer a request.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

func TestBridgeCarriesTrafficAndSeverEndsIt(t *testing.T) {
	b, err := newBridge(filepath.Join(t.TempDir(), "node.sock"), echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if got, want := b.address(), "unix:path="+b.path; got != want {
		t.Errorf("address %q, want %q", got, want)
	}

	c, err := net.Dial("unix", b.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("through the bridge: %q, %v", line, err)
	}

	// A removed network: the open connection ends (a call waiting on it
	// returns), and a new one is closed at once instead of dialling.
	b.sever()
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("the connection survived sever")
	}
	c2, err := net.Dial("unix", b.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	c2.Write([]byte("ping\n"))
	if n, err := c2.Read(make([]byte, 8)); err == nil {
		t.Fatalf("a severed bridge carried %d bytes", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a severed bridge left the connection open instead of closing it")
	}
}

func TestBridgeCloseEndsOpenConnections(t *testing.T) {
	b, err := newBridge(filepath.Join(t.TempDir(), "node.sock"), echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", b.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection outlived the bridge")
	}
	if _, err := net.Dial("unix", b.path); err == nil {
		t.Fatal("a closed bridge accepted a connection")
	}
}
