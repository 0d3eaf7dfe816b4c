package identity

import "strings"

// GatewayPrefix starts the metadata keys that only the gateway sets (the
// identity it verified, session cookies for it to set): never taken from a
// client, never passed back to one.
const GatewayPrefix = "x-ssegate-"

// CredentialHeader reports whether a client-sent HTTP header could carry
// credentials or claim an identity on its way to a backend: Authorization,
// Cookie and the like, the gateway's own keys, and any of those spelled as
// grpc-gateway's Grpc-Metadata-* (or its grpcgateway-* keys). This is the
// one list; the session middleware and the gateway's header matcher both
// consult it.
func CredentialHeader(key string) bool {
	k := strings.ToLower(key)
	if rest, ok := strings.CutPrefix(k, "grpc-metadata-"); ok {
		return credentialKey(rest) || strings.HasPrefix(rest, "grpcgateway-")
	}
	return credentialKey(k)
}

func credentialKey(k string) bool {
	switch k {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	return strings.HasPrefix(k, GatewayPrefix)
}
