package attack_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/identity"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
	"github.com/ssegate/ssegate/internal/config"
	"github.com/ssegate/ssegate/services/jobs"
)

// dial connects to a backend's gRPC port directly, as an attacker on the
// backends' network would: no gateway in between.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// backendMethod is one method of a backend, called with the identity
// in ctx's metadata.
type backendMethod struct {
	name   string // the backend's upstream name, its identity audience
	method string
	addr   func(*system) string
	call   func(ctx context.Context, conn *grpc.ClientConn) error
}

var backendMethods = []backendMethod{
	{name: app.JobsService, method: "ListJobs", addr: func(s *system) string { return s.jobs.Addr },
		call: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := jobsv1.NewJobServiceClient(conn).ListJobs(ctx, &jobsv1.ListJobsRequest{})
			return err
		}},
	{name: app.JobsService, method: "CreateJob", addr: func(s *system) string { return s.jobs.Addr },
		call: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := jobsv1.NewJobServiceClient(conn).CreateJob(ctx, &jobsv1.CreateJobRequest{Limit: 1000})
			return err
		}},
	{name: app.LogsService, method: "ListLogs", addr: func(s *system) string { return s.logs.Addr },
		call: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := logsv1.NewLogServiceClient(conn).ListLogs(ctx, &logsv1.ListLogsRequest{})
			return err
		}},
	{name: app.LogsService, method: "TailLogs of a job log", addr: func(s *system) string { return s.logs.Addr },
		call: func(ctx context.Context, conn *grpc.ClientConn) error {
			st, err := logsv1.NewLogServiceClient(conn).TailLogs(ctx, &logsv1.TailLogsRequest{Name: jobs.LogName("nosuchjob")})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			if status.Code(err) == codes.NotFound {
				return nil // the caller was let in: only then is the missing log told
			}
			return err
		}},
	{name: app.AuthService, method: "WhoAmI", addr: func(s *system) string { return s.auth.Addr },
		call: func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := authv1.NewAuthServiceClient(conn).WhoAmI(ctx, &authv1.WhoAmIRequest{})
			return err
		}},
}

// forgery is identity metadata an attacker makes up for a call to the
// backend named audience on victim's behalf.
type forgery struct {
	name string
	md   func(t *testing.T, s *system, audience, victim, session string) metadata.MD
}

