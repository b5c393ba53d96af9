agent {
  notifiers = ["ops", "opps"] # ERROR: Unknown notifier
}
notifier "ops" {
  url = "slack://deploys?webhook_env=1BAD" # ERROR: Invalid notifier URL
}
notifier "m1" {
  url = "smtp://127.0.0.1:25/ops@example.com?tls=maybe" # ERROR: Invalid notifier URL
}
notifier "m2" {
  url = "smtp://mail.example.com:587/ops@example.com?subject=a%0Ab" # ERROR: Invalid notifier URL
}
notifier "m3" {
  url    = "mail://mail.example.com:587/ops@example.com"
  secret = "s3cr3t" # ERROR: Secret on a non-webhook notifier
}
notifier "s1" {
  url = "slack://u:p4ss@deploys" # ERROR: Invalid notifier URL
}
notifier "h1" {
  url        = "https://hooks.example.com/dewy"
  secret     = "s3cr3t"
  secret_env = "HOOK_SECRET" # ERROR: Conflicting secrets
}
notifier "h2" {
  url    = "https://hooks.example.com/dewy"
  secret = "" # ERROR: Empty secret
}
notifier "h3" {
  url        = "https://hooks.example.com/dewy"
  secret_env = "HOOK-SECRET" # ERROR: Invalid secret_env
}
