// Package grpc is the grpc:// registry: a server of the dewy registry
// protocol (service dewy.RegistryService, methods Current and Report),
// the one servers written for the flag-driven dewy answer. Current names
// the release to deploy on this OS and architecture and the URL of its
// artifact, which is downloaded over HTTP(S); Report tells the server how
// the deploy went. grpc://host:port uses TLS; ?no-tls=true does not.
package grpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"runtime"
	"strconv"
	"sync"
	"time"

	ggrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dewyhq/dewy/registry"
)

const (
	methodCurrent = "/dewy.RegistryService/Current"
	methodReport  = "/dewy.RegistryService/Report"
)

// Registry asks one registry server.
type Registry struct {
	conn     *ggrpc.ClientConn
	artifact string // the registry block's artifact, sent as arifact_name
	http     *http.Client

	mu sync.Mutex
	// current is the last Current answer, by tag: its id and URL.
	current map[string]CurrentResponse
}

var _ registry.Registry = (*Registry)(nil)

// New returns the registry of u (grpc://host:port[?no-tls=true]); artifact
// is the registry block's artifact name ("" lets the server choose).
func New(u *url.URL, artifact string) (*Registry, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("grpc registry %q: want grpc://host:port", u.String())
	}
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	if noTLS, _ := strconv.ParseBool(u.Query().Get("no-tls")); noTLS {
		creds = insecure.NewCredentials()
	}
	conn, err := ggrpc.NewClient(u.Host, ggrpc.WithTransportCredentials(creds), ggrpc.WithDefaultCallOptions(ggrpc.ForceCodec(codec{})))
	if err != nil {
		return nil, fmt.Errorf("grpc registry %s: %w", u.Host, err)
	}
	return &Registry{conn: conn, artifact: artifact, http: &http.Client{}, current: map[string]CurrentResponse{}}, nil
}

// Releases asks Current: the one release the server wants this host to
// run, with the artifact it chose (registry.Release.Artifact).
func (r *Registry) Releases(ctx context.Context) ([]registry.Release, error) {
	req := &CurrentRequest{Arch: runtime.GOARCH, OS: runtime.GOOS}
	if r.artifact != "" {
		req.ArtifactName = &r.artifact
	}
	var resp CurrentResponse
	if err := r.conn.Invoke(ctx, methodCurrent, req, &resp); err != nil {
		return nil, fmt.Errorf("grpc registry Current: %w", err)
	}
	if resp.Tag == "" || resp.ArtifactURL == "" {
		return nil, fmt.Errorf("grpc registry Current: the answer lacks a tag or an artifact URL (tag %q, url %q)", resp.Tag, resp.ArtifactURL)
	}
	u, err := url.Parse(resp.ArtifactURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("grpc registry Current: artifact URL %q: only http and https URLs can be downloaded", resp.ArtifactURL)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." {
		return nil, fmt.Errorf("grpc registry Current: artifact URL %q names no file", resp.ArtifactURL)
	}
	r.mu.Lock()
	r.current[resp.Tag] = resp
	r.mu.Unlock()
	return []registry.Release{{Version: resp.Tag, Files: []string{name}, Artifact: name}}, nil
}

// Open downloads the artifact of a release Current named.
func (r *Registry) Open(ctx context.Context, version, file string) (io.ReadCloser, int64, error) {
	r.mu.Lock()
	cur, ok := r.current[version]
	r.mu.Unlock()
	if !ok || path.Base(mustPath(cur.ArtifactURL)) != file {
		return nil, 0, fmt.Errorf("grpc registry: %s/%s: %w", version, file, registry.ErrNotFound)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cur.ArtifactURL, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("grpc registry: %w", err)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("grpc registry download %s: %w", cur.ArtifactURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		err := fmt.Errorf("grpc registry download %s: %s", cur.ArtifactURL, resp.Status)
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", err, registry.ErrNotFound)
		}
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

func mustPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}

// Report sends Report for a release Current named.
func (r *Registry) Report(ctx context.Context, rep registry.Report) error {
	r.mu.Lock()
	cur, ok := r.current[rep.Version]
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("grpc registry Report: %s was not named by Current", rep.Version)
	}
	req := &ReportRequest{ID: cur.ID, Tag: rep.Version}
	if rep.Err != nil {
		e := rep.Err.Error()
		req.Err = &e
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.conn.Invoke(ctx, methodReport, req, &Empty{}); err != nil {
		return fmt.Errorf("grpc registry Report: %w", err)
	}
	return nil
}
