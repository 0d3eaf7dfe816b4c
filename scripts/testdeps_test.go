// Package scripts_test runs the repository's scripts on a PATH of stubs, so
// that what they would install or refuse is seen without installing.
package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const all = "chromium nginx-light nodejs npm curl"

// fakeAptGet records each call's arguments, one line each, in $dir/calls;
// its install creates the programs of the packages it is given, where
// testdeps looks for them, unless broken.
const fakeAptGet = `#!/bin/sh
echo "$*" >> "{dir}/calls"
[ "$1" = install ] && [ "{broken}" = no ] || exit 0
for p in "$@"; do
	case "$p" in
	chromium) f="{dir}/sys/chromium" ;;
	nginx-light) f="{dir}/sys/nginx" ;;
	nodejs) f="{dir}/bin/node" ;;
	npm) f="{dir}/bin/npm" ;;
	curl) f="{dir}/bin/curl" ;;
	*) continue ;;
	esac
	echo '#!/bin/sh' > "$f" && "{chmod}" +x "$f"
done
`

func TestTestdeps(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	chmod, err := exec.LookPath("chmod")
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("testdeps")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		root bool
		// onPath are programs on the stripped PATH; inSys are the
		// browser and nginx at the paths SSEGATE_CHROMIUM and
		// SSEGATE_NGINX name (unless onPath has them: then those are
		// unset, so the script looks on PATH).
		onPath, inSys []string
		apt           string // "works", "broken" or "" (no apt-get)
		wantCode      int
		wantOut       string
		wantErr       string
		wantCalls     string
	}{
		{
			name:   "everything on PATH",
			onPath: []string{"chromium", "nginx", "node", "npm", "curl"},
			apt:    "works",
		},
		{
			name:   "everything where the environment says",
			onPath: []string{"node", "npm", "curl"}, inSys: []string{"chromium", "nginx"},
			apt: "works",
		},
		{
			name:     "nothing, not root",
			apt:      "works",
			wantCode: 1,
			wantErr:  "make test needs: " + all + " (as root: apt-get update && apt-get install " + all + ")\n",
		},
		{
			name:   "no nginx, not root",
			onPath: []string{"node", "npm", "curl"}, inSys: []string{"chromium"},
			apt:      "works",
			wantCode: 1,
			wantErr:  "make test needs: nginx-light (as root: apt-get update && apt-get install nginx-light)\n",
		},
		{
			name:   "no npm, not root",
			onPath: []string{"node", "curl"}, inSys: []string{"chromium", "nginx"},
			apt:      "works",
			wantCode: 1,
			wantErr:  "make test needs: nodejs npm (as root: apt-get update && apt-get install nodejs npm)\n",
		},
		{
			name:   "no curl, not root",
			onPath: []string{"node", "npm"}, inSys: []string{"chromium", "nginx"},
			apt:      "works",
			wantCode: 1,
			wantErr:  "make test needs: curl (as root: apt-get update && apt-get install curl)\n",
		},
		{
			name:   "no curl, root",
			root:   true,
			onPath: []string{"node", "npm"}, inSys: []string{"chromium", "nginx"},
			apt:       "works",
			wantOut:   "make test: installing curl\n",
			wantCalls: "update -qq\ninstall -y -qq --no-install-recommends curl\n",
		},
		{
			name:      "nothing, root",
			root:      true,
			apt:       "works",
			wantOut:   "make test: installing " + all + "\n",
			wantCalls: "update -qq\ninstall -y -qq --no-install-recommends " + all + "\n",
		},
		{
			name:   "no chromium, root",
			root:   true,
			onPath: []string{"node", "npm", "curl"}, inSys: []string{"nginx"},
			apt:       "works",
			wantOut:   "make test: installing chromium\n",
			wantCalls: "update -qq\ninstall -y -qq --no-install-recommends chromium\n",
		},
		{
			name:      "root, the packages do not provide the programs",
			root:      true,
			apt:       "broken",
			wantCode:  1,
			wantOut:   "make test: installing " + all + "\n",
			wantErr:   "make test needs: " + all + " (apt-get install " + all + " did not provide it)\n",
			wantCalls: "update -qq\ninstall -y -qq --no-install-recommends " + all + "\n",
		},
		{
			name:     "root, no apt-get",
			root:     true,
			wantCode: 1,
			wantErr:  "make test needs: " + all + " (Debian package names; this machine has no apt-get)\n",
		},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			bin, sys := filepath.Join(dir, "bin"), filepath.Join(dir, "sys")
			for _, d := range []string{bin, sys} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			stub := func(path, text string) {
				if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range tt.onPath {
				stub(filepath.Join(bin, p), "#!/bin/sh\n")
			}
			for _, p := range tt.inSys {
				stub(filepath.Join(sys, p), "#!/bin/sh\n")
			}
			if tt.apt != "" {
				broken := map[string]string{"works": "no", "broken": "yes"}[tt.apt]
				stub(filepath.Join(bin, "apt-get"), strings.NewReplacer(
					"{dir}", dir, "{chmod}", chmod, "{broken}", broken).Replace(fakeAptGet))
			}

			euid := "1000"
			if tt.root {
				euid = "0"
			}
			env := []string{"PATH=" + bin, "TESTDEPS_EUID=" + euid}
			if !strings.Contains(strings.Join(tt.onPath, " "), "chromium") {
				env = append(env, "SSEGATE_CHROMIUM="+filepath.Join(sys, "chromium"), "SSEGATE_NGINX="+filepath.Join(sys, "nginx"))
			}
			cmd := exec.Command(bash, script)
			cmd.Env = env
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
			if code != tt.wantCode || stdout.String() != tt.wantOut || stderr.String() != tt.wantErr || string(calls) != tt.wantCalls {
				t.Errorf("exit %d, stdout %q, stderr %q, apt-get calls %q\nwant exit %d, stdout %q, stderr %q, apt-get calls %q",
					code, stdout.String(), stderr.String(), calls, tt.wantCode, tt.wantOut, tt.wantErr, tt.wantCalls)
			}
		})
	}
}

// make test runs testdeps before any test, and the npm packages after it
// (npm may be what it installs).
func TestMakeTestRunsTestdepsFirst(t *testing.T) {
	t.Parallel()
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Fatal("make is not installed: make test is how the tests run")
	}
	out, err := exec.Command(mk, "-C", "..", "-n", "test").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n test: %v\n%s", err, out)
	}
	s := string(out)
	deps, npm, gotest := strings.Index(s, "scripts/testdeps"), strings.Index(s, "npmdeps"), strings.Index(s, "test -race")
	if deps < 0 || npm < deps || gotest < npm {
		t.Fatalf("make -n test does not run scripts/testdeps, then npmdeps, then the tests:\n%s", s)
	}
}
