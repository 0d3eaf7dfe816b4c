package upstream_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/upstream"
)

// healthServer serves grpc-go's health service reporting st for the whole
// server, counting the unary calls it answers (the client's own health
// checks are a stream, so they do not count).
func healthServer(t *testing.T, st healthpb.HealthCheckResponse_ServingStatus, opts ...grpc.ServerOption) (addr string, calls *atomic.Int64) {
	t.Helper()
	calls = new(atomic.Int64)
	count := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		calls.Add(1)
		return h(ctx, req)
	}
	addr = serve(t, func(s *grpc.Server) {
		hs := health.NewServer()
		hs.SetServingStatus("", st)
		healthpb.RegisterHealthServer(s, hs)
	}, append(opts, grpc.ChainUnaryInterceptor(count))...)
	return addr, calls
}

func check(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) error {
	_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, opts...)
	return err
}

// Calls go only to addresses whose health service says SERVING, and
// round-robin over all of those.
func TestDialBalancesOverHealthy(t *testing.T) {
	t.Parallel()
	sick, sickCalls := healthServer(t, healthpb.HealthCheckResponse_NOT_SERVING)
	a, aCalls := healthServer(t, healthpb.HealthCheckResponse_SERVING)
	b, bCalls := healthServer(t, healthpb.HealthCheckResponse_SERVING)
	cc := dial(t, upstream.Config{Name: "jobs", Addrs: []string{sick, a, b}, Reflection: true})
	ctx := bounded(t)
	// Until both healthy backends have answered: round-robin reaches each
	// once its connection is ready.
	for aCalls.Load() == 0 || bCalls.Load() == 0 {
		if err := check(ctx, cc, grpc.WaitForReady(true)); err != nil {
			t.Fatal(err)
		}
	}
	if n := sickCalls.Load(); n != 0 {
		t.Errorf("the NOT_SERVING backend answered %d calls, want 0", n)
	}
}

