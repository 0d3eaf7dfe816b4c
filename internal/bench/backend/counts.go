package backend

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// The counts are read over a tiny gRPC service described here by hand,
// with well-known types, so that the bench proto stays what the gateway
// serves and the backend needs no second listener.
const (
	countsService = "ssebench.Debug"
	countsMethod  = "/" + countsService + "/Counts"
)

type countsServer interface{ Counts() Counts }

// RegisterCounts serves s.Counts on srv, for ReadCounts.
func RegisterCounts(srv grpc.ServiceRegistrar, s *Server) {
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: countsService,
		HandlerType: (*countsServer)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Counts",
			Handler: func(srv any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				if err := dec(new(emptypb.Empty)); err != nil {
					return nil, err
				}
				c := srv.(countsServer).Counts()
				return structpb.NewStruct(map[string]any{"started": c.Started, "open": c.Open})
			},
		}},
	}, s)
}

// ReadCounts asks the backend behind conn for its stream counts.
func ReadCounts(ctx context.Context, conn grpc.ClientConnInterface) (Counts, error) {
	var out structpb.Struct
	if err := conn.Invoke(ctx, countsMethod, &emptypb.Empty{}, &out); err != nil {
		return Counts{}, err
	}
	f := out.GetFields()
	return Counts{Started: int64(f["started"].GetNumberValue()), Open: int64(f["open"].GetNumberValue())}, nil
}
