# The config equivalent of the flag-driven dewy command line
#
#   dewy server --registry ghr://myorg/myapp --port 8080 --log-level debug \
#     -- /opt/myapp/current/myapp
#
# See README.md beside this file.
agent {
  log_level = "debug"
}

registry "myapp" {
  url = "ghr://myorg/myapp"
}

app "myapp" {
  registry = "myapp"
  dir      = "/opt/myapp"
  command  = ["/opt/myapp/current/myapp"]
  listen   = ["0.0.0.0:8080"]
}

# The flag-driven dewy restarted the app on HUP (its server-starter library
# caught HUP too). dewy now ignores HUP by default; keep the old behaviour:
signal "HUP" {
  action = "restart"
}
