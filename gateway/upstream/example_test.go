package upstream_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ssegate/ssegate/gateway/upstream"
)

// Connect to an upstream served at two addresses and load its services by
// gRPC server reflection. (No output: it needs a running upstream.)
func Example() {
	cfg := upstream.Config{
		Name:       "jobs",
		Addrs:      []string{"10.0.0.1:9090", "10.0.0.2:9090"},
		TLS:        &upstream.TLSConfig{CAFile: "/etc/ssegate/upstream-ca.pem"},
		Reflection: true,
	}
	conn, err := upstream.Dial(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	d, err := upstream.Load(context.Background(), cfg, conn)
	if err != nil {
		log.Fatal(err) // e.g. upstream "jobs": unreachable: …
	}
	for _, sd := range d.Services {
		fmt.Println(sd.FullName())
	}
}
