package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/internal/testutil"
	"github.com/dewyhq/dewy/notify"
)

const password = "hunter2-SECRETPW"

func message() notify.Message {
	return notify.Message{
		Kind: "hook_failed", Text: "api: before_deploy hook of v1.2.0 failed", Apps: []string{"api"}, Version: "v1.2.0",
		ID: "01DEPLOY", EventID: "01EVENT", DeployID: "01DEPLOY", Host: "web-1", Time: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		Failure: true, URL: "https://status.example.com",
		Hook: &actions.HookResult{Name: "before_deploy", Command: "pg_dump api", ExitCode: 1, Duration: 2100 * time.Millisecond, Output: "pg_dump: error: connection refused\n"},
	}
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func received(t *testing.T, m testutil.Mailpit, n int) []testutil.MailpitMessage {
	t.Helper()
	var got []testutil.MailpitMessage
	testutil.Eventually(t, "mailpit has the message", 10*time.Second, func() bool {
		var err error
		got, err = m.Messages(context.Background())
		return err == nil && len(got) >= n
	})
	return got
}

func send(t *testing.T, o Options) error {
	t.Helper()
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	begin := time.Now()
	err = n.Send(ctx, message())
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("send took %s past its 3s bound", took)
	}
	if err != nil && strings.Contains(err.Error(), password) {
		t.Errorf("error shows the password: %v", err)
	}
	if strings.Contains(n.Name(), password) {
		t.Errorf("name shows the password: %s", n.Name())
	}
	return err
}

