agent {
  log_level = "debug"
  notifiers = ["hook", "signed"]
}
registry "api" {
  url = "ghr://myorg/api?pre-release=true&artifact=api.tar.gz"
}
registry "s3" {
  url = "s3://ap-northeast-1/bucket/api?endpoint=http://127.0.0.1:9000"
}
registry "gs" {
  url = "gs://bucket/prefix"
}
registry "grpc" {
  url = "grpc://127.0.0.1:9000?no-tls=true"
}
registry "file" {
  url = "file:///srv/releases/api"
}
notifier "slack" {
  url = "slack://deploys?title=api&url=https://example.com&quiet=true"
}
notifier "mail" {
  url = "mail://smtp.example.com:587/a@example.com,b@example.com?from=dewy@example.com"
}
notifier "smtp" {
  url = "smtp://127.0.0.1:2525/ops@example.com"
}
notifier "hook" {
  url = "https://hooks.example.com/dewy?token=x"
}
notifier "signed" {
  url        = "https://hooks.example.com/signed"
  secret_env = "DEWY_HOOK_SECRET"
}
notifier "webhook_slack" {
  url   = "slack://deploys?webhook_env=SLACK_WEBHOOK_URL"
  title = "api"
  quiet = true
}
notifier "implicit" {
  url = "mail://smtp.example.com:465/ops@example.com?tls=implicit&subject=dewy&username=u&password=p"
}
app "api" {
  registry  = "api"
  dir       = "/opt/api"
  command   = ["/opt/api/current/api"]
  listen    = ["0.0.0.0:8080", "unix:/run/api.sock"]
  notifiers = ["slack", "mail"]
  ready {
    notify = true
  }
  hooks {
    before_deploy = "./current/api migrate"
    timeout       = "90s"
  }
}
app "v6" {
  command = ["/bin/v6"]
  listen  = ["[::1]:8080", "127.0.0.1:8081"]
  ready {
    http = "/healthz"
  }
}
signal "sighup" {
  action = "forward"
  send   = "usr2"
}
signal "Usr2" {
  action = "deploy"
  apps   = ["api"]
}

# An assets-only app: files kept on the newest release, nothing runs.
app "static" {
  assets   = true
  registry = "file"
  dir      = "/srv/static"
  hooks {
    after_deploy = "nginx -s reload"
  }
}
