package plan

import (
	"os/exec"
	"strings"
	"testing"
)

// TestEngineSeesOnlyThePlan: nothing under engine/ may depend on the config
// package or on HCL. The engine runs compiled plans; it never parses.
func TestEngineSeesOnlyThePlan(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	cmd := exec.Command("go", "list", "-deps", "./engine/...")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/dewyhq/dewy/config" || strings.HasPrefix(pkg, "github.com/dewyhq/dewy/config/") || strings.HasPrefix(pkg, "github.com/hashicorp/hcl") {
			t.Errorf("engine/... depends on %s", pkg)
		}
	}
}
