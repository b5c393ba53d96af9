app "a" {
  command = ["/bin/a"
} # ERROR: Missing item separator
