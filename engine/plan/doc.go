// Package plan is the immutable, compiled form of a dewy config: the apps,
// registries, notifiers, agent settings and the signal dispatch map with
// its shipped defaults. It holds no HCL types; config.Compile builds it and
// the engine runs it. A Plan is never modified after Compile returns:
// a reload compiles a new one and the engine applies the difference.
package plan
