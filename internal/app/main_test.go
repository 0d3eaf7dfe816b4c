package app_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Every server, backend, stream and connection a test starts is gone when
// the tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	http.DefaultClient.CloseIdleConnections() // kept alive for the next test, not leaked
	if code == 0 {
		// Closed servers' connection goroutines end soon, not at once: on a
		// busy machine give them seconds.
		err := goleak.Find()
		for i := 0; err != nil && i < 10; i++ {
			time.Sleep(time.Second)
			err = goleak.Find()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
