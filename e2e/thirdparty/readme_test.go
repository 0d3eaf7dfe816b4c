package thirdparty_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/apptest"
)

// readmeSection is the README section this file keeps true.
const readmeSection = "Put ssegate in front of your services"

// block is one fenced code block of the README.
type block struct {
	lang, text string
}

// readmeBlocks returns the fenced blocks of the README's section title, in
// order.
func readmeBlocks(t testing.TB, title string) []block {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", title)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var blocks []block
	var cur *block
	for line := range strings.Lines(section) {
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(line, "```"))}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line
		}
	}
	if cur != nil {
		t.Fatalf("README.md, %s: a code block is not closed", title)
	}
	return blocks
}

// fileName is the name a file block gives in its first line (`# NAME` or
// `// NAME`), or "".
func (b block) fileName() string {
	first, _, _ := strings.Cut(b.text, "\n")
	for _, prefix := range []string{"# ", "// "} {
		if name, ok := strings.CutPrefix(first, prefix); ok && !strings.Contains(name, " ") {
			return name
		}
	}
	return ""
}

// normalize compacts the JSON of each line, and of each data: line, so
// that protojson's random spaces do not count.
func normalize(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = compact(l)
	}
	return compactData(strings.Join(lines, "\n"))
}

// The README's section, run as written: its .proto and buf.yaml are the
// testdata the other tests build, its buf line builds the descriptor set,
// its config file and each of its ssegate command lines start the gateway
// in front of the greeter, and each of its curl blocks prints what the
// text block after it shows. Only the addresses change: the greeter
// listens where the test's server does, and the gateway on a free port.
func TestREADMEPutSsegateInFront(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed to run the README's commands: scripts/testdeps (make testdeps) installs it")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlocks(t, readmeSection)
	dir := bufWorkspace(t)
	bin := t.TempDir()
	for name, path := range map[string]string{"buf": bufBin(t), "ssegate": gatewayBin(t)} {
		if err := os.Symlink(path, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	path := "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")
	run := func(t *testing.T, script string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bash, "-euo", "pipefail", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(apptest.Env(), path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, stderr.String())
		}
		return string(out)
	}

	// Files, then the build, then the gateway's command lines and the
	// client commands with the output each should print.
	var configs, gateways []string
	type client struct{ script, want string }
	var clients []client
	built := false
	for i, b := range blocks {
		if name := b.fileName(); name != "" {
			want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			switch {
			case err == nil && b.text != string(want):
				t.Errorf("README.md's %s is not testdata's:\n%s\nwant\n%s", name, b.text, want)
			case err != nil:
				configs = append(configs, name)
				writeFile(t, dir, name, b.text)
			}
			continue
		}
		if b.lang != "sh" {
			continue
		}
		first := strings.TrimSpace(b.text)
		switch {
		case strings.HasPrefix(first, "buf "):
			run(t, b.text)
			built = true
		case strings.HasPrefix(first, "ssegate "):
			if strings.Contains(first, "\n") {
				t.Fatalf("README.md: a block that starts ssegate holds more than the command:\n%s", b.text)
			}
			gateways = append(gateways, first)
		default:
			c := client{script: b.text}
			if i+1 < len(blocks) && blocks[i+1].lang == "text" {
				c.want = blocks[i+1].text
			}
			clients = append(clients, c)
		}
	}
	if !built || len(configs) != 1 || len(gateways) != 2 || len(clients) < 4 {
		t.Fatalf("README.md's section %q: built %v, config files %q, ssegate commands %q, %d client blocks; "+
			"want the buf line, ssegate.yaml, two ssegate command lines and the curl blocks", readmeSection, built, configs, gateways, len(clients))
	}

	g := startGreeter(t, filepath.Join(dir, "greeter.binpb"), true)
	for _, name := range configs {
		text, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, name, strings.ReplaceAll(string(text), "127.0.0.1:9090", g.addr))
	}
	for _, line := range gateways {
		t.Run(line, func(t *testing.T) {
			t.Parallel()
			// SSEGATE_ADDR, below the file and the flags in precedence,
			// moves the gateway to a free port.
			p := apptest.StartProcess(t, bash, "-c", "cd '"+dir+"' && SSEGATE_ADDR=127.0.0.1:0 SSEGATE_METRICS_ADDR=127.0.0.1:0 "+path+
				" exec "+strings.ReplaceAll(line, "127.0.0.1:9090", g.addr))
			for _, c := range clients {
				got := run(t, strings.ReplaceAll(c.script, "127.0.0.1:8080", p.Addr))
				if c.want != "" && normalize(got) != normalize(c.want) {
					t.Errorf("%s printed\n%s\nthe README shows\n%s", strings.TrimSpace(c.script), got, c.want)
				}
			}
		})
	}
}
