# Quick start: dewy's main job on a fresh machine. The example HTTP app is
# published into a local file:// registry; dewy deploys it into
# .dewy/app/releases/<id>/, points .dewy/app/current at it, serves it on
# 127.0.0.1:8080, and deploys each newer version it finds with no request
# lost. From the repository's root (see the README):
#
#   go build -o .dewy/registry/v1.0.0/ ./examples/apps/httpserver && go build -o bin/ ./cmd/dewy &&
#     bin/dewy -c examples/quickstart/dewy.hcl --state-dir "$PWD/.dewy" --pid-file bin/dewy.pid
#
# then, in another terminal, publish v1.1.0 (built aside, renamed into place):
#
#   go build -o .dewy/registry/.v1.1.0/ ./examples/apps/httpserver && mv .dewy/registry/.v1.1.0 .dewy/registry/v1.1.0
#
# Relative paths are relative to this file's folder. `bin/dewy status -c
# examples/quickstart/dewy.hcl` asks the running dewy through its control socket.
agent {
  admin_socket = "../../.dewy/dewy.sock"
}

registry "local" {
  url      = "file:../../.dewy/registry"
  artifact = "httpserver" # the file in each version's folder
  interval = "2s"
}

app "hello" {
  registry = "local"
  dir      = "../../.dewy/app"
  command  = ["../../.dewy/app/current/httpserver", "-startup-delay", "300ms"]
  listen   = ["127.0.0.1:8080"]
  ready {
    http    = "/healthz"
    timeout = "10s"
  }
  stop {
    timeout = "10s"
  }
}

signal "WINCH" {
  action = "status"
}
