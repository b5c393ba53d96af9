package testutil

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

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

// versitygwBinary finds the server: $DEWY_VERSITYGW, PATH, then
// $(go env GOPATH)/bin (where `go install` puts it; .ci/run does).
func versitygwBinary() string {
	if p := os.Getenv("DEWY_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(string(out[:len(out)-1]), "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// StartS3 starts versitygw for the test and stops it at the end. Without
// the binary the test is skipped, loudly: install it with
// `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` (what
// .ci/run does).
func StartS3(t testing.TB) S3Server {
	t.Helper()
	bin := versitygwBinary()
	if bin == "" {
		t.Skip("SKIPPED: versitygw (the S3-compatible test server) is not installed; .ci/run installs it: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := S3Server{Endpoint: "http://" + addr, Access: "dewytest", Secret: "dewytestsecret", Region: "us-east-1"}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--access", s.Access, "--secret", s.Secret, "--region", s.Region, "--port", addr, "posix", t.TempDir())
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start versitygw: %v", err)
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
			return s
		}
		select {
		case <-done:
			t.Fatalf("versitygw exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %s: %s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
