package health_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/ssegate/ssegate/gateway/health"
)

func TestReadyNamesFailingChecks(t *testing.T) {
	t.Parallel()
	fail := false
	h := health.Ready(func() []health.Check {
		return []health.Check{
			{Name: "gateway", Err: func() error {
				if fail {
					return health.ErrDraining
				}
				return nil
			}},
			{Name: "ok", Err: func() error { return nil }},
		}
	})
	get := func() (int, health.Report) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		var rep health.Report
		if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		return w.Code, rep
	}
	if code, rep := get(); code != 200 || rep.Status != "ok" || rep.Failing != nil {
		t.Fatalf("ready: %d %+v", code, rep)
	}
	fail = true
	if code, rep := get(); code != 503 || rep.Status != "unavailable" || rep.Failing["gateway"] != "draining" || len(rep.Failing) != 1 {
		t.Fatalf("draining: %d %+v", code, rep)
	}
	if rep := health.Run(health.Check{Name: "x", Err: func() error { return errors.New("down") }}); rep.Failing["x"] != "down" {
		t.Fatalf("Run: %+v", rep)
	}
	w := httptest.NewRecorder()
	health.Live().ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	if w.Code != 200 {
		t.Fatalf("live: %d", w.Code)
	}
}
