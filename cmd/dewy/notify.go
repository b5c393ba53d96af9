package main

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/engine/event"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/metrics"
	"github.com/dewyhq/dewy/notify"
	"github.com/dewyhq/dewy/notify/mail"
	"github.com/dewyhq/dewy/notify/slack"
	"github.com/dewyhq/dewy/notify/webhook"
)

// notifyCloseTimeout is how long the messages still queued at exit (the
// stop message) get to leave before dewy exits.
const notifyCloseTimeout = 5 * time.Second

// notifiers runs the notifiers of a plan beside the engine: made in
// startNotifiers, subscribed to bus before the engine publishes anything,
// and stopped by stop once the engine has returned.
type notifiers struct {
	d    *notify.Dispatcher
	defs map[string]plan.Notifier
	log  zerolog.Logger
	done chan struct{}
}

// startNotifiers makes every notifier of p and runs their dispatcher. A
// notifier that cannot be made (its token is not in the environment) is
// logged once and its messages fail, counted, until dewy restarts: the
// apps run regardless.
func startNotifiers(p *plan.Plan, bus *event.Bus, getenv func(string) string, host, version string, log zerolog.Logger) *notifiers {
	var targets []notify.Target
	for _, name := range slices.Sorted(maps.Keys(p.Notifiers)) {
		def := p.Notifiers[name]
		n, err := buildNotifier(def, getenv, host, version)
		if err != nil {
			log.Error().Str("notifier", name).Err(err).Msg("notifier cannot be used; its messages are not sent until dewy restarts with it fixed")
			n = notify.Broken(def.Scheme+" notifier "+name, err)
		}
		link := ""
		if def.Scheme != "http" && def.Scheme != "https" {
			link = def.URL.Query().Get("url")
		}
		targets = append(targets, notify.Target{Name: name, Notifier: n, Title: def.Title, URL: link, Quiet: def.Quiet})
		log.Debug().Str("notifier", name).Str("to", n.Name()).Bool("quiet", def.Quiet).Msg("notifier ready")
	}
	ns := &notifiers{
		d:    notify.New(bus, notify.Options{Targets: targets, Routes: routesOf(p), Host: host, Logger: log}),
		defs: p.Notifiers, log: log, done: make(chan struct{}),
	}
	go func() {
		defer close(ns.done)
		_ = ns.d.Run(context.Background())
	}()
	return ns
}

// stats are the notifiers' counts, for the metrics.
func (ns *notifiers) stats() []metrics.NotifierStats {
	var out []metrics.NotifierStats
	st := ns.d.Stats()
	for _, name := range slices.Sorted(maps.Keys(st)) {
		s := st[name]
		out = append(out, metrics.NotifierStats{Name: name, Sent: s.Sent, Failed: s.Failed, Dropped: s.Dropped})
	}
	return out
}

// buildNotifier makes the notifier of one block.
func buildNotifier(def plan.Notifier, getenv func(string) string, host, version string) (notify.Notifier, error) {
	switch def.Scheme {
	case "slack":
		o, err := slack.FromPlan(def, getenv)
		if err != nil {
			return nil, err
		}
		return slack.New(o)
	case "mail", "smtp":
		o, err := mail.FromPlan(def, getenv, host)
		if err != nil {
			return nil, err
		}
		return mail.New(o)
	case "http", "https":
		o, err := webhook.FromPlan(def, getenv)
		if err != nil {
			return nil, err
		}
		o.UserAgent = "dewy/" + version
		return webhook.New(o)
	}
	return nil, fmt.Errorf("notifier %q: no notifier for %s://", def.Name, def.Scheme)
}

// routesOf says who hears what in p.
func routesOf(p *plan.Plan) notify.Routes {
	r := notify.Routes{Apps: map[string][]string{}, Agent: p.Agent.Notifiers}
	for _, a := range p.Apps {
		r.Apps[a.Name] = a.Notifiers
	}
	return r
}

// applied follows a reload: who hears what changes at once; the notifier
// blocks themselves (URL, title, quiet, secret) are made once, so a
// change to them is logged as taking effect at the next start of dewy.
func (ns *notifiers) applied(p *plan.Plan) {
	ns.d.SetRoutes(routesOf(p))
	var changed []string
	for name, def := range p.Notifiers {
		old, ok := ns.defs[name]
		if !ok || !sameNotifier(old, def) {
			changed = append(changed, name)
		}
	}
	for name := range ns.defs {
		if _, ok := p.Notifiers[name]; !ok {
			changed = append(changed, name)
		}
	}
	if len(changed) > 0 {
		slices.Sort(changed)
		ns.log.Warn().Strs("notifiers", changed).Msg("reload: notifier blocks changed; the changes take effect when dewy restarts (who hears which app changed now)")
	}
}

func sameNotifier(a, b plan.Notifier) bool {
	a.Origin, b.Origin = "", ""
	return reflect.DeepEqual(a, b)
}

// stop delivers what is still queued (the stop message) within
// notifyCloseTimeout and ends the dispatcher.
func (ns *notifiers) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), notifyCloseTimeout)
	defer cancel()
	_ = ns.d.Close(ctx)
	<-ns.done
}
