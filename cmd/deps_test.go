package cmd_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The gateway binary is a gateway for anyone's services: it links none of
// the demo's generated packages, nor its services.
func TestGatewayLinksNoDemoCode(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/ssegate/ssegate/cmd/ssegate").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/ssegate/ssegate/services/") || strings.HasPrefix(pkg, "github.com/ssegate/ssegate/internal/app") ||
			strings.HasPrefix(pkg, "github.com/ssegate/ssegate/gen/ssegate/") && pkg != "github.com/ssegate/ssegate/gen/ssegate/v1" {
			t.Errorf("cmd/ssegate links %s", pkg)
		}
	}
}
