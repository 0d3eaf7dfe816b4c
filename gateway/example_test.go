package gateway_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ssegate/ssegate/gateway"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
)

// Embedding the core: SSE for every server-streaming method with a GET
// binding of a service, REST for its unary methods through its generated
// grpc-gateway handlers (pass nil to serve them from the descriptors
// alone), behind whatever authentication sits in front (package session).
func Example() {
	conn, err := grpc.NewClient("127.0.0.1:9000", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	gw, err := gateway.New(gateway.WithHeartbeat(15*time.Second), gateway.WithMaxStreamsPerPrincipal(16))
	if err != nil {
		log.Fatal(err)
	}
	sd := jobsv1.File_ssegate_jobs_v1_jobs_proto.Services().Get(0)
	if err := gw.Register(context.Background(), sd, conn, jobsv1.RegisterJobServiceHandler); err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", gw))
}
