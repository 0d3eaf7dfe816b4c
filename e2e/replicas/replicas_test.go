// Package replicas_test runs the services as replicas on a NATS cluster,
// every part its own process: a cluster of three nats-server processes
// (R3, sync_interval always), two gateways, two jobs replicas and two logs
// replicas, and kills a jobs replica, a NATS server and a logs replica with
// SIGKILL while a job runs and clients watch it as EventSource does.
package replicas_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssegate/ssegate/internal/app"
	"github.com/ssegate/ssegate/internal/apptest"
	"github.com/ssegate/ssegate/services/jobs"
	"github.com/ssegate/ssegate/services/store/natsstore"
	"github.com/ssegate/ssegate/services/store/natsstore/natstest"
)

// secret is the session secret every process shares.
const secret = "replicas-fault-test-secret-replicas-fault-test"

// prefix names the test's bucket and streams in NATS.
const prefix = "fault"

// jobEvents are the events of a job stream, all of which a watcher keeps.
var jobEvents = []string{"log", "progress", "partial", "completed", "failed", "cancelled"}

// The job's limit and the number of primes below it: about 570 chunks of
// 25 ms, some 15 s of work, long enough to kill three things in.
const (
	limit  = 150_000_000
	primes = 8_444_396
)

// A job runs while the jobs replica running it, the NATS server leading
// the history's bucket and a logs replica are killed, one after the other.
// Every watcher of the job, and of its log, reconnecting as EventSource
// does through either gateway, gets every event exactly once, in order;
// the other jobs replica takes the job over from its checkpoint; the job
// ends once, with the right count; its log is whole.
func TestReplicasSurviveKills(t *testing.T) {
	t.Parallel()
	bins := apptest.Build(t, "ssegate", "ssegate-auth", "ssegate-jobs", "ssegate-logs")
	cluster := natstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	keys := apptest.WriteKeys(t)
	common := func(service string, more ...string) []string {
		return slices.Concat([]string{"-grpc-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, keys.ServiceFlags(service), more)
	}
	history := []string{"-store-url", cluster.URL(), "-store-replicas", "3", "-store-prefix", prefix}
	auth := apptest.StartProcess(t, bins+"/ssegate-auth", common(app.AuthService, "-session-secret", secret)...)
	logs := []*apptest.Process{
		apptest.StartProcess(t, bins+"/ssegate-logs", common(app.LogsService, history...)...),
		apptest.StartProcess(t, bins+"/ssegate-logs", common(app.LogsService, history...)...),
	}
	logsAddrs := logs[0].Addr + "," + logs[1].Addr
	jobsProcs := map[string]*apptest.Process{}
	for _, id := range []string{"j1", "j2"} {
		// Both replicas sign as the jobs service, with its one key.
		jobsProcs[id] = apptest.StartProcess(t, bins+"/ssegate-jobs", common(app.JobsService, slices.Concat(history,
			[]string{"-logs-addr", logsAddrs, "-replica-id", id, "-lease-ttl", "3s", "-job-pace", "25ms"})...)...)
	}
	var gateways []*apptest.Client
	for range 2 {
		gw := apptest.StartProcess(t, bins+"/ssegate", append(keys.GatewayFlags(),
			"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-session-secret", secret,
			"-upstream", "auth="+auth.Addr, "-upstream", "jobs="+jobsProcs["j1"].Addr+","+jobsProcs["j2"].Addr,
			"-upstream", "logs="+logsAddrs, "-reflection", "-session-revocations", "auth",
			"-max-streams-per-user", "0", "-heartbeat", "1s", "-reconnect-jitter", "500ms")...)
		gateways = append(gateways, apptest.SignIn(t, "http://"+gw.Addr, "demo", nil))
	}

	job := createJob(ctx, t, gateways[0])
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	watch := func(n int, path string, listen []string) []*apptest.EventSource {
		es := make([]*apptest.EventSource, n)
		for i := range es {
			// Each connection goes to the next gateway, as through a load
			// balancer; half the watchers start on each.
			order := []*apptest.Client{gateways[i%2], gateways[(i+1)%2]}
			es[i] = &apptest.EventSource{Clients: order, Path: path, Listen: listen, Retry: time.Second}
			wg.Go(func() { es[i].Run(ctx) })
		}
		return es
	}
	watchers := watch(6, "/v1/jobs/"+job+"/events", jobEvents)
	step := func(what string, more int) {
		t.Helper()
		n := 0
		for _, e := range watchers {
			n = max(n, e.Count())
		}
		if err := apptest.WaitAll(ctx, watchers, n+more, time.Minute); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	step("at the start", 40)
	// The job's log exists once its first line is shipped.
	if err := apptest.Eventually(30*time.Second, func() error {
		res, err := gateways[0].Do(ctx, "GET", "/v1/logs/job-"+job+"/events", "", http.Header{"Accept": {"text/event-stream"}})
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("the job log: %s", res.Status)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	logWatchers := watch(2, "/v1/logs/job-"+job+"/events?follow=true", []string{"log"})

	nc, js := connect(t, cluster.URL())
	defer nc.Close()
	st, err := natsstore.Open(ctx, cluster.URL(), natsstore.WithPrefix(prefix), natsstore.WithPruneInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runner := func() string {
		t.Helper()
		j, err := st.Get(ctx, jobs.Namespace, job)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct{ Runner string }
		if err := json.Unmarshal(j.Attrs, &rec); err != nil {
			t.Fatal(err)
		}
		return rec.Runner
	}

	first := runner()
	t.Logf("killing jobs replica %s, which runs the job", first)
	jobsProcs[first].Kill()
	step("after killing the job's replica", 30)
	if second := runner(); second == first || jobsProcs[second] == nil {
		t.Fatalf("the job runs on %q after %s was killed; want the other replica", second, first)
	}

	info, err := js.Stream(ctx, "KV_"+prefix)
	if err != nil {
		t.Fatal(err)
	}
	leader := info.CachedInfo().Cluster.Leader
	for _, s := range cluster.Servers {
		if s.Name == leader {
			t.Logf("killing NATS server %s, the bucket's leader", leader)
			s.Kill()
		}
	}
	step("after killing a NATS server", 30)
	t.Log("killing a logs replica")
	logs[0].Kill()

	// The end: every watcher gets 204 on its reconnect after the last event.
	for _, es := range [][]*apptest.EventSource{watchers, logWatchers} {
		if err := apptest.WaitSettled(ctx, es, 1<<30, 2*time.Minute); err != nil {
			t.Fatalf("the end: %v", err)
		}
	}
	events := readAll(ctx, t, gateways[1], "/v1/jobs/"+job+"/events", jobEvents)
	checkJob(t, events)
	for i, e := range watchers {
		if err := e.Stopped(); !strings.Contains(fmt.Sprint(err), "204") {
			t.Errorf("watcher %d stopped on %v, want the 204 of a finished stream", i, err)
		}
		if got := e.Events(); !slices.Equal(got, events) {
			t.Errorf("watcher %d got %d events, lost %d and repeated %d of %d", i, len(got), lost(events, got), repeated(got), len(events))
		}
	}
	var lines []apptest.Event
	for _, e := range events {
		if e.Name == "log" {
			lines = append(lines, e)
		}
	}
	log := readAll(ctx, t, gateways[0], "/v1/logs/job-"+job+"/events", []string{"log"})
	if texts(log) != texts(lines) {
		t.Errorf("the job log has %d lines, the job %d: %q, want %q", len(log), len(lines), texts(log), texts(lines))
	}
	for i, e := range logWatchers {
		if got := e.Events(); !slices.Equal(got, log) {
			t.Errorf("log watcher %d got %d lines, lost %d and repeated %d of %d", i, len(got), lost(log, got), repeated(got), len(log))
		}
	}
	connects := 0
	for _, e := range append(watchers, logWatchers...) {
		connects += e.Connects()
	}
	t.Logf("%d events, %d log lines, %d watchers, %d connections in all", len(events), len(log), len(watchers)+len(logWatchers), connects)
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func createJob(ctx context.Context, t *testing.T, c *apptest.Client) string {
	t.Helper()
	res, err := c.Do(ctx, "POST", "/v1/jobs", fmt.Sprintf(`{"limit": %d}`, limit), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var job struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&job); err != nil || res.StatusCode != http.StatusOK || job.ID == "" {
		t.Fatalf("create a job: %s %v %+v", res.Status, err, job)
	}
	return job.ID
}

// readAll reads a finished stream from its start, once, and returns the
// events named in listen.
func readAll(ctx context.Context, t *testing.T, c *apptest.Client, path string, listen []string) []apptest.Event {
	t.Helper()
	s, err := c.Stream(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	blocks, err := s.Events()
	if err != nil || s.Res.StatusCode != http.StatusOK {
		t.Fatalf("read %s: %s, %v", path, s.Res.Status, err)
	}
	var out []apptest.Event
	ended := false
	for _, b := range blocks {
		ended = ended || b.Event == "end"
		if slices.Contains(listen, b.Event) {
			out = append(out, apptest.Event{ID: b.ID, Name: b.Event, Data: b.Data})
		}
	}
	if !ended {
		t.Fatalf("%s did not end with an end event", path)
	}
	return out
}

// checkJob checks a job's history: ids 1 on, one apart; one terminal
// event, the last, a completion with the right count; a takeover said so.
func checkJob(t *testing.T, events []apptest.Event) {
	t.Helper()
	terminal, resumed := 0, 0
	for i, e := range events {
		if e.ID != strconv.Itoa(i+1) {
			t.Fatalf("event %d has id %s", i, e.ID)
		}
		switch e.Name {
		case "completed", "failed", "cancelled":
			terminal++
		case "log":
			if strings.Contains(e.Data, "resumed by replica") {
				resumed++
			}
		}
	}
	last := events[len(events)-1]
	var done struct{ Count uint32 }
	if err := json.Unmarshal([]byte(last.Data), &done); terminal != 1 || last.Name != "completed" || err != nil || done.Count != primes {
		t.Fatalf("%d terminal events, the last event %+v; want one completion with %d primes", terminal, last, primes)
	}
	if resumed == 0 {
		t.Error("no log line says another replica resumed the job")
	}
	t.Logf("the job was resumed %d times", resumed)
}

func texts(events []apptest.Event) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.Data)
		b.WriteString("\x00")
	}
	return b.String()
}

// lost counts the events of want that got lacks.
func lost(want, got []apptest.Event) int {
	n := 0
	for _, e := range want {
		if !slices.Contains(got, e) {
			n++
		}
	}
	return n
}

// repeated counts the events got has more than once.
func repeated(got []apptest.Event) int {
	seen := map[apptest.Event]bool{}
	n := 0
	for _, e := range got {
		if seen[e] {
			n++
		}
		seen[e] = true
	}
	return n
}
