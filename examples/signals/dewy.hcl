# Overriding the signal table. Each block replaces that one signal's
# shipped default; signals without a block keep theirs.
registry "api" {
  url = "file:///srv/releases/api"
}

app "api" {
  registry = "api"
  dir      = "/opt/api"
  command  = ["/opt/api/current/api"]
  listen   = ["0.0.0.0:8080"]
  ready {
    http = "/healthz"
  }
}

# The old flag-driven dewy restarted the app on HUP. This passes HUP on to
# the app instead, so it can reload its own config.
signal "HUP" {
  action = "forward"
}

# USR2: check the registries now instead of waiting for the next poll.
signal "USR2" {
  action = "deploy"
}

# WINCH: one status line per app in the log.
signal "WINCH" {
  action = "status"
}
