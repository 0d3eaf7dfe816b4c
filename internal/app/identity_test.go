package app_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/identity"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
)

// The demo's backends take the gateway's identity tokens made for them
// and nothing else: not the browser's session token (under either key),
// not a token made for another backend, not a bare subject.
func TestBackendsRefuseAllButTheirIdentityToken(t *testing.T) {
	t.Parallel()
	demo := apptest.StartDemo(t, apptest.Config(t))
	c := apptest.SignIn(t, demo.URL, "demo", nil)
	conn, err := grpc.NewClient("passthrough:///"+demo.LogsAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	logs := logsv1.NewLogServiceClient(conn)
	forJobs, err := demo.Identity().Token(identity.Principal{Subject: "demo"}, app.JobsService)
	if err != nil {
		t.Fatal(err)
	}
	forLogs, err := demo.Identity().Token(identity.Principal{Subject: "demo"}, app.LogsService)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		md   metadata.MD
		code codes.Code
	}{
		{"the session token as identity", metadata.Pairs(identity.MetadataIdentity, c.Token(t)), codes.Unauthenticated},
		{"the session token in the old key", metadata.Pairs("x-ssegate-token", c.Token(t), identity.MetadataSubject, "demo"), codes.Unauthenticated},
		{"a token made for the jobs service", metadata.Pairs(identity.MetadataIdentity, forJobs), codes.Unauthenticated},
		{"a bare subject", metadata.Pairs(identity.MetadataSubject, "demo"), codes.Unauthenticated},
		{"the token made for logs", metadata.Pairs(identity.MetadataIdentity, forLogs), codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := logs.ListLogs(metadata.NewOutgoingContext(ctx, tc.md), &logsv1.ListLogsRequest{})
			if status.Code(err) != tc.code {
				t.Fatalf("ListLogs: %v, want %v", err, tc.code)
			}
		})
	}
}
