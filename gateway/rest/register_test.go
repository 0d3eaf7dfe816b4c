package rest_test

import (
	"errors"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"

	"github.com/ssegate/ssegate/gateway/rest"
)

// TestRegisterRefusesBadBindings adds one bad method to the Library at a
// time: Register fails with ErrBinding and registers nothing, not even the
// good methods.
func TestRegisterRefusesBadBindings(t *testing.T) {
	t.Parallel()
	get := func(path string) *annotations.HttpRule {
		return &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: path}}
	}
	tests := []struct {
		name  string
		input string
		rule  *annotations.HttpRule
	}{
		{"GET with a body", "SearchRequest", &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v2/x"}, Body: "*"}},
		{"unparsable template", "SearchRequest", get("/v2/{query")},
		{"verb only", "SearchRequest", get(":find")},
		{"unknown path field", "SearchRequest", get("/v2/{nope}")},
		{"path through a scalar", "SearchRequest", get("/v2/{query.x}")},
		{"message path parameter", "SearchRequest", get("/v2/{filter}")},
		{"map path parameter", "SearchRequest", get("/v2/{attrs}")},
		{"unknown body field", "SearchRequest", &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v2/x"}, Body: "nope"}},
		{"unknown response_body field", "SearchRequest", &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v2/x"}, ResponseBody: "nope"}},
		{"nested response_body", "SearchRequest", &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v2/x"}, ResponseBody: "echo.x"}},
		{"a binding the Library has", "SearchRequest", get("/v1/search")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sd := unlinkedLibrary(t, withMethod("Bad", ".unlinked.v1."+tt.input, ".unlinked.v1.SearchResponse", tt.rule))
			mux := runtime.NewServeMux()
			err := rest.Register(mux, sd, nopConn{})
			if !errors.Is(err, rest.ErrBinding) {
				t.Fatalf("Register: %v, want ErrBinding", err)
			}
			t.Log(err)
			if got := do(t, mux, request{method: "GET", path: "/v1/shelves/s1"}); got.status != 404 {
				t.Errorf("a good binding was registered: %d %s", got.status, got.body)
			}
		})
	}
}

func TestRegisterArguments(t *testing.T) {
	t.Parallel()
	sd := unlinkedLibrary(t, nil)
	tests := []struct {
		name string
		err  error
	}{
		{"nil mux", rest.Register(nil, sd, nopConn{})},
		{"nil service", rest.Register(runtime.NewServeMux(), nil, nopConn{})},
		{"nil conn", rest.Register(runtime.NewServeMux(), sd, nil)},
		{"nil TypeFunc", rest.Register(runtime.NewServeMux(), sd, nopConn{}, rest.WithTypes(nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestOnlyDefaults registers only the binding of the method without a rule,
// for a mux whose generated handlers serve the rules.
func TestOnlyDefaults(t *testing.T) {
	t.Parallel()
	sd := unlinkedLibrary(t, nil)
	mux := runtime.NewServeMux()
	if err := rest.Register(mux, sd, serveDynamic(t, sd), rest.OnlyDefaults()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		request
		status int
	}{
		{request{method: "POST", path: "/unlinked.v1.Library/Ping", body: `{"text":"hi"}`}, 200},
		{request{method: "GET", path: "/v1/shelves/s1"}, 404},
		{request{method: "POST", path: "/v1/shelves/s1/books", body: `{}`}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.String(), func(t *testing.T) {
			t.Parallel()
			if got := do(t, mux, tt.request); got.status != tt.status {
				t.Errorf("%d %s, want %d", got.status, got.body, tt.status)
			}
		})
	}
}
