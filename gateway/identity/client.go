package identity

// MetadataClientIP carries, on every upstream call, the client address the
// gateway determined (the connection's, or behind trusted proxies the
// nearest untrusted hop of X-Forwarded-For), for backends that limit by
// address, such as sign-in attempts. Like every GatewayPrefix key, a
// client can never send it.
const MetadataClientIP = GatewayPrefix + "client-ip"