func TestDialOptions(t *testing.T) {
	t.Parallel()
	addr, _ := healthServer(t, healthpb.HealthCheckResponse_SERVING)
	cfg := upstream.Config{Name: "jobs", Addrs: []string{addr}, Reflection: true}

	t.Run("max message bytes bounds what is sent", func(t *testing.T) {
		t.Parallel()
		cc := dial(t, cfg, upstream.WithMaxMessageBytes(1024))
		big := &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 2048)}
		_, err := healthpb.NewHealthClient(cc).Check(bounded(t), big, grpc.WaitForReady(true))
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("a 2 KiB request with a 1 KiB limit: %v, want ResourceExhausted", err)
		}
	})
	t.Run("grpc options apply", func(t *testing.T) {
		t.Parallel()
		var seen atomic.Int64
		icpt := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			seen.Add(1)
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		cc := dial(t, cfg, upstream.WithGRPCOptions(grpc.WithChainUnaryInterceptor(icpt)))
		if err := check(bounded(t), cc, grpc.WaitForReady(true)); err != nil {
			t.Fatal(err)
		}
		if seen.Load() != 1 {
			t.Errorf("interceptor saw %d calls, want 1", seen.Load())
		}
	})
	t.Run("keepalive off and custom", func(t *testing.T) {
		t.Parallel()
		for _, d := range []time.Duration{0, upstream.MinKeepalive, time.Minute} {
			cc := dial(t, cfg, upstream.WithKeepalive(d))
			if err := check(bounded(t), cc, grpc.WaitForReady(true)); err != nil {
				t.Errorf("keepalive %s: %v", d, err)
			}
		}
	})

	bad := []struct {
		name string
		cfg  upstream.Config
		opt  upstream.DialOption
		want string
	}{
		{"keepalive too short", cfg, upstream.WithKeepalive(5 * time.Second), `upstream "jobs": keepalive 5s is shorter than 10s`},
		{"max message bytes zero", cfg, upstream.WithMaxMessageBytes(0), `upstream "jobs": max message bytes 0 is not positive`},
		{"invalid config", upstream.Config{Name: "jobs", Reflection: true}, upstream.WithKeepalive(0), `upstream "jobs": addrs:`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cc, err := upstream.Dial(tt.cfg, tt.opt)
			if err == nil {
				_ = cc.Close()
				t.Fatalf("Dial succeeded, want an error with %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial: %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TLS to an upstream that requires client certificates: the right CA,
// certificate and name get through; a missing client certificate, a wrong
// CA or a wrong name do not.
func TestDialTLS(t *testing.T) {
	t.Parallel()
	ca := newPKI(t, "upstream")
	other := newPKI(t, "other")
	serverCert, serverKey := ca.server("server", "upstream.test")
	clientCert, clientKey := ca.client("gateway")
	otherCert, otherKey := other.client("stranger")

	cert, err := tls.LoadX509KeyPair(serverCert, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	clients := x509.NewCertPool()
	clients.AppendCertsFromPEM(pem)
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    clients,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	addr, _ := healthServer(t, healthpb.HealthCheckResponse_SERVING, grpc.Creds(creds))
	plain, _ := healthServer(t, healthpb.HealthCheckResponse_SERVING)

	// A failed call is Unavailable with cause in its message. The server's
	// refusal of a client certificate has no fixed cause: under TLS 1.3
	// the client may write before it reads the alert (a broken pipe).
	tests := []struct {
		name   string
		addr   string
		tls    *upstream.TLSConfig
		wantOK bool
		cause  string
	}{
		{"ca, cert and key, verified by address", addr, &upstream.TLSConfig{CAFile: ca.CAFile, CertFile: clientCert, KeyFile: clientKey}, true, ""},
		{"ca, cert and key, verified by server name", addr, &upstream.TLSConfig{CAFile: ca.CAFile, CertFile: clientCert, KeyFile: clientKey, ServerName: "upstream.test"}, true, ""},
		{"no tls to a plain server", plain, nil, true, ""},
		{"no client certificate", addr, &upstream.TLSConfig{CAFile: ca.CAFile, ServerName: "upstream.test"}, false, ""},
		{"client certificate of another CA", addr, &upstream.TLSConfig{CAFile: ca.CAFile, CertFile: otherCert, KeyFile: otherKey}, false, ""},
		{"wrong CA", addr, &upstream.TLSConfig{CAFile: other.CAFile, CertFile: clientCert, KeyFile: clientKey}, false, "signed by unknown authority"},
		{"system roots", addr, &upstream.TLSConfig{CertFile: clientCert, KeyFile: clientKey}, false, "signed by unknown authority"},
		{"wrong server name", addr, &upstream.TLSConfig{CAFile: ca.CAFile, CertFile: clientCert, KeyFile: clientKey, ServerName: "other.test"}, false, "not other.test"},
		{"no tls to a tls server", addr, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cc := dial(t, upstream.Config{Name: "jobs", Addrs: []string{tt.addr}, TLS: tt.tls, Reflection: true})
			// Fail-fast: the call waits while connecting and fails once
			// the handshake has.
			err := check(bounded(t), cc)
			if tt.wantOK {
				if err != nil {
					t.Fatalf("Check: %v, want success", err)
				}
				return
			}
			if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), tt.cause) {
				t.Fatalf("Check: %v, want Unavailable with %q", err, tt.cause)
			}
		})
	}
}

// Files that exist but hold no usable certificate fail Dial, naming the
// upstream and the field.
func TestDialTLSBadFiles(t *testing.T) {
	t.Parallel()
	ca := newPKI(t, "upstream")
	cert, key := ca.client("gateway")
	junk := ca.write("junk.pem", "NOTHING", []byte("x"))
	tests := []struct {
		name string
		tls  *upstream.TLSConfig
		want string
	}{
		{"ca without certificates", &upstream.TLSConfig{CAFile: junk}, `upstream "jobs": tls.ca_file: ` + junk + ` holds no PEM certificate`},
		{"key that does not match", &upstream.TLSConfig{CertFile: cert, KeyFile: junk}, `upstream "jobs": tls.cert_file, tls.key_file:`},
		{"key as certificate", &upstream.TLSConfig{CertFile: key, KeyFile: key}, `upstream "jobs": tls.cert_file, tls.key_file:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cc, err := upstream.Dial(upstream.Config{Name: "jobs", Addrs: []string{"127.0.0.1:1"}, TLS: tt.tls, Reflection: true})
			if err == nil {
				_ = cc.Close()
				t.Fatalf("Dial succeeded, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial: %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
