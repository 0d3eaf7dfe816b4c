#!/usr/bin/env bash
# Regenerates gateway/rest/internal/resttestpb from proto/, the way the
# repository's `make generate` regenerates gen/: the same pinned tools, and
# google/api/*.proto from the same module in the Go module cache.
set -euo pipefail
cd "$(dirname "$0")"
dir=$(go mod download -json github.com/grpc-ecosystem/grpc-gateway@v1.16.0 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
test -n "$dir" || { echo "cannot download grpc-gateway v1.16.0" >&2; exit 1; }
rm -rf .googleapis && mkdir -p .googleapis/google/api
cp "$dir"/third_party/googleapis/google/api/{annotations,http,httpbody}.proto .googleapis/google/api/
chmod -R u+w .googleapis
rm -rf ../internal/resttestpb
go tool -modfile=../../../tools/go.mod buf generate
