package requestid_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ssegate/ssegate/gateway/requestid"
)

func TestHandlerGivesEachRequestItsOwnID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(requestid.LogHandler(slog.NewJSONHandler(&buf, nil)))
	var seen []string
	h := requestid.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, requestid.FromContext(r.Context()))
		if r.Header.Get("X-Request-Id") != "" || r.Header.Get("Grpc-Metadata-X-Request-Id") != "" {
			t.Errorf("client-sent ids reached the handler: %v", r.Header)
		}
		if md := requestid.Metadata(r.Context(), r); len(md.Get(requestid.MetadataKey)) != 1 {
			t.Errorf("metadata %v", md)
		}
		logger.InfoContext(r.Context(), "inside")
	}))
	var ids []string
	for range 2 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Request-Id", "spoofed")
		r.Header.Set("Grpc-Metadata-X-Request-Id", "spoofed")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		ids = append(ids, w.Header().Get(requestid.Header))
	}
	if len(ids[0]) != 24 || ids[0] == ids[1] || ids[0] != seen[0] || ids[1] != seen[1] {
		t.Fatalf("ids %q, seen by the handler %q", ids, seen)
	}
	var line map[string]any
	if err := json.Unmarshal(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0], &line); err != nil || line[requestid.LogKey] != ids[0] {
		t.Fatalf("log line %s: %v", buf.Bytes(), err)
	}
}
