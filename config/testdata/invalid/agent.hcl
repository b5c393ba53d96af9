agent {
  log_level  = "verbose" # ERROR: Invalid log_level
  log_format = "text" # ERROR: Invalid log_format
  state_dir  = "var/lib/dewy" # ERROR: Invalid state_dir
  log_levle  = "debug" # ERROR: Unsupported argument
}
agent {} # ERROR: Duplicate agent block
service "x" {} # ERROR: Unsupported block type
