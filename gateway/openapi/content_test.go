package openapi_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/gateway/openapi"
	"github.com/ssegate/ssegate/gateway/openapi/openapitest"
)

// eventSummary describes one alternative of an itemSchema, for comparison:
// "progress id json:ssegate.jobs.v1.Progress", "log id text", "end json:{}".
func eventSummary(t *testing.T, alt object) string {
	t.Helper()
	props := alt["properties"].(object)
	name := "message"
	if ev, ok := props["event"].(object); ok {
		name = fmt.Sprint(ev["const"])
	} else if _, ok := alt["not"]; !ok {
		t.Errorf("alternative %v has neither an event name nor a not-required event", alt["title"])
	}
	if alt["title"] != name {
		t.Errorf("alternative %s has title %v", name, alt["title"])
	}
	s := name
	if _, ok := props["id"]; ok {
		s += " id"
	}
	if _, ok := props["retry"]; ok {
		s += " retry"
	}
	data := props["data"].(object)
	switch {
	case data["const"] != nil:
		s += " json:" + data["const"].(string)
	case data["contentMediaType"] == "application/json":
		cs := data["contentSchema"].(object)
		ref, _ := cs["$ref"].(string)
		s += " json:" + strings.TrimPrefix(ref, "#/components/schemas/")
	default:
		if data["type"] != "string" {
			t.Errorf("%s: data is not a string: %v", name, data)
		}
		s += " text"
	}
	return s
}

func TestStreamEvents(t *testing.T) {
	t.Parallel()
	gateway := []string{"end json:{}", "error json:" + openapi.ErrorSchema, "reset retry json:", "reconnect retry json:{}"}
	for _, tc := range []struct {
		name, path string
		doc        []byte
		oneOf      bool
		events     []string
		retry      string
	}{
		{"jobs", "/v1/jobs/{id}/events", openapitest.DemoDocument(t), true, []string{
			"progress id json:ssegate.jobs.v1.Progress",
			"partial id json:ssegate.jobs.v1.Partial",
			"log id text",
			"completed id json:ssegate.jobs.v1.Completed",
			"failed id json:ssegate.jobs.v1.Failed",
			"cancelled id json:ssegate.jobs.v1.Cancelled",
		}, "2000 ms"},
		{"logs", "/v1/logs/{name}/events", openapitest.DemoDocument(t), true, []string{"log id text"}, "2000 ms"},
		{"anonymous", "/v1/ticks", generate(t, testServices(t)), true, []string{"message json:test.v1.Tick"}, "500 ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			op := get(t, parse(t, tc.doc), "paths", tc.path, "get").(object)
			item := get(t, op, "responses", "200", "content", "text/event-stream", "itemSchema").(object)
			alts, ok := item["oneOf"].([]any)
			if !ok {
				t.Fatalf("itemSchema has no oneOf: %v", item)
			}
			var got []string
			for _, a := range alts {
				got = append(got, eventSummary(t, a.(object)))
			}
			want := append(slices.Clone(tc.events), gateway...)
			if !slices.Equal(got, want) {
				t.Errorf("events:\n got  %q\n want %q", got, want)
			}
			if !slices.Equal(toStrings(item["required"]), []string{"data"}) {
				t.Errorf("itemSchema required = %v", item["required"])
			}
			for _, p := range []string{"event", "id", "data", "retry"} {
				get(t, item, "properties", p)
			}
			if d := op["description"].(string); !strings.Contains(d, tc.retry) || !strings.Contains(d, "Accept") {
				t.Errorf("description does not give the retry %s and the Accept rule: %q", tc.retry, d)
			}
			ndjson := get(t, op, "responses", "200", "content", "application/x-ndjson", "itemSchema", "oneOf").([]any)
			if len(ndjson) != 2 {
				t.Errorf("NDJSON items: %v", ndjson)
			}
			for _, code := range []string{"204", "400", "401", "403", "404", "429", "500", "503", "default"} {
				get(t, op, "responses", code)
			}
			var refs []string
			for _, p := range op["parameters"].([]any) {
				if r, ok := p.(object)["$ref"].(string); ok {
					refs = append(refs, r)
				}
			}
			if !slices.Equal(refs, []string{"#/components/parameters/LastEventIDHeader", "#/components/parameters/LastEventIDQuery"}) {
				t.Errorf("Last-Event-ID parameters: %v", refs)
			}
		})
	}
	doc := parse(t, openapitest.DemoDocument(t))
	if n := get(t, doc, "components", "parameters", "LastEventIDHeader", "name"); n != "Last-Event-ID" {
		t.Errorf("header parameter %v", n)
	}
	if n := get(t, doc, "components", "parameters", "LastEventIDQuery", "name"); n != "lastEventId" {
		t.Errorf("query parameter %v", n)
	}
}

