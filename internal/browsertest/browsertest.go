// Package browsertest runs a headless Chromium for tests and drives one tab
// with bounded steps: each failed step stops the test with a screenshot, the
// page's state and the browser console. The console is checked when the
// test ends. A missing browser fails the test: it never skips, so a machine
// without Chromium cannot look like a passing run.
package browsertest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultChromium is where Debian's chromium package puts the browser.
const DefaultChromium = "/usr/bin/chromium"

// Chromium returns the browser's path: SSEGATE_CHROMIUM, else chromium on
// PATH, else DefaultChromium (scripts/testdeps, which make test runs first,
// looks in the same places). It fails t when there is no browser there.
func Chromium(t testing.TB) string {
	t.Helper()
	path := os.Getenv("SSEGATE_CHROMIUM")
	if path == "" {
		path = DefaultChromium
		if p, err := exec.LookPath("chromium"); err == nil {
			path = p
		}
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		// Never skip: a missing browser must not look like a passing test.
		t.Fatalf("browsertest: %s needs Chromium at %s (Debian: apt-get install chromium; "+
			"or set SSEGATE_CHROMIUM to the browser's path): %v", t.Name(), path, err)
	}
	return path
}

// Options shape a Browser; the zero value is usable.
type Options struct {
	// Width and Height size the window and the tab's viewport (default
	// 1280x800).
	Width, Height int
	// Lifetime bounds everything the test does with the browser (default
	// one minute).
	Lifetime time.Duration
	// Step bounds one action, evaluation or screenshot (default 15 s).
	Step time.Duration
	// FullPage makes screenshots of the whole page, not only the viewport.
	FullPage bool
	// ShotsDir, when set, receives a copy of every screenshot, named after
	// the test.
	ShotsDir string
	// ConsoleError tells the console messages that fail the test when it
	// ends; the others are logged (default DefaultConsoleError).
	ConsoleError ConsoleErrorFunc
	// State is a JavaScript expression whose string value describes the
	// page in failure messages.
	State string
	// OnEvent, when set, sees every DevTools event of the tab. It runs on
	// chromedp's reader goroutine: it must be quick and must not call
	// chromedp.
	OnEvent func(ev any)
}

// ConsoleErrorFunc reports whether a console message is an error that
// fails the test.
type ConsoleErrorFunc func(chromedp.ConsoleMessage) bool

var cspViolation = regexp.MustCompile(`(?i)content security policy`)

// DefaultConsoleError fails a test on uncaught exceptions and Content
// Security Policy violations.
func DefaultConsoleError(m chromedp.ConsoleMessage) bool {
	return m.IsException() || cspViolation.MatchString(m.Text)
}

// Browser is one headless Chromium with a fresh profile and one tab. It
// records the tab's console.
type Browser struct {
	T   testing.TB
	Ctx context.Context // the tab; ends after Options.Lifetime

	opts Options

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// New starts Chromium for t, with the tab's viewport set; it is stopped
// when t ends.
func New(t testing.TB, opts Options) *Browser {
	t.Helper()
	opts.Width, opts.Height = cmp.Or(opts.Width, 1280), cmp.Or(opts.Height, 800)
	opts.Lifetime, opts.Step = cmp.Or(opts.Lifetime, time.Minute), cmp.Or(opts.Step, 15*time.Second)
	if opts.ConsoleError == nil {
		opts.ConsoleError = DefaultConsoleError
	}
	path := Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), opts.Lifetime)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(opts.Width, opts.Height),
	)
	t.Cleanup(cancelAlloc)
	tctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)

	b := &Browser{T: t, Ctx: tctx, opts: opts}
	// The first call starts the browser; it must not carry a short timeout.
	if err := chromedp.Do(tctx); err != nil {
		t.Fatalf("browsertest: starting Chromium at %s: %v", path, err)
	}
	if opts.OnEvent != nil {
		if err := chromedp.Listen(tctx, opts.OnEvent); err != nil {
			t.Fatalf("browsertest: listening to the tab: %v", err)
		}
	}
	messages := chromedp.Console(tctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() { <-done })
	t.Cleanup(cancelTab) // runs before the wait above
	t.Cleanup(b.checkConsole)
	b.Do("set the viewport", chromedp.EmulateViewport(int64(opts.Width), int64(opts.Height)))
	return b
}

// checkConsole fails the test on the console's errors and logs the rest.
func (b *Browser) checkConsole() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		if b.opts.ConsoleError(m) {
			b.T.Errorf("browser console: %s", m.String())
		} else {
			b.T.Logf("browser console: %s", m.String())
		}
	}
}

// ConsoleText returns the console so far, one message a line.
func (b *Browser) ConsoleText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, m := range b.console {
		fmt.Fprintf(&sb, "  %s\n", m.String())
	}
	return sb.String()
}

// Do runs actions within one step and stops the test when they fail.
func (b *Browser) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, b.opts.Step)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.Fail(what, err)
	}
}

// WaitFor polls a JavaScript expression until it is truthy, for at most
// timeout.
func (b *Browser) WaitFor(what, expr string, timeout time.Duration) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, timeout+2*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.Fail("waiting until "+what, err)
	}
}

// Eval evaluates expr in the page and decodes its value into v.
func (b *Browser) Eval(expr string, v any, opts ...chromedp.EvaluateOption) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, b.opts.Step)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, opts...))
	if err != nil {
		b.Fail("evaluating "+expr, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		b.T.Fatalf("decoding %s = %s: %v", expr, raw, err)
	}
}

// EvalString evaluates an expression whose value is a string.
func (b *Browser) EvalString(expr string) string {
	b.T.Helper()
	var s string
	b.Eval(expr, &s)
	return s
}

// Screenshot saves the page as name.png in the test's artifact directory
// (kept with go test -artifacts) and returns its path; a failure to take
// it fails the test.
func (b *Browser) Screenshot(name string) string {
	b.T.Helper()
	path, err := b.save(name)
	if err != nil {
		b.T.Errorf("screenshot %s: %v", name, err)
	}
	return path
}

// Fail stops the test with what was being done, the page's state, a
// screenshot and the console.
func (b *Browser) Fail(what string, err error) {
	b.T.Helper()
	path, serr := b.save("failure")
	if serr != nil {
		b.T.Logf("screenshot: %v", serr)
	}
	b.T.Fatalf("%s: %v\npage state: %s\nscreenshot: %s\nconsole:\n%s", what, err, b.state(), path, b.ConsoleText())
}

// state describes the page for failure messages; it never fails.
func (b *Browser) state() string {
	if b.opts.State == "" {
		return "(not described)"
	}
	ctx, cancel := context.WithTimeout(b.Ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](b.opts.State))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

func (b *Browser) save(name string) (string, error) {
	ctx, cancel := context.WithTimeout(b.Ctx, b.opts.Step)
	defer cancel()
	shot := chromedp.CaptureScreenshot()
	if b.opts.FullPage {
		shot = chromedp.FullScreenshot(100) // 100: PNG
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.T.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "", err
	}
	b.T.Logf("screenshot: %s", path)
	if b.opts.ShotsDir != "" {
		file := strings.NewReplacer("/", "_", " ", "_").Replace(b.T.Name()) + "-" + name + ".png"
		if err := os.MkdirAll(b.opts.ShotsDir, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(b.opts.ShotsDir, file), png, 0o644)
		}
	}
	return path, nil
}
