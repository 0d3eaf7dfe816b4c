package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// child is a process this tool started: the backend or a gateway under
// test. It is stopped by its own pid, never by name.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin *os.File // closing it tells the child to exit
	addr  string
	done  chan struct{}
	err   error // the exit status, once done is closed
}

// startChild re-executes this program as `exe args...` and waits for it to
// print "listening ADDR".
func startChild(ctx context.Context, exe, name string, stderr io.Writer, args ...string) (*child, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: inW, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()

	line := make(chan string, 1)
	go func() {
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() { // drain, so the child never blocks on stdout
		}
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "listening ")
		if ok && found {
			c.addr = addr
			return c, nil
		}
		_ = c.stop()
		return nil, fmt.Errorf("%s did not start: %v", name, c.err)
	case <-timer.C:
	case <-ctx.Done():
	}
	_ = c.stop()
	return nil, fmt.Errorf("%s did not start in time", name)
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop asks the child to exit by closing its standard input, then with
// SIGTERM, then kills it, five seconds apart. It returns the child's exit
// error: a non-zero exit (a race report, a panic) fails the run.
func (c *child) stop() error {
	_ = c.stdin.Close()
	if c.wait(5 * time.Second) {
		return c.exitErr(false)
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if c.wait(5 * time.Second) {
		return c.exitErr(true)
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	return fmt.Errorf("%s did not exit within 5 s of SIGTERM; killed", c.name)
}

func (c *child) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}

// exitErr is the child's exit status as an error; a death by the SIGTERM
// stop sent is a normal end.
func (c *child) exitErr(termed bool) error {
	if c.err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && termed && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
		return fmt.Errorf("%s exited: %s", c.name, ee.ProcessState)
	}
	return fmt.Errorf("%s: %w", c.name, c.err)
}
