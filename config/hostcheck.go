package config

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/dewyhq/dewy/engine/plan"
)

// Checks against the machine the file is read on. They are warnings, not
// errors: `dewy validate` may run on a laptop for a file meant for a
// server. On the server, the same facts make a start fail, which dewy
// retries with backoff (the app is not given up); the warning says why
// before it happens.

// hostFacts caches what the checks look up, so a file of many apps costs
// one lookup per distinct user or folder.
type hostFacts struct {
	path    string // PATH, for a bare program name
	users   map[string]bool
	folders map[string]bool
}

func newHostFacts(environ []string) *hostFacts {
	h := &hostFacts{users: map[string]bool{}, folders: map[string]bool{}}
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			h.path = v
		}
	}
	return h
}

func (h *hostFacts) userExists(name string) bool {
	ok, seen := h.users[name]
	if !seen {
		_, err := user.Lookup(name)
		if err != nil {
			_, err = user.LookupId(name)
		}
		ok = err == nil
		h.users[name] = ok
	}
	return ok
}

func (h *hostFacts) folderExists(dir string) bool {
	ok, seen := h.folders[dir]
	if !seen {
		fi, err := os.Stat(dir)
		ok = err == nil && fi.IsDir()
		h.folders[dir] = ok
	}
	return ok
}

// findProgram reports where name is found in PATH, or "".
func (h *hostFacts) findProgram(name string) string {
	for _, d := range filepath.SplitList(h.path) {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		if isExecutable(filepath.Join(d, name)) {
			return filepath.Join(d, name)
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// checkHost warns about what would make the app's start fail here.
func (c *compiler) checkHost(b *AppBlock, app *plan.App) {
	if c.host == nil {
		return
	}
	const here = "on this machine. dewy will retry the start with backoff until it does; if this file is meant for another machine, ignore this."
	if len(app.Command) > 0 && app.Registry == "" {
		prog := app.Command[0]
		switch {
		case strings.Contains(prog, "/") && !isExecutable(prog):
			c.warnf(b.Command.ElemRange(0), "Command not found", "App %q runs %s, which does not exist or is not executable %s", b.Name, prog, here)
		case !strings.Contains(prog, "/") && app.Env["PATH"] == "" && c.host.findProgram(prog) == "":
			c.warnf(b.Command.ElemRange(0), "Command not found", "App %q runs %q, which is not in PATH (%s) %s", b.Name, prog, c.host.path, here)
		}
	}
	if app.EnvFile != "" {
		if f, err := os.Open(app.EnvFile); err != nil {
			c.warnf(b.EnvFile.Range, "env_file not readable", "App %q reads %s: %v, %s", b.Name, app.EnvFile, unwrapPathError(err), here)
		} else {
			_ = f.Close()
		}
	}
	if app.User != "" && !c.host.userExists(app.User) {
		c.warnf(b.User.Range, "Unknown user", "App %q runs as user %q, who does not exist %s", b.Name, app.User, here)
	}
	if app.Output.File != "" && b.Output != nil {
		if dir := filepath.Dir(app.Output.File); !c.host.folderExists(dir) {
			c.warnf(b.Output.File.Range, "Output folder missing", "App %q writes its output to %s, but the folder %s does not exist %s", b.Name, app.Output.File, dir, here)
		}
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
