# /etc/dewy.hcl for dewy.service: the four example apps of examples/apps,
# supervised and restarted gracefully (no registry: `go build` them into
# /usr/local/bin yourself). `systemctl reload dewy` restarts them one
# generation at a time without dropping a request.
agent {
  log_format = "json" # one object per line in the journal
}

app "httpserver" {
  command = ["/usr/local/bin/httpserver", "-startup-delay", "300ms"]
  listen  = ["0.0.0.0:8080"]
  # A bare path: dewy probes it on the per-generation dewy-ready socket, which
  # only the new generation serves.
  ready {
    http    = "/healthz"
    timeout = "30s"
  }
  stop {
    signal  = "TERM"
    timeout = "30s"
  }
}

app "worker" {
  command = ["/usr/local/bin/worker", "-job-duration", "5s"]
  ready {
    notify = true
  }
  stop {
    signal  = "TERM"
    timeout = "30s" # above -job-duration, so a job is never cut short
  }
}

app "dbpool" {
  command = ["/usr/local/bin/dbpool", "-pool-size", "8"]
  listen  = ["127.0.0.1:8081"]
  ready {
    notify = true # sent once the pool is open
  }
}

app "websocket" {
  command = ["/usr/local/bin/websocket"]
  listen  = ["0.0.0.0:8082"]
  ready {
    notify = true
  }
  stop {
    signal  = "TERM"
    timeout = "20s" # above -close-timeout (10s)
  }
}
