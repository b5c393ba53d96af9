package testutil

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// findServer finds a test server's binary: $env, PATH, then
// $(go env GOPATH)/bin (where .ci/install-test-servers puts it).
func findServer(name, env string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// FreeAddr returns a loopback address that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runServer starts a server for the test, waits until addr accepts, and
// stops it when the test ends.
func runServer(t testing.TB, addr, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", filepath.Base(bin), err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited: %s", filepath.Base(bin), out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %s", filepath.Base(bin), addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// S3Server is a real S3-compatible server (versitygw, posix backend) on
// 127.0.0.1, for the tests of the s3:// registry.
type S3Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Access   string
	Secret   string
	Region   string
}

// Env is the AWS environment that reaches it.
func (s S3Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.Access, "AWS_SECRET_ACCESS_KEY=" + s.Secret, "AWS_REGION=" + s.Region, "AWS_EC2_METADATA_DISABLED=true"}
}

// Setenv sets KEY=VALUE pairs (a server's Env) for the test.
func Setenv(t testing.TB, env []string) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Client is an S3 client of the server, for tests to set up buckets and
// objects the way an operator's tooling would.
func (s S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region: s.Region, BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.Access, s.Secret, ""),
	})
}

// CreateBucket makes a bucket.
func (s S3Server) CreateBucket(ctx context.Context, name string) error {
	_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	return err
}

// StartS3 starts versitygw for the test and stops it at the end. Without
// the binary the test is skipped, loudly.
func StartS3(t testing.TB) S3Server {
	t.Helper()
	bin := findServer("versitygw", "DEWY_VERSITYGW")
	if bin == "" {
		t.Skip("SKIPPED: versitygw (the S3-compatible test server) is not installed; run .ci/install-test-servers (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
	}
	addr := FreeAddr(t)
	s := S3Server{Endpoint: "http://" + addr, Access: "dewytest", Secret: "dewytestsecret", Region: "us-east-1"}
	runServer(t, addr, bin, "--access", s.Access, "--secret", s.Secret, "--region", s.Region, "--port", addr, "posix", t.TempDir())
	return s
}

// GCSServer is fake-gcs-server, Google's Cloud Storage JSON API on
// 127.0.0.1 (in memory), for the tests of the gs:// registry.
type GCSServer struct {
	Host string // 127.0.0.1:PORT, the value of STORAGE_EMULATOR_HOST
}

// Env is the environment that points cloud.google.com/go/storage at it.
func (g GCSServer) Env() []string { return []string{"STORAGE_EMULATOR_HOST=" + g.Host} }

// StartGCS starts fake-gcs-server for the test and stops it at the end.
// Without the binary the test is skipped, loudly.
func StartGCS(t testing.TB) GCSServer {
	t.Helper()
	bin := findServer("fake-gcs-server", "DEWY_FAKE_GCS_SERVER")
	if bin == "" {
		t.Skip("SKIPPED: fake-gcs-server (the Cloud Storage test server) is not installed; run .ci/install-test-servers (go install github.com/fsouza/fake-gcs-server@v1.56.1)")
	}
	addr := FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	runServer(t, addr, bin, "-scheme", "http", "-host", host, "-port", port, "-backend", "memory", "-public-host", addr, "-external-url", "http://"+addr, "-log-level", "error")
	return GCSServer{Host: addr}
}

// Mailpit is a real SMTP server (mailpit) on 127.0.0.1, for the tests of
// the mail notifier: SMTP on SMTP, its API at API.
type Mailpit struct {
	SMTP string // 127.0.0.1:PORT
	API  string // http://127.0.0.1:PORT
}

// StartMailpit starts mailpit for the test and stops it at the end; args
// are more of its flags (--smtp-auth-file, --smtp-tls-cert, ...). Without
// the binary the test is skipped, loudly.
func StartMailpit(t testing.TB, args ...string) Mailpit {
	t.Helper()
	bin := findServer("mailpit", "DEWY_MAILPIT")
	if bin == "" {
		t.Skip("SKIPPED: mailpit (the SMTP test server) is not installed; run .ci/install-test-servers (go install github.com/axllent/mailpit@v1.33.1)")
	}
	smtp, api := FreeAddr(t), FreeAddr(t)
	m := Mailpit{SMTP: smtp, API: "http://" + api}
	all := append([]string{"--listen", api, "--smtp", smtp, "--database", filepath.Join(t.TempDir(), "mailpit.db"), "--quiet", "--disable-version-check"}, args...)
	runServer(t, smtp, bin, all...)
	// The API listens a moment after SMTP.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", api, time.Second)
		if err == nil {
			c.Close()
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit's API did not listen on %s", api)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MailpitAddress is a sender or recipient as mailpit's API shows it.
type MailpitAddress struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// MailpitMessage is one received message with its plain text.
type MailpitMessage struct {
	ID      string           `json:"ID"`
	From    MailpitAddress   `json:"From"`
	To      []MailpitAddress `json:"To"`
	Subject string           `json:"Subject"`
	Text    string           `json:"Text"`
}

// Messages returns every message mailpit received, oldest first, with
// its text (/api/v1/messages, then /api/v1/message/{ID}).
func (m Mailpit) Messages(ctx context.Context) ([]MailpitMessage, error) {
	var list struct {
		Messages []MailpitMessage `json:"messages"`
	}
	if err := getJSON(ctx, m.API+"/api/v1/messages?limit=1000", &list); err != nil {
		return nil, err
	}
	out := make([]MailpitMessage, 0, len(list.Messages))
	for i := len(list.Messages) - 1; i >= 0; i-- {
		var full MailpitMessage
		if err := getJSON(ctx, m.API+"/api/v1/message/"+list.Messages[i].ID, &full); err != nil {
			return nil, err
		}
		out = append(out, full)
	}
	return out, nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
