// Package natstest runs real NATS servers for tests: one node, or a cluster
// of several on loopback, each a nats-server process with JetStream and
// `sync_interval: always`, its data in the test's temporary directory, so
// that a test can kill one with SIGKILL and start it again on the same data.
//
// The binary is the nats-server module that tools/go.mod pins, built by
// `go tool` (and cached by the Go build cache), or the one that
// SSEGATE_NATS_SERVER names. A test that cannot get one fails with a
// message that says why; it never skips.
package natstest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvBinary names a nats-server binary to use instead of building one.
const EnvBinary = "SSEGATE_NATS_SERVER"

var binary struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of the nats-server binary, building it the first
// time in a test process.
func Binary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() { binary.path, binary.err = findBinary() })
	if binary.err != nil {
		t.Fatalf("natstest: no nats-server binary: %v", binary.err)
	}
	return binary.path
}

func findBinary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", EnvBinary, err)
		}
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (is the go command on PATH?)", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	tools := filepath.Join(root, "tools", "go.mod")
	if _, err := os.Stat(tools); err != nil {
		return "", fmt.Errorf("the module's tools/go.mod, which pins nats-server: %w", err)
	}
	// go tool -n builds the tool into the build cache and prints its path.
	cmd := exec.Command("go", "tool", "-modfile="+tools, "-n", "nats-server")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool -modfile=%s -n nats-server: %w\n%s", tools, err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out)), nil
}

// Server is one nats-server process.
type Server struct {
	// Name is the server's name in its cluster.
	Name string
	// URL is its client URL, nats://127.0.0.1:port.
	URL string

	t        testing.TB
	bin      string
	conf     string
	httpPort int
	log      *syncBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts one server with JetStream and waits until it is ready.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartCluster(t, 1).Servers[0]
}

// Cluster is several servers routed to each other.
type Cluster struct {
	Servers []*Server
}

// URL is the comma-separated client URLs of every server, as a NATS client
// (and the services' store-url) takes them.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.URL
	}
	return strings.Join(urls, ",")
}

// StartCluster starts n servers (a single node without cluster routes when
// n is 1) and waits until each is ready. They are killed when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Binary(t)
	ports := freePorts(t, 3*n)
	dir := t.TempDir()
	c := &Cluster{}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3*i+1]))
	}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		s := &Server{
			Name: name, URL: fmt.Sprintf("nats://127.0.0.1:%d", ports[3*i]),
			t: t, bin: bin, httpPort: ports[3*i+2], log: &syncBuffer{},
		}
		var conf strings.Builder
		fmt.Fprintf(&conf, "server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", name, ports[3*i], s.httpPort)
		// sync_interval: always, as production needs: with the default, a
		// node that crashes can lose writes it has acknowledged.
		fmt.Fprintf(&conf, "jetstream {\n  store_dir: %q\n  sync_interval: always\n  max_memory_store: 256MB\n  max_file_store: 4GB\n}\n",
			filepath.Join(dir, name))
		if n > 1 {
			fmt.Fprintf(&conf, "cluster {\n  name: ssegate-test\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n",
				ports[3*i+1], strings.Join(routes, ", "))
		}
		s.conf = filepath.Join(dir, name+".conf")
		if err := os.WriteFile(s.conf, []byte(conf.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		c.Servers = append(c.Servers, s)
	}
	for _, s := range c.Servers {
		s.start()
	}
	t.Cleanup(func() {
		for _, s := range c.Servers {
			s.Kill()
		}
		if t.Failed() {
			for _, s := range c.Servers {
				t.Logf("nats-server %s log (tail):\n%s", s.Name, s.log.tail(4000))
			}
		}
	})
	for _, s := range c.Servers {
		s.WaitReady()
	}
	return c
}

func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, "-c", s.conf)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("natstest: starting nats-server %s: %v", s.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
}

// WaitReady waits, at most 60 s, until the server's health endpoint says
// that JetStream is ready (in a cluster: a meta leader is known and the
// server's streams are current).
func (s *Server) WaitReady() {
	s.t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", s.httpPort)
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		s.mu.Lock()
		done := s.done
		s.mu.Unlock()
		select {
		case <-done:
			s.t.Fatalf("natstest: nats-server %s exited:\n%s", s.Name, s.log.tail(4000))
		default:
		}
		res, err := client.Get(url)
		if err == nil {
			b := new(bytes.Buffer)
			_, _ = b.ReadFrom(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", res.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("natstest: nats-server %s not ready within 60s (last /healthz: %s)\n%s", s.Name, last, s.log.tail(4000))
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
// It does nothing if the server is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Restart starts a killed server again, on its ports and data, and waits
// until it is ready.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
	s.WaitReady()
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lis []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis = append(lis, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range lis {
		_ = l.Close()
	}
	return ports
}

// syncBuffer is a process's output, kept for a failing test's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