// Plain SMTP to a server on this host: the message arrives with its
// subject, sender, recipients and text.
func TestPlainToMailpit(t *testing.T) {
	mp := testutil.StartMailpit(t)
	host, port := hostPort(t, mp.SMTP)
	if err := send(t, Options{Host: host, Port: port, To: []string{"ops@example.com", "dev@example.com"}, From: "dewy@web-1.example.com", TLS: TLSPlain}); err != nil {
		t.Fatal(err)
	}
	m := received(t, mp, 1)[0]
	if m.Subject != "[dewy on web-1] api: before_deploy hook of v1.2.0 failed" {
		t.Errorf("subject %q", m.Subject)
	}
	if m.From.Address != "dewy@web-1.example.com" || len(m.To) != 2 || m.To[0].Address != "ops@example.com" {
		t.Errorf("from %+v to %+v", m.From, m.To)
	}
	for _, want := range []string{"api: before_deploy hook of v1.2.0 failed", "App:     api", "Version: v1.2.0", "Host:    web-1", "ID:      01DEPLOY", "Event:   hook_failed",
		"https://status.example.com", "before_deploy hook failed: exit 1 after 2.1s", "$ pg_dump api", "pg_dump: error: connection refused"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
}

// By default STARTTLS is required: a server without it is an error, not
// a plain connection.
func TestStartTLSRequired(t *testing.T) {
	mp := testutil.StartMailpit(t)
	host, port := hostPort(t, mp.SMTP)
	err := send(t, Options{Host: host, Port: port, To: []string{"ops@example.com"}, From: "dewy@example.com"})
	if got := notify.FailureKind(err); got != "tls" {
		t.Errorf("kind %q (%v), want tls", got, err)
	}
	if msgs, _ := mp.Messages(context.Background()); len(msgs) != 0 {
		t.Errorf("a message went out in plain text")
	}
}

// STARTTLS and implicit TLS, with authentication, against mailpit with a
// certificate the test made; a wrong password is refused as "auth" and
// never quoted.
func TestTLSAndAuth(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	auth := filepath.Join(dir, "passwords")
	if err := os.WriteFile(auth, []byte("dewy:"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsConf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}

	t.Run("starttls", func(t *testing.T) {
		mp := testutil.StartMailpit(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls", "--smtp-auth-file", auth)
		host, port := hostPort(t, mp.SMTP)
		o := Options{Host: host, Port: port, To: []string{"ops@example.com"}, From: "dewy@example.com", Username: "dewy", Password: password, TLSConfig: tlsConf}
		if err := send(t, o); err != nil {
			t.Fatal(err)
		}
		received(t, mp, 1)
		o.Password = "wrong-" + password
		if err := send(t, o); notify.FailureKind(err) != "auth" || strings.Contains(err.Error(), "wrong-") {
			t.Errorf("wrong password: kind %q, %v", notify.FailureKind(err), err)
		}
		// Without our certificate the server's is not trusted.
		o.Password, o.TLSConfig = password, nil
		if err := send(t, o); notify.FailureKind(err) != "tls" {
			t.Errorf("untrusted certificate: kind %q, %v", notify.FailureKind(err), err)
		}
	})
	t.Run("implicit", func(t *testing.T) {
		mp := testutil.StartMailpit(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-tls", "--smtp-auth-file", auth)
		host, port := hostPort(t, mp.SMTP)
		o := Options{Host: host, Port: port, To: []string{"ops@example.com"}, From: "dewy@example.com", Username: "dewy", Password: password, TLSConfig: tlsConf, TLS: TLSImplicit}
		if err := send(t, o); err != nil {
			t.Fatal(err)
		}
		received(t, mp, 1)
	})
	t.Run("plain auth refused", func(t *testing.T) {
		mp := testutil.StartMailpit(t, "--smtp-auth-file", auth, "--smtp-auth-allow-insecure")
		host, port := hostPort(t, mp.SMTP)
		o := Options{Host: host, Port: port, To: []string{"ops@example.com"}, From: "dewy@example.com", Username: "dewy", Password: "wrong-" + password, TLS: TLSPlain}
		if err := send(t, o); notify.FailureKind(err) != "auth" {
			t.Errorf("kind %q, %v", notify.FailureKind(err), err)
		}
		o.Password = password
		if err := send(t, o); err != nil {
			t.Fatal(err)
		}
	})
}

// A server that is down, or accepts and never answers, fails the send
// within its bound.
func TestServerDownOrHanging(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port := hostPort(t, ln.Addr().String())
	ln.Close()
	if err := send(t, Options{Host: host, Port: port, To: []string{"ops@example.com"}, From: "dewy@example.com", TLS: TLSPlain}); notify.FailureKind(err) != "refused" {
		t.Errorf("down: kind %q, %v", notify.FailureKind(err), err)
	}

	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	host, port = hostPort(t, hang.Addr().String())
	if err := send(t, Options{Host: host, Port: port, To: []string{"ops@example.com"}, From: "dewy@example.com", TLS: TLSPlain, Username: "dewy", Password: password}); notify.FailureKind(err) != "timeout" {
		t.Errorf("hanging: kind %q, %v", notify.FailureKind(err), err)
	}
}

func TestFromPlan(t *testing.T) {
	n := func(raw string) plan.Notifier {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return plan.Notifier{Name: "ops", URL: u}
	}
	env := map[string]string{"MAIL_USERNAME": "envuser", "MAIL_PASSWORD": "envpass", "MAIL_FROM": "env@example.com"}
	getenv := func(k string) string { return env[k] }
	o, err := FromPlan(n("smtp://mail.example.com:587/a@example.com,b@example.com?subject=hi&tls=implicit"), getenv, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if o.Host != "mail.example.com" || o.Port != 587 || len(o.To) != 2 || o.Subject != "hi" || o.TLS != TLSImplicit ||
		o.Username != "envuser" || o.Password != "envpass" || o.From != "env@example.com" {
		t.Errorf("from the environment: %+v", o)
	}
	o, _ = FromPlan(n("mail://u:p@mail.example.com:25/a@example.com?from=q@example.com"), getenv, "web-1")
	if o.Username != "u" || o.Password != "p" || o.From != "q@example.com" || o.TLS != TLSStartTLS {
		t.Errorf("userinfo: %+v", o)
	}
	o, _ = FromPlan(n("mail://u:p@mail.example.com:25/a@example.com?username=qu&password=qp"), getenv, "web-1")
	if o.Username != "qu" || o.Password != "qp" {
		t.Errorf("query wins: %+v", o)
	}
	o, _ = FromPlan(n("mail://mail.example.com:25/a@example.com"), func(string) string { return "" }, "web-1")
	if o.From != "dewy@web-1" || o.Username != "" {
		t.Errorf("defaults: %+v", o)
	}
	if _, err := FromPlan(n("mail://mail.example.com:25/a@example.com?password=x"), func(string) string { return "" }, "web-1"); err == nil || strings.Contains(err.Error(), "=x") {
		t.Errorf("a password without a user: %v", err)
	}
}

func TestSubject(t *testing.T) {
	m := message()
	if got := Subject(m, ""); got != "[dewy on web-1] api: before_deploy hook of v1.2.0 failed" {
		t.Errorf("got %q", got)
	}
	m.Title, m.Text = "API prod", "line one\nline two"
	if got := Subject(m, ""); got != "[API prod] line one line two" {
		t.Errorf("got %q", got)
	}
	if got := Subject(m, "fixed"); got != "fixed" {
		t.Errorf("got %q", got)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}
