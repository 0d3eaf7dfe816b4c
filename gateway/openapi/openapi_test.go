package openapi_test

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/openapi"
	"github.com/ssegate/ssegate/gateway/openapi/openapitest"
	"github.com/ssegate/ssegate/gateway/route"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// services are those the gateway serves (internal/app), from the
// descriptors compiled into Go, which carry no comments.
var services = []protoreflect.ServiceDescriptor{
	authv1.File_ssegate_auth_v1_auth_proto.Services().Get(0),
	jobsv1.File_ssegate_jobs_v1_jobs_proto.Services().Get(0),
	logsv1.File_ssegate_logs_v1_logs_proto.Services().Get(0),
}

func generate(t *testing.T, sds []protoreflect.ServiceDescriptor, opts ...openapi.Option) []byte {
	t.Helper()
	doc, err := openapi.Generate(sds, opts...)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return doc
}

// object is a parsed JSON object, walked with get.
type object = map[string]any

func parse(t *testing.T, doc []byte) object {
	t.Helper()
	var m object
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("document is not JSON: %v", err)
	}
	return m
}

// get walks v along keys (object keys, or array indexes as numbers in
// strings) and fails t when the path is missing.
func get(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for i, k := range keys {
		switch c := v.(type) {
		case object:
			next, ok := c[k]
			if !ok {
				t.Fatalf("no %q at %s", k, strings.Join(keys[:i], "/"))
			}
			v = next
		case []any:
			n, err := strconv.Atoi(k)
			if err != nil || n < 0 || n >= len(c) {
				t.Fatalf("no index %q at %s", k, strings.Join(keys[:i], "/"))
			}
			v = c[n]
		default:
			t.Fatalf("%s is not an object or array", strings.Join(keys[:i], "/"))
		}
	}
	return v
}

func TestDocumentIsValidOpenAPI32(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		doc  []byte
	}{
		{"demo descriptor set", openapitest.DemoDocument(t)},
		{"from Go descriptors", generate(t, services)},
		{"test service", generate(t, testServices(t))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if v := parse(t, tc.doc)["openapi"]; v != openapi.Version {
				t.Errorf("openapi = %v, want %s", v, openapi.Version)
			}
			openapitest.ValidateDocument(t, tc.doc)
		})
	}
}

// The validators are not vacuous: they refuse a broken document.
func TestValidatorsRefuseAnInvalidDocument(t *testing.T) {
	t.Parallel()
	doc := parse(t, generate(t, services))
	get(t, doc, "paths", "/v1/jobs", "get").(object)["responses"] = object{} // at least one response is required
	b, _ := json.Marshal(doc)
	if err := openapitest.ValidateWithNode(b); err == nil {
		t.Error("node validator accepted an operation without responses")
	}
	if err := openapitest.ValidateWithGo(b); err == nil {
		t.Error("Go validator accepted an operation without responses")
	}
}

