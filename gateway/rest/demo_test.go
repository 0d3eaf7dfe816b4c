package rest_test

import (
	"context"
	"crypto"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway"
	"github.com/ssegate/ssegate/gateway/identity"
	"github.com/ssegate/ssegate/gateway/rest"
	"github.com/ssegate/ssegate/gateway/session"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	authsvc "github.com/ssegate/ssegate/services/auth"
	"github.com/ssegate/ssegate/services/jobs"
	"github.com/ssegate/ssegate/services/logs"
	"github.com/ssegate/ssegate/services/store"
)

// demoNow is every clock of the demo backends, so that tokens, cookies and
// job times are the same on every call.
var demoNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func demoClock() time.Time { return demoNow }

// demo is the demo's auth, jobs and logs services, each on its own gRPC
// server that verifies the identity token as the real backends do.
type demo struct {
	auth, jobs, logs *grpc.ClientConn
	verifier         *identity.Verifier
	// principal is the signed-in user "demo", whose identity the gateway
	// would forward: identity is its identity token's metadata.
	principal identity.Principal
	identity  metadata.MD
}

func startDemo(t *testing.T) demo {
	t.Helper()
	tokens := identity.Config{Secret: []byte("rest-test-secret-rest-test-secret-0123456789")}
	issuer, err := identity.NewIssuer(tokens)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := identity.NewVerifier(tokens)
	if err != nil {
		t.Fatal(err)
	}
	token, exp, err := issuer.Issue("demo", demoNow)
	if err != nil {
		t.Fatal(err)
	}
	// The backends verify the identity tokens of a gateway key (for any
	// audience: the comparison's plain mux sends one token to all).
	gwKey, err := identity.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	gwIssuer, err := identity.NewIssuer(identity.Config{Algorithm: identity.ES256, SigningKey: gwKey, SigningKeyID: "gw",
		Issuer: identity.GatewayIssuer, Lifetime: identity.DefaultIdentityLifetime})
	if err != nil {
		t.Fatal(err)
	}
	minter, err := identity.NewMinter(gwIssuer, demoClock)
	if err != nil {
		t.Fatal(err)
	}
	backendVerifier, err := identity.NewVerifier(identity.Config{Algorithm: identity.ES256, Issuer: identity.GatewayIssuer,
		VerificationKeys: map[string]crypto.PublicKey{"gw": gwKey.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	checked := func(public ...string) []grpc.ServerOption {
		ic, err := identity.NewInterceptor(backendVerifier, identity.WithPublicMethods(public...), identity.WithClock(demoClock))
		if err != nil {
			t.Fatal(err)
		}
		return ic.ServerOptions()
	}
	quiet := slog.New(slog.DiscardHandler)

	// The demo's user, with a hash of the least cost: bcrypt at the demo's
	// cost is slow under the race detector, and the table signs in often.
	hash, err := bcrypt.GenerateFromPassword([]byte("demo"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	as, err := authsvc.New(authsvc.Users{"demo": hash}, issuer, authsvc.WithClock(demoClock))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.TempDir(), store.WithNoSync(), store.WithPruneInterval(0), store.WithClock(demoClock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	// Jobs of more than one chunk, an hour a chunk, stay RUNNING for the
	// whole test (the table creates none smaller).
	js, err := jobs.New(db, nil, jobs.WithClock(demoClock), jobs.WithChunkSize(1<<16), jobs.WithMinChunkDuration(time.Hour), jobs.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.Close() })
	ls, err := logs.New(db, logs.WithClock(demoClock), logs.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ls.Close() })

	d := demo{
		auth:      serve(t, func(s *grpc.Server) { authv1.RegisterAuthServiceServer(s, as) }, checked(authsvc.PublicMethods()...)...),
		jobs:      serve(t, func(s *grpc.Server) { jobsv1.RegisterJobServiceServer(s, js) }, checked()...),
		logs:      serve(t, func(s *grpc.Server) { logsv1.RegisterLogServiceServer(s, ls) }, checked()...),
		verifier:  verifier,
		principal: identity.Principal{Subject: "demo", Expiry: exp, Token: token},
	}
	if d.identity, err = minter.Metadata(d.principal, "demo"); err != nil {
		t.Fatal(err)
	}
	// A log to list; Append is internal, for other services over gRPC.
	ctx := metadata.NewOutgoingContext(context.Background(), d.identity)
	if _, err := logsv1.NewLogServiceClient(d.logs).Append(ctx, &logsv1.AppendRequest{Name: "deploy", Text: "line one\nline two"}); err != nil {
		t.Fatal(err)
	}
	return d
}

// demoMuxOptions are the ServeMux options of the plain-mux comparison:
// grpc-gateway's defaults, and the identity the backends require.
func demoMuxOptions(d demo) []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{
		runtime.WithMetadata(func(context.Context, *http.Request) metadata.MD { return d.identity }),
	}
}

// demoGateway is a gateway as package gateway configures one (its JSON
// errors, header matchers that keep identities and cookies out, session
// cookies), with the identity the backends require.
func demoGateway(t *testing.T, d demo) *gateway.Gateway {
	t.Helper()
	m, err := session.NewMiddleware(d.verifier, session.WithClock(demoClock))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.WithServeMuxOptions(append(demoMuxOptions(d), m.ServeMuxOptions()...)...))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// demoRequests run in order; "{job}" in a path is the job the mux's own
// first request created (job ids are random, so each mux has its own).
var demoRequests = []request{
	{method: "POST", path: "/v1/jobs", body: `{"limit":1000000}`},
	{method: "POST", path: "/v1/jobs", body: `{"limit":1}`},
	{method: "POST", path: "/v1/jobs", body: `{"limit":`},
	{method: "POST", path: "/v1/jobs", body: `{"limit":"many"}`},
	{method: "POST", path: "/v1/jobs", body: `{"limit":2000000,"unknown":1}`},
	{method: "POST", path: "/v1/jobs", body: `[1]`},
	{method: "POST", path: "/v1/jobs?limit=9", body: ``},
	{method: "POST", path: "/v1/jobs", body: `{"limit":3000000}`, header: http.Header{"Content-Type": {"text/plain"}}},
	{method: "GET", path: "/v1/jobs/{job}"},
	{method: "GET", path: "/v1/jobs/{job}", header: http.Header{"Te": {"trailers"}}},
	{method: "GET", path: "/v1/jobs/aaaaaaaaaaaaaaaaaaaaaaaaaa"},
	{method: "GET", path: "/v1/jobs/bad!id"},
	{method: "GET", path: "/v1/jobs?limit=abc&page=2"}, // ListJobsRequest has no field: the query is not read
	{method: "POST", path: "/v1/jobs/{job}:cancel", body: `{}`},
	{method: "POST", path: "/v1/jobs/{job}:cancel", body: `{"id":"not-this-one"}`},
	{method: "POST", path: "/v1/jobs/aaaaaaaaaaaaaaaaaaaaaaaaaa:cancel", body: ``},
	{method: "POST", path: "/v1/jobs/{job}:cancel", body: `{"id":`},
	{method: "POST", path: "/v1/jobs/{job}:pause", body: `{}`},
	{method: "GET", path: "/v1/jobs"},
	{method: "PUT", path: "/v1/jobs", body: `{}`},
	{method: "DELETE", path: "/v1/jobs/{job}"},
	{method: "GET", path: "/v1/nothing"},
	{method: "OPTIONS", path: "*"},
	{method: "POST", path: "/v1/jobs/{job}", body: "", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Http-Method-Override": {"GET"}}},
	{method: "POST", path: "/v1/sessions", body: `{"username":"demo","password":"demo"}`},
	{method: "POST", path: "/v1/sessions", body: `{"username":"demo","password":"wrong"}`},
	{method: "POST", path: "/v1/sessions", body: `{}`},
	{method: "POST", path: "/v1/sessions", body: `{"username":"demo","password":`},
	{method: "GET", path: "/v1/sessions/current"},
	{method: "GET", path: "/v1/sessions/current", header: http.Header{"Grpc-Metadata-X-Ssegate-Token": {"forged"}, "Cookie": {"ssegate_session=x"}}},
	{method: "GET", path: "/v1/sessions/current", header: http.Header{"Grpc-Timeout": {"5S"}, "Grpc-Metadata-Trace": {"t1"}}},
	{method: "GET", path: "/v1/sessions/current", header: http.Header{"Grpc-Timeout": {"forever"}}},
	{method: "DELETE", path: "/v1/sessions/current"},
	{method: "PUT", path: "/v1/sessions/current"},
	{method: "GET", path: "/v1/logs"},
	{method: "GET", path: "/v1/logs?name=deploy"},
	{method: "POST", path: "/v1/logs", body: `{"name":"x","text":"y"}`},
	{method: "POST", path: "/ssegate.logs.v1.LogService/Append", body: `{"name":"x","text":"y"}`}, // internal: no route
}

// jwt matches a signed token.
var jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// jobID finds the first job id in a JobService answer.
var jobID = regexp.MustCompile(`"id":\s*"([a-z0-9]{26})"`)

// TestDemoEquivalence sends demoRequests to the demo's auth, jobs and logs
// services through their generated handlers and through rest.Register, on
// muxes with the same options and the same backends, and requires the same
// answers: status, headers (Set-Cookie and Grpc-Metadata-* included, each
// session token read as {jwt}), trailers, and bodies byte for byte once
// each mux's job ids are replaced.
func TestDemoEquivalence(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			d := startDemo(t) // each its own: jobs listed are those of this test
			services := []struct {
				file     protoreflect.FileDescriptor
				conn     *grpc.ClientConn
				register gateway.RESTHandler
			}{
				{authv1.File_ssegate_auth_v1_auth_proto, d.auth, authv1.RegisterAuthServiceHandler},
				{jobsv1.File_ssegate_jobs_v1_jobs_proto, d.jobs, jobsv1.RegisterJobServiceHandler},
				{logsv1.File_ssegate_logs_v1_logs_proto, d.logs, logsv1.RegisterLogServiceHandler},
			}
			descriptor := func(file protoreflect.FileDescriptor) protoreflect.ServiceDescriptor {
				sd := file.Services().Get(0)
				if m.descriptorSet {
					sd = service(t, fromDescriptorSet(t, file), sd.FullName())
				}
				return sd
			}
			t.Run("runtime defaults", func(t *testing.T) {
				ctx := context.Background()
				generated, fromDescriptors := runtime.NewServeMux(demoMuxOptions(d)...), runtime.NewServeMux(demoMuxOptions(d)...)
				for _, s := range services {
					if err := s.register(ctx, generated, s.conn); err != nil {
						t.Fatal(err)
					}
					if err := rest.Register(fromDescriptors, descriptor(s.file), s.conn, m.opts...); err != nil {
						t.Fatal(err)
					}
				}
				compareInOrder(t, demoRequests, generated, fromDescriptors)
			})
			if len(m.opts) > 0 {
				return // gateway.Register takes no rest options
			}
			// The gateway's own path: Register with the generated handlers,
			// and with none (descriptors alone).
			t.Run("gateway's", func(t *testing.T) {
				ctx := context.Background()
				generated, fromDescriptors := demoGateway(t, d), demoGateway(t, d)
				for _, s := range services {
					if err := generated.Register(ctx, s.file.Services().Get(0), s.conn, s.register); err != nil {
						t.Fatal(err)
					}
					if err := fromDescriptors.Register(ctx, descriptor(s.file), s.conn, nil); err != nil {
						t.Fatal(err)
					}
				}
				compareInOrder(t, demoRequests, generated, fromDescriptors)
			})
		})
	}
}

// compareInOrder sends each request to both muxes in turn, each with its
// own {job}, and requires the same answers once every job id either mux
// has seen reads {id}.
func compareInOrder(t *testing.T, requests []request, generated, descriptor http.Handler) {
	t.Helper()
	muxes := []http.Handler{generated, descriptor}
	job := make([]string, len(muxes))
	ids := make(map[string]string)
	for _, r := range requests {
		var answers []answer
		for i, h := range muxes {
			ri := r
			if job[i] != "" {
				ri.path = strings.ReplaceAll(r.path, "{job}", job[i])
			}
			a := do(t, h, ri)
			for _, match := range jobID.FindAllStringSubmatch(a.body, -1) {
				ids[match[1]] = "{id}"
				if job[i] == "" {
					job[i] = match[1]
				}
			}
			answers = append(answers, a)
		}
		for i := range answers {
			answers[i].body = replaceEach(answers[i].body, ids)
			// Each session has a random id, so each session token differs.
			for k, vs := range answers[i].header {
				for j, v := range vs {
					answers[i].header[k][j] = jwt.ReplaceAllString(v, "{jwt}")
				}
			}
		}
		same(t, r, answers[0], answers[1])
	}
	if job[0] == "" || job[1] == "" {
		t.Fatalf("no job created: %q", job)
	}
	checkJobCancelled(t, descriptor, job[1])
}

// checkJobCancelled makes sure the table's cancel reached the backend
// through the descriptor-only mux.
func checkJobCancelled(t *testing.T, h http.Handler, id string) {
	t.Helper()
	a := do(t, h, request{method: "GET", path: "/v1/jobs/" + id})
	var job struct{ State string }
	if err := json.Unmarshal([]byte(a.body), &job); err != nil || job.State != "JOB_STATE_CANCELLED" {
		t.Errorf("job %s after the table: %d %s", id, a.status, a.body)
	}
}
