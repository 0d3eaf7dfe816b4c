// Package openapitest checks OpenAPI 3.2 documents in tests: against the
// official OpenAPI 3.2 JSON Schema, both with @seriousme/openapi-schema-
// validator (an npm package, run with node) and with the Go validator
// santhosh-tekuri/jsonschema using the schema that package ships; and it
// validates JSON values, such as received events, against the document's
// own schemas.
//
// The npm package is installed by `make npmdeps` (npm ci) into
// gateway/openapi/testdata/validator; without it the checks fail and say so.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ssegate/ssegate/gateway/openapi"
	"github.com/ssegate/ssegate/gateway/route"
	"github.com/ssegate/ssegate/gateway/session"
	"github.com/ssegate/ssegate/gateway/upstream"
	"github.com/ssegate/ssegate/gen/descriptorset"
)

// OpenAPIVersion is the version line the validators check documents for.
const OpenAPIVersion = "3.2"

// docURL is where AddDocument puts a document among the compiler's
// resources, so that its local $refs resolve.
const docURL = "https://ssegate.invalid/openapi.json"

// ValidatorDir is the npm package directory that holds the validator.
func ValidatorDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "validator")
}

// schemaFile is the official OpenAPI 3.2 schema as the npm package ships it.
func schemaFile() string {
	return filepath.Join(ValidatorDir(), "node_modules", "@seriousme", "openapi-schema-validator", "schemas", "v"+OpenAPIVersion, "schema.json")
}

// requireValidator fails t when the npm package is not installed.
func requireValidator(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(schemaFile()); err != nil {
		// Never skip: a missing validator must not look like a valid document.
		t.Fatalf("openapitest: the OpenAPI validator is not installed (%v); run `make npmdeps` "+
			"(npm ci --prefix %s)", err, ValidatorDir())
	}
}

// ValidateDocument fails t unless doc is a valid OpenAPI 3.2 document for
// both validators. It reports every error of each.
func ValidateDocument(t testing.TB, doc []byte) {
	t.Helper()
	requireValidator(t)
	if err := ValidateWithNode(doc); err != nil {
		t.Errorf("openapi-schema-validator (node): %v", err)
	}
	if err := ValidateWithGo(doc); err != nil {
		t.Errorf("jsonschema (Go) with the official OpenAPI %s schema: %v", OpenAPIVersion, err)
	}
}

// ValidateWithNode runs the npm package's Validator on doc.
func ValidateWithNode(doc []byte) error {
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("node is needed to run the validator: %w", err)
	}
	f, err := os.CreateTemp("", "openapi-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(doc); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(ValidatorDir(), "validate.mjs"), f.Name(), OpenAPIVersion)
	cmd.Dir = ValidatorDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// ValidateWithGo validates doc with santhosh-tekuri/jsonschema against the
// official schema the npm package ships.
func ValidateWithGo(doc []byte) error {
	raw, err := os.ReadFile(schemaFile())
	if err != nil {
		return err
	}
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s: %w", schemaFile(), err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///openapi-3.2-schema.json", schemaDoc); err != nil {
		return err
	}
	sch, err := c.Compile("file:///openapi-3.2-schema.json")
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// Schemas compiles the schemas of one OpenAPI document as JSON Schema
// 2020-12, with content assertions on (contentMediaType and contentSchema
// are checked), so that values can be validated against them.
type Schemas struct {
	c *jsonschema.Compiler
}

// NewSchemas loads doc.
func NewSchemas(doc []byte) (*Schemas, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertContent()
	c.AssertFormat()
	if err := c.AddResource(docURL, inst); err != nil {
		return nil, err
	}
	return &Schemas{c: c}, nil
}

// Compile compiles the schema at a JSON pointer into the document, given
// as its tokens (unescaped): Compile("components", "schemas", "X").
func (s *Schemas) Compile(tokens ...string) (*jsonschema.Schema, error) {
	return s.c.Compile(docURL + "#" + Pointer(tokens...))
}

// Validate validates the JSON value v against the schema at tokens.
func (s *Schemas) Validate(v []byte, tokens ...string) error {
	sch, err := s.Compile(tokens...)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(v))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// Pointer is the JSON pointer of tokens, escaped for a URI fragment.
func Pointer(tokens ...string) string {
	var b strings.Builder
	for _, tok := range tokens {
		tok = strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
		b.WriteByte('/')
		for _, r := range tok {
			if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
				b.WriteRune(r)
			} else {
				for _, c := range []byte(string(r)) {
					fmt.Fprintf(&b, "%%%02X", c)
				}
			}
		}
	}
	return b.String()
}

// DemoServices loads the demo's services from the descriptor set that make
// generate builds (comments included), as the demo's gateway does.
func DemoServices(tb testing.TB) []protoreflect.ServiceDescriptor {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "ssegate.binpb")
	if err := os.WriteFile(path, descriptorset.Bytes, 0o600); err != nil {
		tb.Fatal(err)
	}
	u := upstream.Config{Name: "demo", Addrs: []string{"127.0.0.1:1"}, DescriptorSet: path,
		Services: []string{"ssegate.auth.v1.AuthService", "ssegate.jobs.v1.JobService", "ssegate.logs.v1.LogService"}}
	d, err := upstream.Load(context.Background(), u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return d.Services
}

// DemoDocument is the OpenAPI document of DemoServices, with the routes
// their options mark public, as the demo's gateway serves it.
func DemoDocument(tb testing.TB) []byte {
	tb.Helper()
	services := DemoServices(tb)
	doc, err := openapi.Generate(services, openapi.WithPublicRoutes(PublicRoutes(services)...))
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

// PublicRoutes are the routes a gateway serving services leaves public:
// its own and those of the methods marked public.
func PublicRoutes(services []protoreflect.ServiceDescriptor) []string {
	public := session.DefaultPublicRoutes()
	for _, sd := range services {
		public = append(public, route.PublicRoutes(sd)...)
	}
	return public
}
