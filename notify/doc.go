// Package notify tells people what dewy did: it turns the engine's events
// (engine/event) into messages and sends them to the configured
// notifiers, one sub-package per kind (slack, mail, webhook), all behind
// the one Notifier interface.
//
// The Dispatcher is the actor between the event bus and the notifiers. It
// routes each event to the notifiers of the apps the event is about and to
// the agent's own notifiers, filters quiet notifiers, holds back repeated
// errors, and hands each message to the notifier's own bounded queue,
// which one goroutine per notifier sends with a timeout. Nothing a
// notifier does (a server that hangs, refuses or rate-limits) can block a
// deploy, a restart, a signal or the shutdown: the bus never waits for the
// Dispatcher, the Dispatcher never waits for a notifier, and a full queue
// drops the message and counts it.
//
// It is not for the log: every event is already logged by the engine
// when it happens. It never logs a credential: notifiers keep their
// tokens, passwords, secret URLs and keys out of Name and of the errors
// Send returns.
package notify
