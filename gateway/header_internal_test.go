package gateway

import (
	"testing"

	"github.com/ssegate/ssegate/gateway/identity"
)

func TestIncomingHeader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want string // "" means refused
	}{
		{"Cookie", ""},
		{"cookie", ""},
		{"Authorization", ""},
		{"Proxy-Authorization", ""},
		{"X-Ssegate-Token", ""},
		{"X-Ssegate-Subject", ""},
		{"Grpc-Metadata-X-Ssegate-Token", ""},
		{"grpc-metadata-x-ssegate-subject", ""},
		{"Grpc-Metadata-Authorization", ""},
		{"Grpc-Metadata-Cookie", ""},
		{"Grpc-Metadata-Grpcgateway-Cookie", ""},
		{"X-Custom", ""},
		{"Accept", "grpcgateway-Accept"},
		{"User-Agent", "grpcgateway-User-Agent"},
		{"Grpc-Metadata-Trace-Id", "Trace-Id"},
		{"Traceparent", "traceparent"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, ok := incomingHeader(tc.in)
			if ok != (tc.want != "") || got != tc.want {
				t.Fatalf("incomingHeader(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
			}
		})
	}
}

func TestOutgoingMatchers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, header, trailer string // "" means refused
	}{
		{identity.MetadataSetSession, "", ""},
		{identity.MetadataSessionExpires, "", ""},
		{identity.MetadataClearSession, "", ""},
		{identity.MetadataIdentity, "", ""},
		{"X-Ssegate-Anything", "", ""},
		{"content-type", "", ""},
		{"grpc-status-details-bin", "", ""},
		{"trace-id", "Grpc-Metadata-trace-id", "Grpc-Trailer-trace-id"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got, ok := outgoingHeader(tc.in); ok != (tc.header != "") || got != tc.header {
				t.Errorf("outgoingHeader(%q) = %q, %v; want %q", tc.in, got, ok, tc.header)
			}
			if got, ok := outgoingTrailer(tc.in); ok != (tc.trailer != "") || got != tc.trailer {
				t.Errorf("outgoingTrailer(%q) = %q, %v; want %q", tc.in, got, ok, tc.trailer)
			}
		})
	}
}
