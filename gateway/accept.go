package gateway

import (
	"strconv"
	"strings"
)

// wantsEventStream reports whether an Accept header prefers
// text/event-stream over JSON. Only an explicit text/event-stream counts, so
// clients that accept anything (curl's */*) get grpc-gateway's NDJSON; among
// explicit types the q-values decide.
func wantsEventStream(accept string) bool {
	sse, sseSpec := -1.0, -1
	json, jsonSpec := 0.0, -1
	explicit := false
	for part := range strings.SplitSeq(accept, ",") {
		typ, q := parseMediaRange(part)
		if typ == "text/event-stream" {
			explicit = true
		}
		if s := specificity(typ, "text/event-stream"); s > sseSpec {
			sse, sseSpec = q, s
		}
		if s := specificity(typ, "application/json"); s > jsonSpec {
			json, jsonSpec = q, s
		}
	}
	return explicit && sse > 0 && sse >= json
}

// parseMediaRange returns the lower-cased type of one Accept entry and its
// q-value (1 when absent, 0 when malformed).
func parseMediaRange(s string) (string, float64) {
	typ, params, _ := strings.Cut(s, ";")
	q := 1.0
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			f = 0
		}
		q = f
	}
	return strings.ToLower(strings.TrimSpace(typ)), q
}

// specificity tells how closely a media range matches typ: 2 exact, 1
// type/*, 0 */*, -1 not at all.
func specificity(rng, typ string) int {
	switch {
	case rng == typ:
		return 2
	case rng == "*/*":
		return 0
	case strings.HasSuffix(rng, "/*") && strings.HasPrefix(typ, strings.TrimSuffix(rng, "*")):
		return 1
	}
	return -1
}
