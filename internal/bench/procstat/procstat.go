// Package procstat reads one process's resident memory and CPU time from
// /proc (Linux only).
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTick = time.Second / 100

// RSS returns the resident set size of process pid (VmRSS), in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("procstat: unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		return kb << 10, err
	}
	return 0, errors.New("procstat: no VmRSS")
}

// CPU returns the user plus system CPU time process pid has used, all its
// threads together, to the resolution of a clock tick (10 ms).
func CPU(pid int) (time.Duration, error) {
	return cpu(pid, 2)
}

// CPUWithChildren is CPU plus the CPU time of the children the process
// has waited for.
func CPUWithChildren(pid int) (time.Duration, error) {
	return cpu(pid, 4)
}

// cpu adds the first n of utime, stime, cutime and cstime.
func cpu(pid, n int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields are counted
	// after its closing parenthesis. utime, stime, cutime and cstime are
	// fields 14 to 17, the 12th to 15th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("procstat: malformed stat")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 15 {
		return 0, errors.New("procstat: short stat")
	}
	var ticks int64
	for _, field := range f[11 : 11+n] {
		t, err := strconv.ParseInt(string(field), 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += t
	}
	return time.Duration(ticks) * clockTick, nil
}

// Busy returns the CPU time the whole machine has spent busy (user, nice,
// system, irq, softirq, steal) since boot, all CPUs together.
func Busy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, errors.New("procstat: malformed /proc/stat")
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		t, err := strconv.ParseInt(string(f[i]), 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += t
	}
	return time.Duration(ticks) * clockTick, nil
}

// LoadAvg returns the 1, 5 and 15 minute load averages.
func LoadAvg() ([3]float64, error) {
	var out [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out, err
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return out, errors.New("procstat: malformed loadavg")
	}
	for i := range out {
		if out[i], err = strconv.ParseFloat(string(f[i]), 64); err != nil {
			return out, err
		}
	}
	return out, nil
}
