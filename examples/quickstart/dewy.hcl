# Quick start: the example HTTP app under dewy, on 127.0.0.1:8080.
# Build both binaries into ./bin first (see the README):
#
#   go build -o bin/ ./cmd/dewy ./examples/apps/httpserver
#   bin/dewy -c examples/quickstart/dewy.hcl --state-dir "$PWD/.dewy" --pid-file bin/dewy.pid
#
# then in another terminal:
#
#   curl -s 127.0.0.1:8080/            # pid and generation of the worker
#   kill -USR1 "$(cat bin/dewy.pid)"  # zero-downtime restart
app "hello" {
  # A relative path is relative to this file's folder: the repository's bin/.
  command = ["../../bin/httpserver", "-startup-delay", "300ms"]
  listen  = ["127.0.0.1:8080"]
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
