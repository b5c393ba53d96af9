// Package mail is the mail notifier: one message per event over SMTP
// (github.com/wneessen/go-mail), in plain text.
//
// URL: smtp://host:port/to@example.com[,more@example.com] (mail:// is the
// same) with the options from=, subject=, username=, password= and
// tls=true|false|implicit. The credentials may also come from the URL's
// userinfo (smtp://user:password@host:port/...) or from MAIL_USERNAME,
// MAIL_PASSWORD and MAIL_FROM; the URL wins. tls=true, the default,
// requires STARTTLS (a server without it is an error, never a silent
// plain connection); tls=false talks plain SMTP (sensible only to a
// server on this host: `dewy validate` warns otherwise, and the password
// is then sent only to a loopback server); tls=implicit speaks TLS from
// the first byte (port 465). The password never appears in Name or in an
// error.
package mail
