// Package upstream connects the gateway to one gRPC upstream described by
// configuration: its addresses, optional TLS, and where its protobuf
// descriptors come from (a descriptor set file, or the upstream's own gRPC
// server reflection).
//
// Dial opens a balanced, health-checked connection; Load returns the
// services to expose and the files they resolve in, with the extensions
// linked into the binary (google.api.http, ssegate.v1 options) readable
// through proto.GetExtension. Every error that Config.Validate, Dial and
// Load return starts with `upstream "NAME":` and says which field or
// which step failed, so that a start that fails names its cause.
package upstream
