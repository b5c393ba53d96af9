package proc

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/listener"
)

// ShimEnv is the marker that turns a started dewy executable into the shim.
const ShimEnv = "DEWY_SHIM"

const shimValue = "1"

func init() {
	// The shim must exec from the main thread (see the package comment):
	// locking during init keeps main.main on the main thread.
	if os.Getenv(ShimEnv) == shimValue {
		runtime.LockOSThread()
	}
}

// MaybeRunShim returns at once unless this process was started as a shim
// (the DEWY_SHIM marker is set). A shim never returns: it removes the
// marker, sets LISTEN_PID to its own pid when LISTEN_FDS is set, resolves
// os.Args[0] in its PATH (the app's) and execs the app with os.Args, or
// exits 127 after printing why on stderr.
//
// Call it first thing in main (and in TestMain), before anything starts
// goroutines that could hold locks or write to the app's output.
func MaybeRunShim() {
	if os.Getenv(ShimEnv) != shimValue {
		return
	}
	os.Exit(runShim())
}

func runShim() int {
	_ = os.Unsetenv(ShimEnv)
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "dewy shim: "+format+"\n", args...)
		return 127
	}
	if len(os.Args) == 0 || os.Args[0] == "" {
		return fail("no command to run")
	}
	if os.Getenv(listener.EnvListenFDs) != "" {
		if err := os.Setenv(listener.EnvListenPID, strconv.Itoa(os.Getpid())); err != nil {
			return fail("set LISTEN_PID: %v", err)
		}
	}
	path, err := exec.LookPath(os.Args[0])
	if err != nil {
		return fail("cannot run the app: %v (PATH=%q, working directory %s)", err, os.Getenv("PATH"), cwd())
	}
	err = unix.Exec(path, os.Args, os.Environ())
	return fail("exec %s: %v", path, err)
}

func cwd() string {
	d, err := os.Getwd()
	if err != nil {
		return "unknown"
	}
	return d
}