func toStrings(v any) []string {
	var out []string
	a, _ := v.([]any)
	for _, e := range a {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// compact is v as one line of JSON, keys sorted.
func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Schemas follow protojson: lowerCamelCase names, 64-bit integers as
// strings, enums by name, Timestamp as an RFC 3339 string, unset messages
// as null; descriptions from the .proto comments.
func TestProtojsonSchemas(t *testing.T) {
	t.Parallel()
	doc := parse(t, openapitest.DemoDocument(t))
	schema := func(keys ...string) string {
		return compact(stripped(get(t, doc, append([]string{"components", "schemas"}, keys...)...)))
	}
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{[]string{"ssegate.jobs.v1.Job", "properties", "createTime"}, `{"format":"date-time","type":["string","null"]}`},
		{[]string{"ssegate.jobs.v1.Job", "properties", "state"}, `{"$ref":"#/components/schemas/ssegate.jobs.v1.JobState"}`},
		{[]string{"ssegate.jobs.v1.Job", "properties", "limit"}, `{"format":"uint32","maximum":4294967295,"minimum":0,"type":"integer"}`},
		{[]string{"ssegate.jobs.v1.Completed", "properties", "elapsedMs"}, `{"format":"uint64","pattern":"^[0-9]+$","type":"string"}`},
		{[]string{"ssegate.jobs.v1.Progress", "properties", "percent"}, `{"format":"double","type":"number"}`},
		{[]string{"ssegate.jobs.v1.WatchJobResponse", "properties", "progress"}, `{"$ref":"#/components/schemas/ssegate.jobs.v1.Progress"}`},
		{[]string{"ssegate.auth.v1.LoginResponse", "properties", "principal"}, `{"anyOf":[{"$ref":"#/components/schemas/ssegate.auth.v1.Principal"},{"type":"null"}]}`},
		{[]string{"ssegate.logs.v1.LogInfo", "properties", "lastOffset"}, `{"format":"uint64","pattern":"^[0-9]+$","type":"string"}`},
		{[]string{"ssegate.jobs.v1.JobState"}, `{"enum":["JOB_STATE_UNSPECIFIED","JOB_STATE_RUNNING","JOB_STATE_COMPLETED","JOB_STATE_FAILED","JOB_STATE_CANCELLED"],"type":"string"}`},
		{[]string{openapi.ErrorSchema, "required"}, `["code","message"]`},
	} {
		if got := schema(tc.keys...); got != tc.want {
			t.Errorf("%s = %s, want %s", strings.Join(tc.keys, "/"), got, tc.want)
		}
	}
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{[]string{"ssegate.jobs.v1.Job", "description"}, "Job is one prime-counting job."},
		{[]string{"ssegate.jobs.v1.Job", "properties", "owner", "description"}, "The user who created the job."},
		{[]string{"ssegate.jobs.v1.JobState", "description"}, "- `JOB_STATE_RUNNING`: Counting."},
		{[]string{"ssegate.jobs.v1.WatchJobResponse", "description"}, "At most one of `progress`, `partial`, `log`, `completed`, `failed`, `cancelled` is set (oneof `event`)."},
	} {
		got := get(t, doc, append([]string{"components", "schemas"}, tc.keys...)...).(string)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s = %q, want it to contain %q", strings.Join(tc.keys, "/"), got, tc.want)
		}
	}
	codes := toStrings(get(t, doc, "components", "schemas", openapi.ErrorSchema, "properties", "code", "enum"))
	if len(codes) != 17 || codes[5] != "NOT_FOUND" {
		t.Errorf("error codes %v", codes)
	}
}

