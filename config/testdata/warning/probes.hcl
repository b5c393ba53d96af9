app "api" {
  command = ["/opt/api/api"]
  listen  = ["0.0.0.0:8080"]
  hooks { # WARNING: Hooks without a registry
    before_deploy = "true"
  }
  ready {
    http  = "http://127.0.0.1:8080/healthz"
    delay = "2s" # WARNING: Delay ignored
  }
}

app "tcp" {
  command = ["/opt/tcp/tcp"]
  listen  = ["[::]:9000"]
  ready {
    tcp = "127.0.0.1:9000"
  }
}

notifier "hook" {
  url = "http://hooks.example.com/dewy" # WARNING: Plain HTTP webhook
}