// identityClaims are the claims of an identity token for audience.
func identityClaims(audience, victim string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": identity.GatewayIssuer, "aud": audience, "sub": victim, "sid": "forged",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}

func signed(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	tok.Header["kid"] = apptest.GatewayKeyID
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// otherAudience is a backend other than audience, whose tokens a
// compromised backend sees.
func otherAudience(audience string) string {
	if audience == app.JobsService {
		return app.LogsService
	}
	return app.JobsService
}

var forgeries = []forgery{
	{"the browser's session token as x-ssegate-identity", func(t *testing.T, s *system, _, _, session string) metadata.MD {
		return metadata.Pairs(identity.MetadataIdentity, session)
	}},
	{"the session token as authorization: Bearer and as a cookie", func(t *testing.T, s *system, _, _, session string) metadata.MD {
		return metadata.Pairs("authorization", "Bearer "+session, "cookie", "ssegate_session="+session)
	}},
	{"an HS256 identity token signed with the session secret", func(t *testing.T, s *system, aud, victim, _ string) metadata.MD {
		return metadata.Pairs(identity.MetadataIdentity, signed(t, jwt.SigningMethodHS256, []byte(sessionSecret), identityClaims(aud, victim, time.Now())))
	}},
	{"an HS256 identity token keyed with the gateway's public key file (algorithm confusion)", func(t *testing.T, s *system, aud, victim, _ string) metadata.MD {
		pub, err := os.ReadFile(s.keys.GatewayPub)
		if err != nil {
			t.Fatal(err)
		}
		return metadata.Pairs(identity.MetadataIdentity, signed(t, jwt.SigningMethodHS256, pub, identityClaims(aud, victim, time.Now())))
	}},
	{"an unsigned identity token (alg none)", func(t *testing.T, s *system, aud, victim, _ string) metadata.MD {
		return metadata.Pairs(identity.MetadataIdentity, signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, identityClaims(aud, victim, time.Now())))
	}},
	{"no token, only x-ssegate-subject", func(t *testing.T, s *system, _, victim, _ string) metadata.MD {
		return metadata.Pairs(identity.MetadataSubject, victim)
	}},
	{"a gateway's token for another backend, replayed", func(t *testing.T, s *system, aud, victim, _ string) metadata.MD {
		tok, err := s.keys.Gateway.Token(identity.Principal{Subject: victim}, otherAudience(aud))
		if err != nil {
			t.Fatal(err)
		}
		return metadata.Pairs(identity.MetadataIdentity, tok)
	}},
	{"a gateway's token that expired an hour ago", func(t *testing.T, s *system, aud, victim, _ string) metadata.MD {
		key, err := identity.LoadSigningKey(s.keys.GatewayKey)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := identity.NewIssuer(identity.Config{Algorithm: identity.ES256, SigningKey: key, SigningKeyID: apptest.GatewayKeyID,
			Issuer: identity.GatewayIssuer, Lifetime: identity.DefaultIdentityLifetime})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := iss.Sign(identity.Grant{Subject: victim, Audience: aud}, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return metadata.Pairs(identity.MetadataIdentity, tok)
	}},
	{"a token signed with the jobs service's own key", func(t *testing.T, s *system, aud, victim, _ string) metadata.MD {
		key, err := identity.LoadSigningKey(s.keys.JobsKey)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := app.JobsIssuer(config.Default(), key, apptest.JobsKeyID)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := iss.Sign(identity.Grant{Subject: victim, Audience: aud}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return metadata.Pairs(identity.MetadataIdentity, tok)
	}},
	{"a valid gateway token for someone else beside a forged one", func(t *testing.T, s *system, aud, victim, _ string) metadata.MD {
		tok, err := s.keys.Gateway.Token(identity.Principal{Subject: "appender"}, aud)
		if err != nil {
			t.Fatal(err)
		}
		forged := signed(t, jwt.SigningMethodHS256, []byte(sessionSecret), identityClaims(aud, victim, time.Now()))
		return metadata.MD{identity.MetadataIdentity: {forged, tok}}
	}},
}

// Straight to each backend's gRPC port, every made-up identity is refused
// (UNAUTHENTICATED, or PERMISSION_DENIED for a caller let in for other
// methods), while a gateway's real token for the user passes (the
// control).
func forgedIdentity(t *testing.T, s *system) {
	_, victim, session := s.signIn(t, s.baseA)
	for _, m := range backendMethods {
		conn := dial(t, m.addr(s))
		call := func(md metadata.MD) error {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			return m.call(metadata.NewOutgoingContext(ctx, md), conn)
		}
		tok, err := s.keys.Gateway.Token(identity.Principal{Subject: victim}, m.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := call(metadata.Pairs(identity.MetadataIdentity, tok)); err != nil {
			t.Fatalf("setup: %s %s with a gateway's real token: %v", m.name, m.method, err)
		}
		for _, f := range forgeries {
			err := call(f.md(t, s, m.name, victim, session))
			if c := status.Code(err); c != codes.Unauthenticated && c != codes.PermissionDenied {
				through(t, "%s service, %s, with %s: %v (%v), want UNAUTHENTICATED", m.name, m.method, f.name, c, err)
			}
		}
	}
}

// jwtLike matches a whole JWT: three base64url parts, the first two JSON.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)

// base64Run matches what may be base64 inside a store file (the store
// keeps attributes as base64 in JSON).
var base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{16,}={0,2}`)

// holdsToken reports whether b, or base64 inside it (two levels deep),
// holds token, its signature, or any JWT.
func holdsToken(b []byte, token string, depth int) bool {
	sig := token[strings.LastIndexByte(token, '.')+1:]
	if bytes.Contains(b, []byte(token)) || bytes.Contains(b, []byte(sig)) || jwtLike.Match(b) {
		return true
	}
	if depth == 0 {
		return false
	}
	for _, run := range base64Run.FindAll(b, -1) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if dec, err := enc.DecodeString(string(run)); err == nil && holdsToken(dec, token, depth-1) {
				return true
			}
		}
	}
	return false
}

// After a job has run to its end, no file under the jobs or the logs
// service's data directory holds the session token (nor any JWT), in
// plain or in base64.
func tokenAtRest(t *testing.T, s *system) {
	c, _, token := s.signIn(t, s.baseA)
	// The search finds a token kept as the store keeps attributes.
	kept, _ := json.Marshal(map[string][]byte{"attrs": []byte(`{"token":"` + token + `"}`)})
	if !holdsToken(kept, token, 2) || holdsToken([]byte(`{"limit":1000}`), token, 2) {
		t.Fatal("setup: holdsToken does not tell a kept token")
	}
	id := createJob(t, c, 1000)
	status, body := s.readStream(t, s.baseA, "/v1/jobs/"+id+"/events", withCookie(s.baseA, token), time.Minute)
	if status != http.StatusOK || !strings.Contains(body, "event: end") {
		t.Fatalf("setup: the job's events: %d %s", status, body)
	}
	for _, dir := range []string{"jobs", "logs"} {
		root := filepath.Join(s.dataDir, dir)
		n := 0
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			n++
			if holdsToken(b, token, 2) {
				through(t, "%s holds the session token or a JWT", path)
			}
			return nil
		})
		if err != nil || n == 0 {
			t.Fatalf("setup: reading %s: %d files, %v", root, n, err)
		}
	}
}

// createJob creates a job of limit through c and returns its id.
func createJob(t *testing.T, c *apptest.Client, limit int) string {
	t.Helper()
	res, err := c.Do(t.Context(), "POST", "/v1/jobs", `{"limit":`+strconv.Itoa(limit)+`}`, nil)
	if err != nil {
		t.Fatalf("setup: create a job: %v", err)
	}
	defer res.Body.Close()
	var job struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&job); err != nil || res.StatusCode != http.StatusOK || job.ID == "" {
		t.Fatalf("setup: create a job: %s, %v", res.Status, err)
	}
	return job.ID
}

// The browser sends identity headers of its own (the gateway's metadata
// keys, plain and as Grpc-Metadata-*, with a real identity token of the
// victim's stolen from a backend): the gateway drops them, so the
// attacker stays who the cookie says, and without a cookie gets 401.
func spoofedIdentityHeaders(t *testing.T, s *system) {
	victimClient, victim, _ := s.signIn(t, s.baseA)
	job := createJob(t, victimClient, 1000)
	_, attacker, attackerToken := s.signIn(t, s.baseA)
	stolen, err := s.keys.Gateway.Token(identity.Principal{Subject: victim}, app.JobsService)
	if err != nil {
		t.Fatal(err)
	}
	spoof := []string{
		"X-Ssegate-Identity", stolen, "Grpc-Metadata-X-Ssegate-Identity", stolen,
		"X-Ssegate-Subject", victim, "Grpc-Metadata-X-Ssegate-Subject", victim,
		"Grpc-Metadata-Authorization", "Bearer " + stolen, "Authorization", "Bearer " + stolen,
	}
	if r := s.do(t, "GET", s.baseA+"/v1/jobs/"+job, "", withCookie(s.baseA, attackerToken, spoof...)); r.status != http.StatusNotFound {
		through(t, "%s reading %s's job with spoofed identity headers: %v, want 404", attacker, victim, r)
	}
	if r := s.do(t, "GET", s.baseA+"/v1/sessions/current", "", withCookie(s.baseA, attackerToken, spoof...)); !strings.Contains(r.body, `"`+attacker+`"`) {
		through(t, "who am I with spoofed identity headers: %v, want %s", r, attacker)
	}
	if r := s.do(t, "GET", s.baseA+"/v1/jobs/"+job, "", header(spoof...)); r.status != http.StatusUnauthorized {
		through(t, "no cookie, spoofed identity headers: %v, want 401", r)
	}
}
