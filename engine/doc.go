// Package engine is dewy's runtime: it takes a compiled plan.Plan and runs
// it. Engine.Run owns every long-running part: the process spawner, one
// supervisor per app (engine/supervisor) over the sockets dewy holds for it
// (engine/sockets), the event bus, and the dispatch loop, where a received
// signal is looked up in the plan's signal table and becomes an action
// (actions/), run against the engine through the actions.Target interface.
//
// Where a signal becomes an action: (*Engine).dispatch in dispatch.go.
//
// The engine never parses config: reloading calls the Reload function
// the caller injected, which returns a new plan or an error. The signal
// source, the clock-free parts of the world (environment, shim
// executable, logger, sd_notify socket) are injected through Options.
package engine
