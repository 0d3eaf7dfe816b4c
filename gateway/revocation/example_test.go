package revocation_test

import (
	"fmt"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ssegate/ssegate/gateway/revocation"
)

// A gateway asks the set before it accepts a session's cookie, and each
// open stream of a session watches it.
func ExampleSet() {
	set := revocation.NewSet(clockwork.NewRealClock())
	ended, stop := set.Watch("s1") // a stream of session s1 opens
	defer stop()

	set.Revoke("s1", time.Now().Add(12*time.Hour)) // what a Watcher does on a revocation

	<-ended
	fmt.Println("s1 revoked:", set.Revoked("s1"), "s2 revoked:", set.Revoked("s2"))
	// Output: s1 revoked: true s2 revoked: false
}