// Parameters, bodies and responses follow the google.api.http rules as
// grpc-gateway applies them; security follows the public routes.
func TestOperations(t *testing.T) {
	t.Parallel()
	doc := parse(t, openapitest.DemoDocument(t))
	test := parse(t, generate(t, testServices(t)))
	params := func(op any) string {
		var out []string
		for _, p := range op.(object)["parameters"].([]any) {
			p := p.(object)
			if r, ok := p["$ref"]; ok {
				out = append(out, fmt.Sprint(r))
				continue
			}
			s := p["in"].(string) + ":" + p["name"].(string)
			if p["required"] == true {
				s += "!"
			}
			if sch := p["schema"].(object); sch["type"] == "array" {
				s += "[]"
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	body := func(op any) string {
		rb, ok := op.(object)["requestBody"].(object)
		if !ok {
			return ""
		}
		return compact(stripped(get(t, rb, "content", "application/json", "schema")))
	}
	result := func(op any) string {
		return compact(get(t, op, "responses", "200", "content", "application/json", "schema"))
	}
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"Login body", body(get(t, doc, "paths", "/v1/sessions", "post")), `{"$ref":"#/components/schemas/ssegate.auth.v1.LoginRequest"}`},
		{"Login security", compact(get(t, doc, "paths", "/v1/sessions", "post", "security")), `[]`},
		{"Logout security", compact(get(t, doc, "paths", "/v1/sessions/current", "delete", "security")), `[]`},
		{"document security", compact(doc["security"]), `[{"session":[]}]`},
		{"scheme", compact(stripped(get(t, doc, "components", "securitySchemes", "session"))), `{"in":"cookie","name":"ssegate_session","type":"apiKey"}`},
		{"CreateJob response_body", result(get(t, doc, "paths", "/v1/jobs", "post")), `{"$ref":"#/components/schemas/ssegate.jobs.v1.Job"}`},
		{"ListJobs response", result(get(t, doc, "paths", "/v1/jobs", "get")), `{"$ref":"#/components/schemas/ssegate.jobs.v1.ListJobsResponse"}`},
		{"CancelJob path", params(get(t, doc, "paths", "/v1/jobs/{id}:cancel", "post")), `path:id!`},
		{"CancelJob body without the path field", body(get(t, doc, "paths", "/v1/jobs/{id}:cancel", "post")), `{"type":"object"}`},
		{"WatchJob params", params(get(t, doc, "paths", "/v1/jobs/{id}/events", "get")), `path:id! query:afterId #/components/parameters/LastEventIDHeader #/components/parameters/LastEventIDQuery`},
		{"TailLogs params", params(get(t, doc, "paths", "/v1/logs/{name}/events", "get")), `path:name! query:follow query:afterOffset #/components/parameters/LastEventIDHeader #/components/parameters/LastEventIDQuery`},
		{"Get params", params(get(t, test, "paths", "/v1/{name}/things/{thing.id}", "get")), `path:name! path:thing.id! query:thing.size query:thing.tags[] query:filter.minSize query:filter.since query:tags[]`},
		{"Get pattern", fmt.Sprint(get(t, test, "paths", "/v1/{name}/things/{thing.id}", "get", "parameters", "0", "schema", "description")), "Matches `shelves/*`."},
		{"Get_2 params", params(get(t, test, "paths", "/v1/things/{thing.id}", "get")), `path:thing.id! query:name query:thing.size query:thing.tags[] query:filter.minSize query:filter.since query:tags[]`},
		{"Get_2 id", fmt.Sprint(get(t, test, "paths", "/v1/things/{thing.id}", "get", "operationId")), "TestService_Get_2"},
		{"Update body field", body(get(t, test, "paths", "/v1/things/{thing.id}", "patch")), `{"$ref":"#/components/schemas/test.v1.Thing"}`},
		{"Update params", params(get(t, test, "paths", "/v1/things/{thing.id}", "patch")), `path:thing.id! query:validateOnly`},
		{"custom method", body(get(t, test, "paths", "/v1/things:search", "additionalOperations", "SEARCH")), `{"$ref":"#/components/schemas/test.v1.GetRequest"}`},
		{"Ticks params", params(get(t, test, "paths", "/v1/ticks", "get")), `query:everyMs #/components/parameters/LastEventIDHeader #/components/parameters/LastEventIDQuery`},
		{"int64 as string", compact(stripped(get(t, test, "components", "schemas", "test.v1.Filter", "properties", "minSize"))), `{"format":"int64","pattern":"^-?[0-9]+$","type":"string"}`},
		{"map", compact(stripped(get(t, test, "components", "schemas", "test.v1.Thing", "properties", "labels"))), `{"additionalProperties":{"type":"string"},"type":"object"}`},
		{"tag comment", fmt.Sprint(get(t, test, "tags", "0", "description")), "TestService is a test."},
		{"summary", fmt.Sprint(get(t, test, "paths", "/v1/things/{thing.id}", "get", "summary")), "Get returns a thing."},
		{"description", fmt.Sprint(get(t, test, "paths", "/v1/things/{thing.id}", "get", "description")), "Get returns a thing. It has\ntwo routes."},
		{"field comment", fmt.Sprint(get(t, test, "components", "schemas", "test.v1.Thing", "properties", "size", "description")), "The thing's size."},
	} {
		if tc.got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.name, tc.got, tc.want)
		}
	}
	if _, ok := get(t, doc, "paths", "/v1/jobs", "get").(object)["security"]; ok {
		t.Error("ListJobs has its own security; it should inherit the document's")
	}
	// A method without a rule has its default route; one marked internal
	// has none.
	if paths := test["paths"].(object); len(paths) != 6 {
		t.Errorf("test service paths: %v (Internal has no route)", compact(paths))
	}
	if _, ok := get(t, test, "paths", "/test.v1.TestService/Unbound", "post").(object)["requestBody"]; !ok {
		t.Error("the unbound unary method takes its request as the body")
	}
	if _, ok := get(t, test, "paths", "/test.v1.TestService/UnboundStream", "get", "responses", "200", "content").(object)["text/event-stream"]; !ok {
		t.Error("the unbound streaming method is not an SSE route")
	}
}

// stripped is v without its description.
func stripped(v any) any {
	m, ok := v.(object)
	if !ok {
		return v
	}
	c := object{}
	for k, e := range m {
		if k != "description" {
			c[k] = e
		}
	}
	return c
}

func TestPublicRoutesOption(t *testing.T) {
	t.Parallel()
	doc := parse(t, generate(t, services, openapi.WithPublicRoutes("GET /v1/jobs/*", "/v1/logs"), openapi.WithCookieName("sid")))
	for _, tc := range []struct {
		path, method string
		public       bool
	}{
		{"/v1/jobs/{id}", "get", true},
		{"/v1/jobs/{id}:cancel", "post", false},
		{"/v1/logs", "get", true},
		{"/v1/sessions", "post", false},
	} {
		_, has := get(t, doc, "paths", tc.path, tc.method).(object)["security"]
		if has != tc.public {
			t.Errorf("%s %s: public %v, want %v", tc.method, tc.path, has, tc.public)
		}
	}
	if n := get(t, doc, "components", "securitySchemes", "session", "name"); n != "sid" {
		t.Errorf("cookie %v", n)
	}
}
