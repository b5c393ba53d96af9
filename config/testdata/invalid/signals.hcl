app "web" {
  command = ["/bin/web"]
}

signal "STOP" { action = "ignore" } # ERROR: Signal cannot be mapped
signal "CHLD" { action = "ignore" } # ERROR: Signal cannot be mapped
signal "sigpipe" { action = "ignore" } # ERROR: Signal cannot be mapped
signal "usr1" { action = "restart" }
signal "SIGUSR1" { action = "status" } # ERROR: Duplicate signal block "SIGUSR1"
signal "USR2" {
  action = "restart"
  apps   = ["wbe"] # ERROR: Unknown app
}
signal "WINCH" {
  action = "status"
  send   = "HUP" # ERROR: Unsupported action parameter
}
signal "TTIN" {
  action = "forward"
  send   = "HUPP" # ERROR: Unknown signal
}
signal "TTOU" {
  action = "forward"
  send   = "KILL" # ERROR: Signal cannot be forwarded
}
signal "ALRM" { # ERROR: Missing required argument
  actoin = "ignore" # ERROR: Unsupported argument
} # (the missing action is reported on the header)
signal "" { action = "ignore" } # ERROR: Unknown signal
signal "XCPU" {
  action = "shutdown"
  apps   = [] # ERROR: Unsupported action parameter # ERROR: Empty apps list
}
