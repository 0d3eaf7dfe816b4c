// Package health serves liveness and readiness checks. Liveness (/healthz)
// says the process serves HTTP at all; readiness (/readyz) says it should
// get traffic: it fails while the gateway drains and while a backend has no
// healthy connection, so a load balancer sends new clients elsewhere.
package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// Check is one named readiness condition; Err returns nil when it holds.
type Check struct {
	Name string
	Err  func() error
}

// Report is the JSON body of both endpoints.
type Report struct {
	Status string `json:"status"` // "ok" or "unavailable"
	// Failing maps each failing check to why, for operators.
	Failing map[string]string `json:"failing,omitempty"`
}

// Live answers 200 while the process serves HTTP.
func Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		write(w, http.StatusOK, Report{Status: "ok"})
	})
}

// Ready answers 200 when every check that checks returns holds and 503
// otherwise. checks is called for each request, so the list may change
// (a reload changes the upstreams).
func Ready(checks func() []Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		rep := Run(checks()...)
		code := http.StatusOK
		if rep.Status != "ok" {
			code = http.StatusServiceUnavailable
		}
		write(w, code, rep)
	})
}

// Run runs checks and reports the failing ones.
func Run(checks ...Check) Report {
	rep := Report{Status: "ok"}
	for _, c := range checks {
		if err := c.Err(); err != nil {
			if rep.Failing == nil {
				rep.Failing = map[string]string{}
			}
			rep.Failing[c.Name] = err.Error()
			rep.Status = "unavailable"
		}
	}
	return rep
}

func write(w http.ResponseWriter, code int, rep Report) {
	b, _ := json.Marshal(rep) // cannot fail: strings only
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// ErrDraining is the readiness error of a gateway that is stopping.
var ErrDraining = errors.New("draining")

// Conn checks that a gRPC client connection is READY: with round-robin
// over health-checked backends, that at least one backend serves. An idle
// connection is asked to connect, so the next check can pass.
func Conn(name string, cc *grpc.ClientConn) Check {
	return Check{Name: name, Err: func() error {
		switch s := cc.GetState(); s {
		case connectivity.Ready:
			return nil
		case connectivity.Idle:
			cc.Connect()
			fallthrough
		default:
			return fmt.Errorf("backend connection %s", s)
		}
	}}
}
