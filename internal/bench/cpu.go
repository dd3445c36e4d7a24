package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuMark is a reading of the machine's busy CPU time and of the part of it
// the bench and its processes (services, ClickHouse, go test) used, so a
// phase can tell how much other processes took from it.
type cpuMark struct {
	at         time.Time
	busy, ours float64 // CPU seconds
}

// clockTick is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTick = 100.0

func readCPU() cpuMark {
	m := cpuMark{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		// cpu user nice system idle iowait irq softirq steal ...
		for i, name := range []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq"} {
			if i+1 >= len(f) {
				break
			}
			v, _ := strconv.ParseFloat(f[i+1], 64)
			if name != "idle" && name != "iowait" {
				m.busy += v / clockTick
			}
		}
	}
	self := os.Getpid()
	parent := map[int]int{}
	times := map[int]float64{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		ppid, t, ok := procTimes(pid)
		if ok {
			parent[pid], times[pid] = ppid, t
		}
	}
	for pid, t := range times {
		for p := pid; p > 1; p = parent[p] {
			if p == self {
				m.ours += t
				break
			}
		}
	}
	return m
}

// procTimes reads a process's parent and its CPU time with that of its
// waited-for children, in seconds.
func procTimes(pid int) (ppid int, secs float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The command name may hold spaces: fields start after its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 15 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	for _, k := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, _ := strconv.ParseFloat(f[k], 64)
		secs += v / clockTick
	}
	return ppid, secs, true
}

// foreign is how many CPUs, on average, processes other than the bench's
// kept busy between two marks.
func foreign(a, b cpuMark) float64 {
	el := b.at.Sub(a.at).Seconds()
	if el <= 0 {
		return 0
	}
	return max(0, (b.busy-a.busy)-(b.ours-a.ours)) / el
}
