package procstat_test

import (
	"os"
	"testing"

	"github.com/ssegate/ssegate/internal/bench/procstat"
)

func TestSelf(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	rss, err := procstat.RSS(pid)
	if err != nil || rss <= 0 {
		t.Fatalf("RSS = %d, %v", rss, err)
	}
	for range 1_000_000 {
		_ = os.Getpid() // some CPU time
	}
	cpu, err := procstat.CPU(pid)
	if err != nil || cpu < 0 {
		t.Fatalf("CPU = %v, %v", cpu, err)
	}
	all, err := procstat.CPUWithChildren(pid)
	if err != nil || all < cpu {
		t.Fatalf("CPUWithChildren = %v, %v; CPU = %v", all, err, cpu)
	}
	busy, err := procstat.Busy()
	if err != nil || busy < cpu {
		t.Fatalf("Busy = %v, %v; CPU of this process = %v", busy, err, cpu)
	}
	load, err := procstat.LoadAvg()
	if err != nil || load[0] < 0 {
		t.Fatalf("LoadAvg = %v, %v", load, err)
	}
	if _, err := procstat.RSS(-1); err == nil {
		t.Error("RSS of no process: want an error")
	}
}
