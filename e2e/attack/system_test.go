package attack_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
)

// sessionSecret is the HS256 secret of session tokens: the auth service
// signs with it and the gateways verify with it. The jobs and logs
// services are not given it.
const sessionSecret = "attack-suite-session-secret-attack-suite"

// Settings the attacks rely on.
const (
	// maxJobsPerUser is the jobs service's -max-jobs-per-user.
	maxJobsPerUser = 2
	// users is the size of the pool of demo users; each attack signs in as
	// users of its own, so that one attack's lockouts, caps and sign-outs
	// never touch another's.
	users = 100
)

// system is the demo as separate processes: the auth, jobs and logs
// services, two plain HTTP gateways (a and b) and one under TLS, all on
// loopback and all watching the auth service's session revocations.
type system struct {
	bins    string
	keys    apptest.Keys
	dataDir string // the services' data directories are under it
	logDir  string // the logs service's -log-dir
	// outside is a directory beside logDir: what is in it must never be
	// served.
	outside string

	auth, jobs, logs *apptest.Process
	a, b, tls        *apptest.Process
	// baseA, baseB and baseTLS are the gateways' URLs; metricsA is gateway
	// a's metrics listener (host:port).
	baseA, baseB, baseTLS string
	metricsA              string
	// tlsRoots trusts the TLS gateway's self-signed certificate.
	tlsRoots *x509.CertPool

	// appender appends to logs straight over gRPC, as the user "appender"
	// with identity tokens signed as the gateways sign them.
	appender *apptest.Logs

	nextUser atomic.Int32
}

// startSystem builds the binaries and starts every process, stopped when t
// ends. A binary that does not build or start fails t.
func startSystem(t *testing.T) *system {
	t.Helper()
	s := &system{
		bins: apptest.Build(t, "ssegate", "ssegate-auth", "ssegate-jobs", "ssegate-logs"),
		keys: apptest.WriteKeys(t),
	}
	for _, name := range []string{"ssegate", "ssegate-auth", "ssegate-jobs", "ssegate-logs"} {
		if _, err := os.Stat(filepath.Join(s.bins, name)); err != nil {
			t.Fatalf("the demo's binary %s is missing after the build: %v", name, err)
		}
	}
	root := t.TempDir()
	s.dataDir = filepath.Join(root, "data")
	s.logDir = filepath.Join(root, "logdir")
	s.outside = filepath.Join(root, "outside")
	for _, d := range []string{s.dataDir, s.logDir, s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	usersFile := writeUsers(t, root)
	service := func(name string, more ...string) []string {
		return slices.Concat([]string{"-grpc-addr", "127.0.0.1:0"}, s.keys.ServiceFlags(name), more)
	}
	s.auth = apptest.StartProcess(t, s.bins+"/ssegate-auth", service(app.AuthService,
		"-session-secret", sessionSecret, "-data-dir", s.dataDir+"/auth", "-users-file", usersFile)...)
	s.logs = apptest.StartProcess(t, s.bins+"/ssegate-logs", service(app.LogsService,
		"-data-dir", s.dataDir+"/logs", "-log-dir", s.logDir)...)
	s.jobs = apptest.StartProcess(t, s.bins+"/ssegate-jobs", service(app.JobsService,
		"-data-dir", s.dataDir+"/jobs", "-logs-addr", s.logs.Addr,
		"-max-jobs-per-user", fmt.Sprint(maxJobsPerUser), "-job-pace", "50ms")...)

	s.a = s.startGateway(t)
	s.b = s.startGateway(t)
	cert, key := writeCert(t, root)
	s.tls = s.startGateway(t, "-tls-cert-file", cert, "-tls-key-file", key)
	s.baseA, s.baseB, s.baseTLS = "http://"+s.a.Addr, "http://"+s.b.Addr, "https://"+s.tls.Addr
	s.metricsA = loggedAddr(t, s.a, "serving metrics")
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	s.tlsRoots = x509.NewCertPool()
	s.tlsRoots.AppendCertsFromPEM(pem)
	for _, base := range []string{s.baseA, s.baseB, s.baseTLS} {
		if err := apptest.Eventually(20*time.Second, func() error { return s.ready(base) }); err != nil {
			t.Fatalf("gateway %s not ready: %v", base, err)
		}
	}
	s.appender = apptest.DialLogs(t, s.logs.Addr, "appender", s.keys.Gateway)
	return s
}

// startGateway starts an ssegate process in front of the services, with
// the settings the README gives for separate processes, and more.
func (s *system) startGateway(t *testing.T, more ...string) *apptest.Process {
	t.Helper()
	return apptest.StartProcess(t, s.bins+"/ssegate", slices.Concat(s.keys.GatewayFlags(), []string{
		"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-session-secret", sessionSecret,
		"-upstream", "auth=" + s.auth.Addr, "-upstream", "jobs=" + s.jobs.Addr, "-upstream", "logs=" + s.logs.Addr,
		"-reflection", "-session-revocations", "auth",
		// The attacks that guess passwords say which client they are in
		// X-Forwarded-For, as a proxy would, so that the lockouts they
		// cause are theirs alone.
		"-trusted-proxies", "127.0.0.1",
		// Statuses before the first event, even on a loaded machine.
		"-header-wait", "5s",
		"-drain-timeout", "3s",
	}, more)...)
}

// ready is nil once base answers /readyz with 200.
func (s *system) ready(base string) error {
	c := s.client(base)
	defer c.CloseIdleConnections()
	res, err := c.Get(base + "/readyz")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", res.Status)
	}
	return nil
}

// user returns a demo user no other attack uses; its password is its name.
func (s *system) user(t *testing.T) string {
	t.Helper()
	n := s.nextUser.Add(1)
	if n > users {
		t.Fatalf("setup: more than %d users taken: make the pool larger", users)
	}
	return userName(int(n))
}

func userName(i int) string { return fmt.Sprintf("user%03d", i) }

// client is an HTTP client for base without a cookie jar, bounded in
// time; under TLS it trusts the test's certificate.
func (s *system) client(base string) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	if strings.HasPrefix(base, "https:") {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.tlsRoots}
		tr.ForceAttemptHTTP2 = true
	}
	return &http.Client{
		Transport: tr,
		Timeout:   20 * time.Second,
		// Redirects are answers too.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// signIn signs in a fresh user on base and returns the client (its jar
// holds the cookie), the user and the session token.
func (s *system) signIn(t *testing.T, base string) (c *apptest.Client, user, token string) {
	t.Helper()
	user = s.user(t)
	c = apptest.SignIn(t, base, user, s.client(base).Transport)
	return c, user, c.Token(t)
}

// writeUsers writes a users file with the pool of users, each with its
// name as password, hashed at bcrypt's lowest cost so that the many
// sign-ins stay cheap.
func writeUsers(t *testing.T, dir string) string {
	t.Helper()
	all := map[string]map[string]string{"users": {}}
	for i := 1; i <= users; i++ {
		name := userName(i)
		h, err := bcrypt.GenerateFromPassword([]byte(name), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		all["users"][name] = string(h)
	}
	b, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "users.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cert, pemBlock("CERTIFICATE", der), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pemBlock("PRIVATE KEY", pkcs8), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// loggedAddr is the address in the first log line of p whose msg is msg.
func loggedAddr(t *testing.T, p *apptest.Process, msg string) string {
	t.Helper()
	for line := range strings.SplitSeq(p.Stderr(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg && rec.Addr != "" {
			return rec.Addr
		}
	}
	t.Fatalf("setup: no %q line in the gateway's log", msg)
	return ""
}
