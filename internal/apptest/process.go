package apptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Module is the import path the binaries are built from.
const Module = "github.com/ssegate/ssegate"

// Build builds the commands in cmd/ named by names (e.g. "ssegate",
// "ssegate-auth") in one go build, into a directory of t, and returns the
// directory. Build once per test and share the binaries among subtests.
func Build(t testing.TB, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, Module+"/cmd/"+n)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return dir
}

// Env is the environment for a binary a test starts: this process's,
// without SSEGATE_* settings that would change what the test configures
// with flags.
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSEGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// Process is a binary a test started. It is stopped by its own pid, never
// by name, and killed when the test ends if it still runs; a failed test
// logs its stderr.
type Process struct {
	// Addr is the address the process said it serves on.
	Addr string

	name   string
	cmd    *exec.Cmd
	stderr *logWatcher
	done   chan struct{}
	err    error // the exit status, once done is closed
}

// StartProcess starts bin with args and waits, at most 20 s, until it logs
// that it serves ("serving HTTP" or "serving gRPC" at info level, with the
// address). It fails t when the process exits or stays silent instead.
func StartProcess(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{name: filepath.Base(bin), stderr: newLogWatcher(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = Env()
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %s stderr:\n%s", p.name, strings.Join(args, " "), p.Stderr())
		}
	})
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	select {
	case p.Addr = <-p.stderr.serving:
		return p
	case <-p.done:
		t.Fatalf("%s exited at start: %v\n%s", p.name, p.err, p.Stderr())
	case <-timer.C:
		t.Fatalf("%s did not say it serves within 20s\n%s", p.name, p.Stderr())
	}
	return nil
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill ends the process at once, as a crash would, and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Wait waits at most d for the process to exit and returns its exit
// status; ok is false when it still runs.
func (p *Process) Wait(d time.Duration) (exit error, ok bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err, true
	case <-timer.C:
		return nil, false
	}
}

// Stderr is what the process wrote on stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// logWatcher keeps a process's stderr and reports the address of the
// first "serving" log line.
type logWatcher struct {
	serving chan string

	mu   sync.Mutex
	buf  bytes.Buffer
	line []byte // the line being written
	sent bool
}

func newLogWatcher() *logWatcher { return &logWatcher{serving: make(chan string, 1)} }

func (w *logWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		var rec struct{ Msg, Addr string }
		if !w.sent && json.Unmarshal(w.line[:i], &rec) == nil &&
			(rec.Msg == "serving HTTP" || rec.Msg == "serving gRPC") && rec.Addr != "" {
			w.serving <- rec.Addr
			w.sent = true
		}
		w.line = w.line[i+1:]
	}
}

func (w *logWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// ExitCode is the status an exited process's error carries: 0 for nil, -1
// when it did not exit normally (a signal).
func ExitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}
