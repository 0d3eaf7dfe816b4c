// Command ssebench measures the ssegate gateway side by side with its
// alternatives: `ssebench run` (what `make bench` runs) prints one markdown
// table and writes JSON. See package internal/bench.
package main

import (
	"os"

	"github.com/ssegate/ssegate/internal/bench"
)

func main() {
	os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr))
}
