package attack_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/ssegate/ssegate/services/jobs"
)

// startJobs starts n jobs of the largest size for token's user, n at
// once when concurrent, and returns the answers; the jobs started are
// cancelled when t ends.
func (s *system) startJobs(t *testing.T, token string, n int, concurrent bool) []response {
	t.Helper()
	body := `{"limit":` + strconv.Itoa(jobs.MaxLimit) + `}`
	out := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		create := func() { out[i] = s.do(t, "POST", s.baseA+"/v1/jobs", body, withCookie(s.baseA, token)) }
		if concurrent {
			wg.Go(create)
		} else {
			create()
		}
	}
	wg.Wait()
	for _, r := range out {
		if r.status == http.StatusOK {
			id := jobID(t, r)
			t.Cleanup(func() {
				s.doCtx(context.Background(), t, "POST", s.baseA+"/v1/jobs/"+id+":cancel", `{}`, withCookie(s.baseA, token))
			})
		}
	}
	return out
}

// One user starts more long jobs than -max-jobs-per-user, one after
// another and all at once (a check-then-start race): at most the cap run,
// the others get 429 with a JSON RESOURCE_EXHAUSTED error.
func jobsCap(t *testing.T, s *system) {
	for _, concurrent := range []bool{false, true} {
		_, user, token := s.signIn(t, s.baseA)
		n := maxJobsPerUser + 1
		if concurrent {
			n = 4 * maxJobsPerUser
		}
		started := 0
		for _, r := range s.startJobs(t, token, n, concurrent) {
			switch code, _, _ := errorBody(r.body); {
			case r.status == http.StatusOK:
				started++
			case r.status != http.StatusTooManyRequests || code != "RESOURCE_EXHAUSTED":
				through(t, "%s's job beyond the cap (concurrent %v): %v, want 429 RESOURCE_EXHAUSTED", user, concurrent, r)
			}
		}
		if started > maxJobsPerUser {
			through(t, "%s started %d jobs of %d tried (concurrent %v) with a cap of %d", user, started, n, concurrent, maxJobsPerUser)
		}
		if started == 0 {
			t.Fatalf("setup: %s started no job", user)
		}
	}
}
