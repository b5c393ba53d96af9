package grpc

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync"
	"testing"

	ggrpc "google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dewyhq/dewy/registry"
)

// registryServer is the server side of dewy.RegistryService, as a server
// written for the flag-driven dewy implements it.
type registryServer interface {
	Current(context.Context, *CurrentRequest) (*CurrentResponse, error)
	Report(context.Context, *ReportRequest) (*Empty, error)
}

var serviceDesc = ggrpc.ServiceDesc{
	ServiceName: "dewy.RegistryService",
	HandlerType: (*registryServer)(nil),
	Methods: []ggrpc.MethodDesc{{
		MethodName: "Current",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ ggrpc.UnaryServerInterceptor) (any, error) {
			req := &CurrentRequest{}
			if err := dec(req); err != nil {
				return nil, err
			}
			return srv.(registryServer).Current(ctx, req)
		},
	}, {
		MethodName: "Report",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ ggrpc.UnaryServerInterceptor) (any, error) {
			req := &ReportRequest{}
			if err := dec(req); err != nil {
				return nil, err
			}
			return srv.(registryServer).Report(ctx, req)
		},
	}},
}

type fakeServer struct {
	mu      sync.Mutex
	asked   *CurrentRequest
	reports []*ReportRequest
	url     string
}

func (f *fakeServer) Current(_ context.Context, req *CurrentRequest) (*CurrentResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = req
	return &CurrentResponse{ID: "resp-1", Tag: "v1.2.0", ArtifactURL: f.url}, nil
}

func (f *fakeServer) Report(_ context.Context, req *ReportRequest) (*Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, req)
	return &Empty{}, nil
}

func TestAgainstARegistryServer(t *testing.T) {
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dl/app_linux_amd64.tar.gz" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "artifact!")
	}))
	defer files.Close()
	fake := &fakeServer{url: files.URL + "/dl/app_linux_amd64.tar.gz"}
	srv := ggrpc.NewServer(ggrpc.ForceServerCodec(codec{}))
	srv.RegisterService(&serviceDesc, fake)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	u, _ := url.Parse("grpc://" + ln.Addr().String() + "?no-tls=true")
	r, err := New(u, "app_linux_amd64.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rels, err := r.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 1 || rels[0].Version != "v1.2.0" || rels[0].Artifact != "app_linux_amd64.tar.gz" {
		t.Fatalf("releases %+v", rels)
	}
	if fake.asked.Arch != runtime.GOARCH || fake.asked.OS != runtime.GOOS || fake.asked.ArtifactName == nil || *fake.asked.ArtifactName != "app_linux_amd64.tar.gz" {
		t.Errorf("the server was asked %+v", fake.asked)
	}
	rc, _, err := r.Open(ctx, "v1.2.0", "app_linux_amd64.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "artifact!" {
		t.Errorf("downloaded %q", b)
	}
	if _, _, err := r.Open(ctx, "v9.9.9", "x"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a release Current did not name: %v", err)
	}
	if err := r.Report(ctx, registry.Report{Version: "v1.2.0", Err: errors.New("not ready")}); err != nil {
		t.Fatal(err)
	}
	if err := r.Report(ctx, registry.Report{Version: "v1.2.0"}); err != nil {
		t.Fatal(err)
	}
	if len(fake.reports) != 2 || fake.reports[0].ID != "resp-1" || fake.reports[0].Err == nil || *fake.reports[0].Err != "not ready" || fake.reports[1].Err != nil {
		t.Errorf("reports %+v", fake.reports)
	}
}

// The hand-written encoding is protobuf's: the bytes a generated message
// produces for the same values, and unknown fields of a newer peer are
// skipped.
func TestWireFormat(t *testing.T) {
	name := "a.tgz"
	got := (&CurrentRequest{Arch: "amd64", OS: "linux", ArtifactName: &name}).marshal()
	// field 1 (arch), 2 (os), 3 (arifact_name), each tag<<3|2, length, bytes.
	want := []byte("\x0a\x05amd64\x12\x05linux\x1a\x05a.tgz")
	if string(got) != string(want) {
		t.Errorf("CurrentRequest = %q, want %q", got, want)
	}
	b := protowire.AppendTag(nil, 9, protowire.VarintType)
	b = protowire.AppendVarint(b, 42)
	b = append(b, "\x12\x06v1.0.0"...)
	var resp CurrentResponse
	if err := resp.unmarshal(b); err != nil || resp.Tag != "v1.0.0" {
		t.Errorf("with an unknown field: %+v %v", resp, err)
	}
	if err := resp.unmarshal([]byte("\x12\x09short")); err == nil {
		t.Error("a truncated message parsed")
	}
}