// Every Schema Object compiles as JSON Schema 2020-12 (the compiler checks
// it against the meta-schema), and every $ref in it resolves: the OpenAPI
// schema itself does not look inside Schema Objects.
func TestSchemaObjectsCompile(t *testing.T) {
	t.Parallel()
	for _, doc := range [][]byte{openapitest.DemoDocument(t), generate(t, testServices(t))} {
		schemas, err := openapitest.NewSchemas(doc)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		walkSchemas(parse(t, doc), nil, func(ptr []string) {
			n++
			if _, err := schemas.Compile(ptr...); err != nil {
				t.Errorf("%s: %v", openapitest.Pointer(ptr...), err)
			}
		})
		if n < 10 {
			t.Errorf("found only %d schemas", n)
		}
	}
	// And the compiler does refuse a bad schema.
	bad, err := openapitest.NewSchemas([]byte(`{"components":{"schemas":{"X":{"type":5}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Compile("components", "schemas", "X"); err == nil {
		t.Error(`{"type": 5} compiled`)
	}
}

// walkSchemas calls f with the pointer of every Schema Object of an
// OpenAPI document: components, parameters, bodies and responses.
func walkSchemas(v any, ptr []string, f func([]string)) {
	m, ok := v.(object)
	if !ok {
		if a, ok := v.([]any); ok {
			for i, e := range a {
				walkSchemas(e, append(slices.Clone(ptr), strconv.Itoa(i)), f)
			}
		}
		return
	}
	for k, e := range m {
		p := append(slices.Clone(ptr), k)
		switch {
		case k == "schema" || k == "itemSchema":
			f(p)
		case len(ptr) == 2 && ptr[0] == "components" && ptr[1] == "schemas":
			f(p)
		default:
			walkSchemas(e, p, f)
		}
	}
}

// The document has exactly the routes the gateway serves for the same
// descriptors: grpc-gateway's generated patterns (read from the generated
// code) and the SSE routes of package route.
func TestRoutesAreTheGatewaysRoutes(t *testing.T) {
	t.Parallel()
	want := map[string]bool{}
	for _, sd := range services {
		gw := filepath.Join("..", "..", "gen", strings.TrimSuffix(sd.ParentFile().Path(), ".proto")+".pb.gw.go")
		for _, r := range generatedRoutes(t, gw) {
			want[r] = true
		}
		routes, err := route.ForService(sd)
		if err != nil && !errors.Is(err, route.ErrNoRoutes) {
			t.Fatal(err)
		}
		for _, rt := range routes {
			for _, tmpl := range rt.Templates {
				want["GET "+normalize(tmpl)] = true
			}
		}
	}
	if len(want) < 9 {
		t.Fatalf("found only %d routes in the generated code: %v", len(want), want)
	}
	for _, tc := range []struct {
		name string
		doc  []byte
	}{{"descriptor set", openapitest.DemoDocument(t)}, {"generated", generate(t, services)}} {
		got := documentRoutes(t, tc.doc)
		for r := range want {
			if !got[r] {
				t.Errorf("%s: served route %s is missing", tc.name, r)
			}
		}
		for r := range got {
			if !want[r] {
				t.Errorf("%s: documented route %s is not served", tc.name, r)
			}
		}
	}
}

var variable = regexp.MustCompile(`\{[^}]*\}`)

// normalize blanks out variable names and patterns: "/v1/{id=*}:x" and
// "/v1/{id}:x" are the same route.
func normalize(path string) string { return variable.ReplaceAllString(path, "{}") }

// documentRoutes lists "METHOD path" for every operation of doc.
func documentRoutes(t *testing.T, doc []byte) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for path, item := range parse(t, doc)["paths"].(object) {
		for method, op := range item.(object) {
			if method == "additionalOperations" {
				for m := range op.(object) {
					got[m+" "+normalize(path)] = true
				}
				continue
			}
			got[strings.ToUpper(method)+" "+normalize(path)] = true
		}
	}
	return got
}

// generatedRoutes reads a .pb.gw.go file: every mux.Handle(method,
// pattern_X, …) call, with pattern_X evaluated by grpc-gateway itself.
func generatedRoutes(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	patterns := map[string]string{}
	var routes []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, name := range n.Names {
				if strings.HasPrefix(name.Name, "pattern_") && i < len(n.Values) {
					patterns[name.Name] = evalPattern(t, n.Values[i])
				}
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Handle" || len(n.Args) < 2 {
				return true
			}
			id, ok := n.Args[1].(*ast.Ident)
			if !ok || !strings.HasPrefix(id.Name, "pattern_") {
				return true
			}
			routes = append(routes, methodName(t, n.Args[0])+"\x00"+id.Name)
		}
		return true
	})
	var out []string
	for _, r := range routes {
		method, name, _ := strings.Cut(r, "\x00")
		p, ok := patterns[name]
		if !ok {
			t.Fatalf("%s: no pattern %s", file, name)
		}
		out = append(out, method+" "+normalize(p))
	}
	return out
}

func methodName(t *testing.T, e ast.Expr) string {
	t.Helper()
	switch e := e.(type) {
	case *ast.SelectorExpr: // http.MethodGet
		return strings.ToUpper(strings.TrimPrefix(e.Sel.Name, "Method"))
	case *ast.BasicLit: // "GET"
		s, _ := strconv.Unquote(e.Value)
		return s
	}
	t.Fatalf("unexpected method expression %T", e)
	return ""
}

// evalPattern evaluates runtime.MustPattern(runtime.NewPattern(v, ops,
// pool, verb)) from its literal arguments and returns the pattern's string.
func evalPattern(t *testing.T, e ast.Expr) string {
	t.Helper()
	must, ok := e.(*ast.CallExpr)
	if !ok || len(must.Args) != 1 {
		t.Fatalf("unexpected pattern expression")
	}
	call, ok := must.Args[0].(*ast.CallExpr)
	if !ok || len(call.Args) != 4 {
		t.Fatalf("unexpected NewPattern call")
	}
	lit := func(e ast.Expr) string {
		b, ok := e.(*ast.BasicLit)
		if !ok {
			t.Fatalf("not a literal: %T", e)
		}
		return b.Value
	}
	version, _ := strconv.Atoi(lit(call.Args[0]))
	var ops []int
	for _, el := range call.Args[1].(*ast.CompositeLit).Elts {
		n, _ := strconv.Atoi(lit(el))
		ops = append(ops, n)
	}
	var pool []string
	for _, el := range call.Args[2].(*ast.CompositeLit).Elts {
		s, _ := strconv.Unquote(lit(el))
		pool = append(pool, s)
	}
	verb, _ := strconv.Unquote(lit(call.Args[3]))
	p, err := runtime.NewPattern(version, ops, pool, verb)
	if err != nil {
		t.Fatal(err)
	}
	return p.String()
}

// The document of the descriptor set the demo's gateway loads is the one
// the descriptors compiled into Go give, comments aside, which only the set
// keeps.
func TestDescriptorSetDocumentMatchesGoDescriptors(t *testing.T) {
	t.Parallel()
	committed := parse(t, openapitest.DemoDocument(t))
	fresh := parse(t, generate(t, services, openapi.WithPublicRoutes(openapitest.PublicRoutes(services)...)))
	stripText(committed)
	stripText(fresh)
	a, _ := json.MarshalIndent(committed, "", " ")
	b, _ := json.MarshalIndent(fresh, "", " ")
	if string(a) != string(b) {
		t.Errorf("gen/descriptorset is out of date with the Go descriptors: run make generate\n%s", firstDiff(string(a), string(b)))
	}
	if !strings.Contains(string(openapitest.DemoDocument(t)), "WatchJob streams a job's events") {
		t.Error("the descriptor set's document lacks the .proto comments")
	}
}

// stripText removes descriptions and summaries, which come from comments.
func stripText(v any) {
	switch v := v.(type) {
	case object:
		delete(v, "description")
		delete(v, "summary")
		for _, e := range v {
			stripText(e)
		}
	case []any:
		for _, e := range v {
			stripText(e)
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return "line " + strconv.Itoa(i+1) + ":\n  committed: " + al[i] + "\n  generated: " + bl[i]
		}
	}
	return "lengths differ"
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := generate(t, services), generate(t, services)
	if string(a) != string(b) {
		t.Error("two runs differ")
	}
}

func TestGenerateNeedsServices(t *testing.T) {
	t.Parallel()
	if _, err := openapi.Generate(nil); err == nil {
		t.Error("Generate(nil) succeeded")
	}
}
