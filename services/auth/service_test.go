package auth_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/identity"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	"github.com/ssegate/ssegate/services/auth"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	b := startBackend(t, testUsers())
	client := authv1.NewAuthServiceClient(b.conn)
	exp := t0.Add(identity.DefaultLifetime)
	long := string(make72())

	cases := []struct {
		name, user, password string
		code                 codes.Code
	}{
		{"demo", "demo", "demo", codes.OK},
		{"ops", "ops", "ops", codes.OK},
		{"72-byte password", "long", long, codes.OK},
		{"73-byte password matching on its prefix", "long", long + "x", codes.Unauthenticated},
		{"wrong password", "demo", "wrong", codes.Unauthenticated},
		{"other user's password", "demo", "ops", codes.Unauthenticated},
		{"unknown user", "nobody", "demo", codes.Unauthenticated},
		{"name differs in case", "DEMO", "demo", codes.Unauthenticated},
		{"empty username", "", "demo", codes.InvalidArgument},
		{"empty password", "demo", "", codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var header metadata.MD
			res, err := client.Login(t.Context(), &authv1.LoginRequest{Username: tc.user, Password: tc.password}, grpc.Header(&header))
			if status.Code(err) != tc.code {
				t.Fatalf("Login: %v, want %v", err, tc.code)
			}
			if tc.code == codes.Unauthenticated && status.Convert(err).Message() != "wrong username or password" {
				t.Fatalf("message %q", status.Convert(err).Message())
			}
			tokens := header.Get(identity.MetadataSetSession)
			if tc.code != codes.OK {
				if len(tokens) != 0 {
					t.Fatal("session token sent on failure")
				}
				return
			}
			if len(tokens) != 1 {
				t.Fatalf("%s = %q, want one token", identity.MetadataSetSession, tokens)
			}
			p, err := verifier(t).Verify(tokens[0], t0)
			if err != nil || p.Subject != tc.user || !p.Expiry.Equal(exp) {
				t.Fatalf("token: %+v, %v; want %s until %v", p, err, tc.user, exp)
			}
			if got := header.Get(identity.MetadataSessionExpires); len(got) != 1 || got[0] != strconv.FormatInt(exp.Unix(), 10) {
				t.Fatalf("%s = %q", identity.MetadataSessionExpires, got)
			}
			if res.GetPrincipal().GetUsername() != tc.user || !res.GetPrincipal().GetExpireTime().AsTime().Equal(exp) {
				t.Fatalf("principal = %v", res.GetPrincipal())
			}
		})
	}
}

func TestLogoutAndWhoAmI(t *testing.T) {
	t.Parallel()
	b := startBackend(t, testUsers())
	client := authv1.NewAuthServiceClient(b.conn)
	iss, err := identity.NewIssuer(tokenCfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, exp, err := iss.Issue("ops", t0)
	if err != nil {
		t.Fatal(err)
	}
	signedIn := signedIn(t, t.Context(), tok)

	res, err := client.WhoAmI(signedIn, &authv1.WhoAmIRequest{})
	if err != nil || res.GetPrincipal().GetUsername() != "ops" || !res.GetPrincipal().GetExpireTime().AsTime().Equal(exp) {
		t.Fatalf("WhoAmI = %v, %v", res, err)
	}
	if _, err := client.WhoAmI(t.Context(), &authv1.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("WhoAmI without a token: %v", err)
	}
	forged := metadata.AppendToOutgoingContext(t.Context(), identity.MetadataSubject, "ops")
	if _, err := client.WhoAmI(forged, &authv1.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("WhoAmI with a bare subject: %v", err)
	}

	for name, ctx := range map[string]context.Context{"signed in": signedIn, "anonymous": t.Context()} {
		var header metadata.MD
		if _, err := client.Logout(ctx, &authv1.LogoutRequest{}, grpc.Header(&header)); err != nil {
			t.Fatalf("Logout %s: %v", name, err)
		}
		if len(header.Get(identity.MetadataClearSession)) != 1 || len(header.Get(identity.MetadataSetSession)) != 0 {
			t.Fatalf("Logout %s header = %v", name, header)
		}
	}
}

// TestUnknownUserCostsABcrypt checks that an unknown name is not answered
// faster than bcrypt can run at the users' cost, which would tell an
// attacker which names exist. A lower bound only: load makes it slower.
func TestUnknownUserCostsABcrypt(t *testing.T) {
	t.Parallel()
	users, err := auth.DefaultUsers() // cost 10: tens of milliseconds a compare
	if err != nil {
		t.Fatal(err)
	}
	client := authv1.NewAuthServiceClient(startBackend(t, users).conn)
	start := time.Now()
	_, err = client.Login(t.Context(), &authv1.LoginRequest{Username: "nobody", Password: "demo"})
	elapsed := time.Since(start)
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Login: %v", err)
	}
	if elapsed < 5*time.Millisecond {
		t.Fatalf("unknown user answered in %v: no bcrypt comparison", elapsed)
	}
	var header metadata.MD
	if _, err := client.Login(t.Context(), &authv1.LoginRequest{Username: "demo", Password: "demo"}, grpc.Header(&header)); err != nil {
		t.Fatalf("demo/demo: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	iss, err := identity.NewIssuer(tokenCfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.New(testUsers(), nil); err == nil {
		t.Error("nil issuer accepted")
	}
	if _, err := auth.New(nil, iss); err == nil {
		t.Error("no users accepted")
	}
	if _, err := auth.New(auth.Users{"demo": []byte("demo")}, iss); err == nil {
		t.Error("plain-text password accepted")
	}
	if _, err := auth.New(testUsers(), iss, auth.WithClock(nil)); err == nil {
		t.Error("nil clock accepted")
	}
}
