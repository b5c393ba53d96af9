// Package actions is dewy's action vocabulary: the things a signal can be
// mapped to in the `signal` table (ignore, restart, shutdown, forward,
// deploy, reload, rollback, reopen_logs, status).
//
// One list, Vocabulary, declares every action with its parameters. The
// config decoder validates `signal` blocks against it, the schema generator
// documents it, and the engine runs the Action each Def builds. An action
// works only through the small Target interface, so this package is a leaf:
// it imports none of dewy's other packages and starts nothing by itself.
//
// Call order: config.Compile turns a block into a Spec (checked by
// Def.Check); the engine calls New once per dispatch map entry and then Run
// for every signal that maps to it. Run may be called again while a previous
// Run of the same action is still going on only if the engine chooses so;
// the engine coalesces repeated signals per action.
package actions
