package app

import (
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking, named in serviceConfig
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/ssegate/ssegate/internal/config"
)

// serviceConfig balances calls round-robin over the backends whose gRPC
// health service says SERVING: a backend that stops (its health turns
// NOT_SERVING first) or fails its checks gets no new calls.
const serviceConfig = `{
	"loadBalancingConfig": [{"round_robin": {}}],
	"healthCheckConfig": {"serviceName": ""}
}`

// KeepaliveTimeout is how long a keepalive ping may go unanswered before
// the connection is considered dead, on clients and servers alike.
const KeepaliveTimeout = 10 * time.Second

// ClientKeepalive pings idle upstream connections every cfg.GRPCKeepalive
// so that a backend that vanished without closing (a dead host, a dropped
// NAT entry) is noticed within interval plus timeout.
func ClientKeepalive(cfg config.Config) keepalive.ClientParameters {
	return keepalive.ClientParameters{Time: cfg.GRPCKeepalive, Timeout: KeepaliveTimeout, PermitWithoutStream: true}
}

// ServerKeepaliveEnforcement accepts the pings of ClientKeepalive: at most
// every config.MinGRPCKeepalive, with or without open streams. Pings more
// frequent than that get the connection closed with too_many_pings.
func ServerKeepaliveEnforcement() keepalive.EnforcementPolicy {
	return keepalive.EnforcementPolicy{MinTime: config.MinGRPCKeepalive, PermitWithoutStream: true}
}

// Dial connects to a backend served at one or more addresses: calls are
// balanced round-robin over the healthy ones, each address reconnects by
// itself, quickly, when its backend restarts, idle connections are pinged,
// and messages are bounded by cfg.GRPCMaxMessageBytes.
func Dial(cfg config.Config, addrs []string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	if len(addrs) == 0 {
		return nil, errors.New("app: no backend address")
	}
	// A resolver of its own per connection: the fixed list of addresses.
	r := manual.NewBuilderWithScheme("ssegate")
	state := resolver.State{}
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	opts := append([]grpc.DialOption{
		grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 3 * time.Second,
		}),
		grpc.WithKeepaliveParams(ClientKeepalive(cfg)),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(cfg.GRPCMaxMessageBytes),
			grpc.MaxCallSendMsgSize(cfg.GRPCMaxMessageBytes),
		),
		// Never idle: readiness reports the connection's state, and an idle
		// connection would first fail the check, then the first call.
		grpc.WithIdleTimeout(0),
	}, extra...)
	cc, err := grpc.NewClient(r.Scheme()+":///backend", opts...)
	if err != nil {
		return nil, err
	}
	cc.Connect()
	return cc, nil
}

// serverOptions are the options of every backend's gRPC server, matching
// what Dial expects.
func serverOptions(cfg config.Config) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.GRPCMaxMessageBytes),
		grpc.MaxSendMsgSize(cfg.GRPCMaxMessageBytes),
		grpc.KeepaliveEnforcementPolicy(ServerKeepaliveEnforcement()),
		// The server pings idle clients too, so it drops connections of a
		// gateway that vanished.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: cfg.GRPCKeepalive, Timeout: KeepaliveTimeout}),
	}
}
