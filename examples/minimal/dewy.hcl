# The smallest useful config: one app, its socket held by dewy, the
# shipped signal table (HUP ignored, USR1 graceful restart, INT/TERM/QUIT
# shutdown).
app "api" {
  command = ["/opt/api/bin/api"]
  listen  = ["0.0.0.0:8080"]
}
