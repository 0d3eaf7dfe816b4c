package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssegate/ssegate/gateway/identity"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	"github.com/ssegate/ssegate/services/auth"
)

// fakeClock is a clock a test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// from is a call's context as the gateway makes it for a client at addr.
func from(addr string) context.Context {
	return metadata.NewOutgoingContext(context.Background(), metadata.Pairs(identity.MetadataClientIP, addr))
}

// limited is the auth service on a clock the test moves.
func limited(t *testing.T) (authv1.AuthServiceClient, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: t0}
	iss, err := identity.NewIssuer(tokenCfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := auth.New(testUsers(), iss, auth.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return authv1.NewAuthServiceClient(startService(t, s).conn), clock
}

// retryDelay returns the wait a refused attempt asks for, failing on any
// other answer.
func retryDelay(t *testing.T, err error) time.Duration {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("got %v, want RESOURCE_EXHAUSTED", err)
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	t.Fatalf("%v has no RetryInfo", err)
	return 0
}

// Failed sign-ins of one user, from any address, make the next attempts
// wait, doubling; a right password does not get in while the wait lasts;
// after it, a success clears the count.
func TestFailedSignInsWaitPerUser(t *testing.T) {
	t.Parallel()
	s, clock := limited(t)
	var err error
	wrong := &authv1.LoginRequest{Username: "demo", Password: "nope"}
	right := &authv1.LoginRequest{Username: "demo", Password: "demo"}
	for i := range 5 {
		// Five addresses: the limit is the user's, not the address's.
		if _, err := s.Login(from("10.0.0."+string(rune('1'+i))), wrong); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	_, err = s.Login(from("10.0.0.9"), right)
	if d := retryDelay(t, err); d != time.Second {
		t.Fatalf("after 5 failures: wait %v, want 1s", d)
	}
	clock.add(time.Second)
	if _, err := s.Login(from("10.0.0.9"), wrong); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("after the wait: %v", err)
	}
	_, err = s.Login(from("10.0.0.9"), right)
	if d := retryDelay(t, err); d != 2*time.Second {
		t.Fatalf("after 6 failures: wait %v, want 2s", d)
	}
	clock.add(2 * time.Second)
	if _, err := s.Login(from("10.0.0.9"), right); err != nil {
		t.Fatalf("the right password after the wait: %v", err)
	}
	// The success cleared the user's count.
	if _, err := s.Login(from("10.0.0.9"), wrong); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a failure after a success: %v", err)
	}
	if _, err := s.Login(from("10.0.0.9"), right); err != nil {
		t.Fatalf("one failure after a success must not wait: %v", err)
	}
}

// One address failing for many users is slowed down too, and other
// addresses are not.
func TestFailedSignInsWaitPerAddress(t *testing.T) {
	t.Parallel()
	s, clock := limited(t)
	var err error
	for i := range 20 {
		req := &authv1.LoginRequest{Username: "user" + string(rune('a'+i)), Password: "guess"}
		if _, err := s.Login(from("203.0.113.7"), req); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	_, err = s.Login(from("203.0.113.7"), &authv1.LoginRequest{Username: "ops", Password: "ops"})
	if d := retryDelay(t, err); d != time.Second {
		t.Fatalf("after 20 failures from one address: wait %v, want 1s", d)
	}
	if _, err := s.Login(from("198.51.100.1"), &authv1.LoginRequest{Username: "ops", Password: "ops"}); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// Waits are capped, and forgotten after the longest wait without a
	// failure.
	for range 40 {
		clock.add(16 * time.Minute)
		_, _ = s.Login(from("203.0.113.7"), &authv1.LoginRequest{Username: "x", Password: "guess"})
	}
	_, err = s.Login(from("203.0.113.7"), &authv1.LoginRequest{Username: "ops", Password: "ops"})
	if err != nil {
		t.Fatalf("failures 16 minutes apart should be forgotten: %v", err)
	}
}
