package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ssegate/ssegate/gateway/rest"
	authv1 "github.com/ssegate/ssegate/gen/ssegate/auth/v1"
)

// backend stands for a connection to a service: every call answers with
// the same principal.
type backend struct{ grpc.ClientConnInterface }

func (backend) Invoke(_ context.Context, method string, _, reply any, _ ...grpc.CallOption) error {
	fmt.Println("call", method)
	return protojson.Unmarshal([]byte(`{"principal":{"username":"demo"}}`), reply.(proto.Message))
}

func ExampleRegister() {
	// Any service descriptor will do: one from a descriptor set file or
	// server reflection is served the same way.
	sd := authv1.File_ssegate_auth_v1_auth_proto.Services().ByName("AuthService")
	mux := runtime.NewServeMux()
	if err := rest.Register(mux, sd, backend{}, rest.WithTypes(rest.DynamicTypes)); err != nil {
		fmt.Println(err)
		return
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/sessions/current", nil))
	var body bytes.Buffer
	_ = json.Compact(&body, rec.Body.Bytes()) // protojson spaces at random
	fmt.Println(rec.Code, body.String())
	// Output:
	// call /ssegate.auth.v1.AuthService/WhoAmI
	// 200 {"principal":{"username":"demo","expireTime":null}}
}
