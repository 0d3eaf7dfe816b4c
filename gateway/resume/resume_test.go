package resume_test

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/gateway/resume"
	jobsv1 "github.com/ssegate/ssegate/gen/ssegate/jobs/v1"
)

func TestFromRequestAndApply(t *testing.T) {
	t.Parallel()
	field := (&jobsv1.WatchJobRequest{}).ProtoReflect().Descriptor().Fields().ByName("after_id")
	tests := []struct {
		name, header, query string
		wantID              string
		wantErr             error
		wantAfter           uint64
	}{
		{name: "none"},
		{name: "header", header: "42", wantID: "42", wantAfter: 42},
		{name: "query", query: "7", wantID: "7", wantAfter: 7},
		{name: "header first", header: "9", query: "7", wantID: "9", wantAfter: 9},
		{name: "too long", header: strings.Repeat("1", resume.MaxLength+1), wantErr: resume.ErrTooLong},
		{name: "longest", header: strings.Repeat("a", resume.MaxLength), wantID: strings.Repeat("a", resume.MaxLength), wantErr: resume.ErrMalformed},
		{name: "NUL", query: "1\x00", wantErr: resume.ErrMalformed},
		{name: "non-ASCII", query: "ü", wantErr: resume.ErrMalformed},
		{name: "not a number", header: "abc", wantID: "abc", wantErr: resume.ErrMalformed},
		{name: "negative", header: "-3", wantID: "-3", wantErr: resume.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/x?lastEventId="+url.QueryEscape(tt.query), nil)
			if tt.header != "" {
				r.Header.Set(resume.Header, tt.header)
			}
			id, err := resume.FromRequest(r)
			if err == nil && id != "" {
				req := &jobsv1.WatchJobRequest{}
				err = resume.Apply(req, field, id)
				if err == nil && req.GetAfterId() != tt.wantAfter {
					t.Fatalf("after_id %d, want %d", req.GetAfterId(), tt.wantAfter)
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// FuzzFromRequest: any header value is either refused or is printable
// ASCII of bounded length, safe to send as gRPC metadata.
func FuzzFromRequest(f *testing.F) {
	for _, s := range []string{"1", "", "abc", "\x7f", strings.Repeat("9", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header[resume.Header] = []string{v}
		id, err := resume.FromRequest(r)
		if err != nil {
			return
		}
		if len(id) > resume.MaxLength {
			t.Fatalf("accepted %d bytes", len(id))
		}
		for _, c := range []byte(id) {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("accepted byte %#x", c)
			}
		}
	})
}
