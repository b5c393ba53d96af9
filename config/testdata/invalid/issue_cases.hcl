registry "api" {
  url      = "ghr://myorg/api"
  interval = "ten" # ERROR: Invalid duration
}

app "api" { # ERROR: Missing required argument
  registry = "apii" # ERROR: Unknown registry
  dir      = "/opt/api"
  comand   = ["/opt/api/current/api"] # ERROR: Unsupported argument
} # (the missing command is reported on the block header below)

signal "KILL" { action = "ignore" } # ERROR: Signal cannot be mapped
signal "USR9" { action = "ignore" } # ERROR: Unknown signal
signal "USR2" { action = "restrat" } # ERROR: Unknown action
signal "HUP" { action = "forward" }
signal "HUP" { action = "ignore" } # ERROR: Duplicate signal block "SIGHUP"
