agent {
  notifiers = ["ops"]
}
notifier "ops" {
  url = "smtp://mail.example.com:25/ops@example.com?tls=false&username=dewy&password=pw" # WARNING: Unencrypted mail
}
notifier "local" {
  url = "smtp://127.0.0.1:1025/ops@example.com?tls=false"
}
notifier "implicit" {
  url = "mail://mail.example.com:465/ops@example.com?tls=implicit&subject=dewy%20on%20web-1"
}
