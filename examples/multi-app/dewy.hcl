# Several apps on one host: two HTTP services from GitHub Releases and S3,
# a background worker without sockets, and notifications.
agent {
  log_format = "json"
  state_dir  = "/var/lib/dewy"
}

registry "api" {
  url         = "ghr://myorg/api"
  pre_release = false
  interval    = "1m"
}

registry "web" {
  url      = "s3://ap-northeast-1/releases/web?endpoint=https://minio.internal:9000"
  artifact = "web_linux_amd64.tar.gz"
}

notifier "ops" {
  url   = "slack://deploys?title=prod"
  quiet = true
}

notifier "oncall" {
  url = "mail://smtp.example.com:587/oncall@example.com?from=dewy@example.com"
}

app "api" {
  registry  = "api"
  dir       = "/opt/api"
  command   = ["/opt/api/current/api", "--config", "/etc/api.conf"]
  listen    = ["0.0.0.0:8080", "[::]:8443"]
  notifiers = ["ops", "oncall"]
  env = {
    GOMAXPROCS = "2"
  }
  ready {
    notify  = true
    timeout = "20s"
  }
  stop {
    signal  = "TERM"
    timeout = "30s"
  }
}

app "web" {
  registry  = "web"
  dir       = "/opt/web"
  command   = ["/opt/web/current/web"]
  listen    = ["unix:/run/web/web.sock"]
  notifiers = ["ops"]
  ready {
    http = "/healthz"
  }
}

app "worker" {
  command  = ["/usr/local/bin/worker", "--queue", "default"]
  env_file = "/etc/worker.env"
  user     = "worker"
  restart {
    policy  = "on-failure"
    backoff = "2s"
  }
  output {
    file     = "/var/log/worker.log"
    max_size = "50MB"
    keep     = 3
  }
}

# Restart only the HTTP apps on USR1 (the default restarts every app with
# listeners, which here is the same; spelled out for clarity).
signal "USR1" {
  action = "restart"
  apps   = ["api", "web"]
}

# Let logrotate tell dewy to reopen the worker's log.
signal "USR2" {
  action = "reopen_logs"
  apps   = ["worker"]
}
