registry "a" {
  url = "ghr://myorg" # ERROR: Invalid registry URL
}
registry "b" {
  url = "s3://ap-northeast-1" # ERROR: Invalid registry URL
}
registry "c" {
  url = "ftp://example.com/x" # ERROR: Invalid registry URL
}
registry "d" {
  url = "file://relative/dir" # ERROR: Invalid registry URL
}
registry "e" {
  url = "grpc://registry.internal" # ERROR: Invalid registry URL
}
registry "f" {
  url = "ghr://myorg/api?pre-releases=true" # ERROR: Invalid registry URL
}
registry "g" {
  url = "s3://us-east-1/bucket/prefix?endpoint=minio:9000" # ERROR: Invalid registry URL
}
registry "h" {
  url = "ghr://myorg/api?pre-release=yes please" # ERROR: Invalid registry URL
}
registry "i" {
  url      = "file:///srv/releases/i"
  interval = "100ms" # ERROR: Interval too short
}
registry "a" { # ERROR: Duplicate registry "a"
  url = "ghr://myorg/other"
}
registry "j" {} # ERROR: Missing required argument
notifier "n1" {
  url = "slak://deploys" # ERROR: Invalid notifier URL
}
notifier "n2" {
  url = "mail://smtp.example.com/ops@example.com" # ERROR: Invalid notifier URL
}
notifier "n3" {
  url = "mail://smtp.example.com:587/not-an-address" # ERROR: Invalid notifier URL
}
notifier "n4" {
  url = "https://" # ERROR: Invalid notifier URL
}
notifier "n5" {
  url = "deploys" # ERROR: Invalid notifier URL
}
