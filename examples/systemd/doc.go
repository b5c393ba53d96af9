// Package systemd holds dewy's example systemd unit, dewy.service. It has no
// code: its test keeps the directives that dewy's shutdown and reload depend
// on (Type=notify, KillMode=mixed, a TimeoutStopSec above the apps' stop
// timeout, ...) from drifting.
package systemd
