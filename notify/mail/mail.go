package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/notify"
)

// Environment variables the mail notifier reads.
const (
	EnvUsername = "MAIL_USERNAME"
	EnvPassword = "MAIL_PASSWORD"
	EnvFrom     = "MAIL_FROM"
)

// TLS modes.
const (
	TLSStartTLS = "true"
	TLSPlain    = "false"
	TLSImplicit = "implicit"
)

// Options configure a mail notifier.
type Options struct {
	Host string
	Port int
	To   []string
	From string
	// Subject, when set, is the subject of every message; otherwise it is
	// "[<title, or dewy on HOST>] <what happened>".
	Subject  string
	Username string
	Password string
	// TLS is TLSStartTLS (default), TLSPlain or TLSImplicit.
	TLS string
	// TLSConfig overrides the TLS client settings (tests trust their own
	// certificate); nil verifies the server's name against the system's
	// roots.
	TLSConfig *tls.Config
}

// FromPlan reads a mail:// or smtp:// notifier of the plan, its
// credentials and sender through getenv. The sender defaults to
// dewy@<host>.
func FromPlan(n plan.Notifier, getenv func(string) string, host string) (Options, error) {
	u := n.URL
	q := u.Query()
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return Options{}, fmt.Errorf("notifier %q: the mail URL needs a port", n.Name)
	}
	o := Options{Host: u.Hostname(), Port: port, Subject: q.Get("subject"), TLS: q.Get("tls")}
	for _, to := range strings.Split(strings.Trim(u.Path, "/"), ",") {
		if to = strings.TrimSpace(to); to != "" {
			o.To = append(o.To, to)
		}
	}
	first := func(vs ...string) string {
		for _, v := range vs {
			if v != "" {
				return v
			}
		}
		return ""
	}
	var userinfoName, userinfoPass string
	if u.User != nil {
		userinfoName = u.User.Username()
		userinfoPass, _ = u.User.Password()
	}
	o.Username = first(q.Get("username"), userinfoName, getenv(EnvUsername))
	o.Password = first(q.Get("password"), userinfoPass, getenv(EnvPassword))
	o.From = first(q.Get("from"), getenv(EnvFrom), "dewy@"+host)
	if o.TLS == "" {
		o.TLS = TLSStartTLS
	}
	if o.Password != "" && o.Username == "" {
		return o, fmt.Errorf("notifier %q: a mail password without a username; set username= or %s", n.Name, EnvUsername)
	}
	return o, nil
}

// Notifier sends mail through one SMTP server.
type Notifier struct {
	o    Options
	name string
}

// New makes a mail notifier.
func New(o Options) (*Notifier, error) {
	if o.Host == "" || o.Port == 0 || len(o.To) == 0 || o.From == "" {
		return nil, errors.New("mail: a server, a port, a recipient and a sender are needed")
	}
	switch o.TLS {
	case "":
		o.TLS = TLSStartTLS
	case TLSStartTLS, TLSPlain, TLSImplicit:
	default:
		return nil, fmt.Errorf("mail: tls=%q is not true, false or implicit", o.TLS)
	}
	name := fmt.Sprintf("mail to %s via %s", strings.Join(o.To, ", "), net.JoinHostPort(o.Host, strconv.Itoa(o.Port)))
	return &Notifier{o: o, name: name}, nil
}

// Name is "mail to ops@example.com via smtp.example.com:587".
func (n *Notifier) Name() string { return n.name }

