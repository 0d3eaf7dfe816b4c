package natsstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ssegate/ssegate/services/store"
	"github.com/ssegate/ssegate/services/store/natsstore"
)

// A stream on a NATS cluster of three: a second store on the same servers
// (another replica of the service) follows what this one appends.
func Example() {
	ctx := context.Background()
	st, err := natsstore.Open(ctx, "nats://10.0.0.11:4222,nats://10.0.0.12:4222,nats://10.0.0.13:4222",
		natsstore.WithReplicas(3))
	if err != nil {
		log.Fatal(err) // no server answered, or JetStream is not enabled
	}
	defer st.Close()
	if _, err := st.Create(ctx, "logs", store.Stream{Name: "deploy", Owner: "ops"}); err != nil {
		log.Fatal(err)
	}
	if _, err := st.Append(ctx, "logs", "deploy", store.Batch{
		Events: [][]byte{[]byte("build started"), []byte("build done")},
		Finish: true,
	}); err != nil {
		log.Fatal(err)
	}
	err = store.Follow(ctx, st, "logs", "deploy", 0, true, func(e store.Event) error {
		fmt.Println(e.ID, string(e.Data))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
