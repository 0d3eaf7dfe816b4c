package thirdparty_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/ssegate/ssegate/internal/apptest"
)

// repoRoot is the repository's top directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// gatewayBin builds cmd/ssegate and returns the binary's path.
func gatewayBin(t testing.TB) string {
	t.Helper()
	return filepath.Join(apptest.Build(t, "ssegate"), "ssegate")
}

// startGateway starts the ssegate binary at bin with args and returns it
// and its base URL.
func startGateway(t testing.TB, bin string, args ...string) (*apptest.Process, string) {
	t.Helper()
	// Metrics on a port of their own per process, as tests run in parallel.
	p := apptest.StartProcess(t, bin, append([]string{"-metrics-addr", "127.0.0.1:0"}, args...)...)
	return p, "http://" + p.Addr
}

// serveGRPC starts a gRPC server on 127.0.0.1 with what register adds and
// returns its address; it stops when the test ends.
func serveGRPC(t testing.TB, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return lis.Addr().String()
}

// newClient is a client of the gateway at base, its connections closed
// when the test ends.
func newClient(t testing.TB, base string) *apptest.Client {
	t.Helper()
	c := &apptest.Client{Base: base, HTTP: &http.Client{Transport: &http.Transport{}}}
	t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   string
}

// call sends a request with a JSON body (when not empty) and reads the
// answer.
func call(t testing.TB, c *apptest.Client, method, path, body string) response {
	t.Helper()
	res, err := c.Do(context.Background(), method, path, body, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

// compact removes the whitespace protojson adds at random from a JSON
// text; anything else is returned as it is.
func compact(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}

// compactData compacts the JSON of each `data:` line of an event stream.
func compactData(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if v, ok := strings.CutPrefix(l, "data: "); ok {
			lines[i] = "data: " + compact(v)
		}
	}
	return strings.Join(lines, "\n")
}

// rawStream is an SSE stream read with apptest's reader that also keeps
// the bytes received, to compare them whole.
type rawStream struct {
	*apptest.Stream
	raw *syncBuffer
}

// openStream sends GET path accepting text/event-stream, with header.
func openStream(t testing.TB, c *apptest.Client, path string, header http.Header) *rawStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	req, err := http.NewRequestWithContext(ctx, "GET", c.Base+path, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.HTTP.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	raw := &syncBuffer{}
	body := res.Body
	res.Body = readCloser{io.TeeReader(body, raw), func() error {
		err := body.Close()
		cancel()
		return err
	}}
	s := &rawStream{Stream: apptest.NewStream(res), raw: raw}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Raw is what the stream received so far, its JSON data compacted.
func (s *rawStream) Raw() string { return compactData(s.raw.String()) }

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// bufBin is the pinned buf (tools/go.mod), built into the Go cache.
func bufBin(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	cmd := exec.Command("go", "tool", "-modfile=tools/go.mod", "-n", "buf")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go tool -modfile=tools/go.mod -n buf: %v (buf is pinned in tools/go.mod)", err)
	}
	path := strings.TrimSpace(string(out))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("buf: go tool -n named %s: %v", path, err)
	}
	return path
}

// bufWorkspace is a copy of testdata (buf.yaml and the greeter's proto)
// with the imports in third_party/, as the README lays a project out:
// google/api/{annotations,http}.proto from the module the Makefile's
// protodeps target takes them from, ssegate/v1/options.proto from proto/.
func bufWorkspace(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/grpc-ecosystem/grpc-gateway@v1.16.0")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download github.com/grpc-ecosystem/grpc-gateway@v1.16.0 (the google/api protos): %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download -json: %v %s", err, out)
	}
	copies := map[string]string{
		"buf.yaml":                                 filepath.Join("testdata", "buf.yaml"),
		"proto/acme/greeter/v1/greeter.proto":      filepath.Join("testdata", "proto", "acme", "greeter", "v1", "greeter.proto"),
		"third_party/google/api/annotations.proto": filepath.Join(mod.Dir, "third_party", "googleapis", "google", "api", "annotations.proto"),
		"third_party/google/api/http.proto":        filepath.Join(mod.Dir, "third_party", "googleapis", "google", "api", "http.proto"),
		"third_party/ssegate/v1/options.proto":     filepath.Join(root, "proto", "ssegate", "v1", "options.proto"),
	}
	for to, from := range copies {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to = filepath.Join(dir, filepath.FromSlash(to))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildDescriptorSet compiles the greeter with buf as the README says
// (`buf build -o greeter.binpb`, imports and comments included) and
// returns the set's path.
func buildDescriptorSet(t testing.TB) string {
	t.Helper()
	dir := bufWorkspace(t)
	cmd := exec.Command(bufBin(t), "build", "-o", "greeter.binpb")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "greeter.binpb")
}

// writeFile writes text to dir/name and returns its path.
func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
