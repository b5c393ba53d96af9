notifier "ops" {
  url = "slack://deploys"
}

app "a" {
  command   = [] # ERROR: Empty command
  dir       = "opt/a" # relative: the file's folder's
  listen    = ["0.0.0.0:8080", "8081", "127.0.0.1:99999", "example.com:80", "unix:run/a.sock"] # ERROR: Invalid listen address # ERROR: Invalid listen address # ERROR: Invalid listen address # ERROR: Invalid listen address
  notifiers = ["opps"] # ERROR: Unknown notifier
  env_file  = "a.env" # relative: the file's folder's
  keep      = 0 # ERROR: Invalid keep
}

app "b" {
  command = ["/bin/b"]
  listen  = [":8080"] # ERROR: Duplicate listen address
  stop {
    signal = "TREM" # ERROR: Unknown signal
  }
  restart {
    policy  = "sometimes" # ERROR: Invalid policy
    backoff = "1ms" # ERROR: Backoff too short
    jitter  = "2" # ERROR: Invalid jitter
  }
  hooks {
    timeout = "0s" # ERROR: Invalid timeout
  }
}

app "b" { # ERROR: Duplicate app "b"
  command = ["/bin/b2"]
}

app "c" {
  command = "/bin/c" # ERROR: Incorrect attribute value type
  ready { # ERROR: Conflicting readiness checks
    http   = "/healthz"
    notify = true
  }
  ready {} # ERROR: Duplicate ready block
  output {
    file     = "/var/log/c.log"
    max_size = "lots" # ERROR: Invalid size
  }
  bogus {} # ERROR: Unsupported block type
}

app "d e" { # ERROR: Invalid app name
  command = ["/bin/d"]
  ready { # ERROR: Conflicting readiness checks
    http    = "ftp://x/healthz" # ERROR: Invalid http probe
    tcp     = "nope" # ERROR: Invalid tcp probe
    timeout = "0s" # ERROR: Invalid timeout
  }
}

app "static" {
  assets  = true # ERROR: Assets without a registry
  command = ["/bin/true"] # ERROR: Command in an assets app
}