// Send delivers m: one connection per message (notifications are rare,
// and a kept connection would go stale between them).
func (n *Notifier) Send(ctx context.Context, m notify.Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(n.o.From); err != nil {
		return notify.Errorf("address", "mail: sender: %v", err)
	}
	if err := msg.To(n.o.To...); err != nil {
		return notify.Errorf("address", "mail: recipient: %v", err)
	}
	msg.Subject(Subject(m, n.o.Subject))
	msg.SetDate()
	msg.SetMessageID()
	msg.SetGenHeader("X-Dewy-Event", m.Kind)
	msg.SetGenHeader("X-Dewy-ID", m.ID)
	msg.SetBodyString(gomail.TypeTextPlain, Body(m))

	timeout := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	opts := []gomail.Option{gomail.WithPort(n.o.Port), gomail.WithTimeout(timeout)}
	switch n.o.TLS {
	case TLSPlain:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if n.o.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(n.o.TLSConfig))
	}
	if n.o.Username != "" {
		// The best mechanism the server offers; over a plain connection
		// none that shows the password, except PLAIN to a server on this
		// host (tls=false is meant for a local relay).
		mech := gomail.SMTPAuthAutoDiscover
		if n.o.TLS == TLSPlain && isLoopback(n.o.Host) {
			mech = gomail.SMTPAuthPlain
		}
		opts = append(opts, gomail.WithSMTPAuth(mech), gomail.WithUsername(n.o.Username), gomail.WithPassword(n.o.Password))
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		opts = append(opts, gomail.WithHELO(h))
	}
	c, err := gomail.NewClient(n.o.Host, opts...)
	if err != nil {
		return notify.Errorf("config", "mail: %v", n.scrub(err))
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return n.classify(ctx, err)
	}
	return nil
}

// classify gives a failed send its kind.
func (n *Notifier) classify(ctx context.Context, err error) error {
	text := n.scrub(err)
	var tp *textproto.Error
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return notify.Errorf("timeout", "mail: the server did not answer in time: %s", text)
	case errors.Is(err, syscall.ECONNREFUSED):
		return notify.Errorf("refused", "mail: %s", text)
	case strings.Contains(text, "STARTTLS") || strings.Contains(text, "tls:") || strings.Contains(text, "x509:"):
		return notify.Errorf("tls", "mail: %s", text)
	case errors.As(err, &tp) && (tp.Code == 535 || tp.Code == 534 || tp.Code == 530 || tp.Code == 538),
		strings.Contains(strings.ToLower(text), "auth"):
		return notify.Errorf("auth", "mail: %s", text)
	case errors.As(err, &tp):
		return notify.Errorf(fmt.Sprintf("smtp %d", tp.Code), "mail: %s", text)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return notify.Errorf("network", "mail: %s", text)
	}
	return notify.Errorf("error", "mail: %s", text)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// scrub returns err's text without the password, should a server or a
// library ever quote it.
func (n *Notifier) scrub(err error) string {
	s := err.Error()
	if n.o.Password != "" {
		s = strings.ReplaceAll(s, n.o.Password, "xxxxx")
		s = strings.ReplaceAll(s, url.QueryEscape(n.o.Password), "xxxxx")
	}
	return s
}

// Subject is the subject of m: fixed when the notifier has one, else
// "[<title, or dewy on HOST>] <what happened>".
func Subject(m notify.Message, fixed string) string {
	if fixed != "" {
		return fixed
	}
	prefix := m.Title
	if prefix == "" {
		prefix = "dewy on " + m.Host
	}
	return strings.Join(strings.Fields(fmt.Sprintf("[%s] %s", prefix, m.Text)), " ")
}

// Output tails shown for a hook.
const (
	hookLines = 50
	hookBytes = 8 << 10
)

// Body is the plain text of m.
func Body(m notify.Message) string {
	var b strings.Builder
	if m.Title != "" {
		b.WriteString(m.Title + "\n\n")
	}
	b.WriteString(m.Text + "\n\n")
	for _, f := range m.Fields() {
		fmt.Fprintf(&b, "%-8s %s\n", f.Label+":", f.Value)
	}
	fmt.Fprintf(&b, "%-8s %s\n", "Event:", m.Kind)
	if m.URL != "" {
		b.WriteString("\n" + m.URL + "\n")
	}
	if h := m.Hook; h != nil {
		b.WriteString("\n" + notify.HookHeading(h) + "\n")
		b.WriteString("$ " + h.Command + "\n")
		if out := notify.Tail(h.Output, hookLines, hookBytes); out != "" {
			b.WriteString(out + "\n")
		}
	}
	b.WriteString("\n-- \ndewy\n")
	return b.String()
}
