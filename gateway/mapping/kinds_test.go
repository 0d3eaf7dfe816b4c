package mapping_test

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ssegate/ssegate/gateway/mapping"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
	logsv1 "github.com/ssegate/ssegate/gen/ssegate/logs/v1"
)

// describe renders kinds as "name case raw" strings.
func describe(kinds []mapping.Kind) []string {
	var out []string
	for _, k := range kinds {
		name := func(fd protoreflect.FieldDescriptor) string {
			if fd == nil {
				return "-"
			}
			return string(fd.Name())
		}
		out = append(out, fmt.Sprintf("%q %s %s %s", k.Name, name(k.NameField), name(k.Case), name(k.Raw)))
	}
	return out
}

func TestKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		md   protoreflect.MessageDescriptor
		id   string
		want []string
	}{
		{"oneof cases", (&jobsv1.WatchJobResponse{}).ProtoReflect().Descriptor(), "id", []string{
			`"progress" - progress -`, `"partial" - partial -`, `"log" - log log`,
			`"completed" - completed -`, `"failed" - failed -`, `"cancelled" - cancelled -`,
		}},
		{"fixed name, raw text", (&logsv1.TailLogsResponse{}).ProtoReflect().Descriptor(), "offset", []string{`"log" - - text`}},
		{"anonymous, whole message", (&timestamppb.Timestamp{}).ProtoReflect().Descriptor(), "", []string{`"" - - -`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := mapping.New(tc.md)
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(m.Kinds()); !slices.Equal(got, tc.want) {
				t.Errorf("Kinds:\n got  %q\n want %q", got, tc.want)
			}
			id := ""
			if f := m.IDField(); f != nil {
				id = string(f.Name())
			}
			if id != tc.id {
				t.Errorf("IDField = %q, want %q", id, tc.id)
			}
		})
	}
}
