package units

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Resources are the limits of each run of an instance, written into its
// cgroup v2 before the run starts: the template's memory_max, cpu_max and
// pids_max, systemd's MemoryMax=, CPUQuota= and TasksMax=. A zero field is
// no limit, as "infinity" (or leaving the key out) says. The agent applies
// each where the host gives it the controller, and says where it cannot.
type Resources struct {
	MemoryMax ByteSize // memory.max: at least MinMemoryMax
	CPUMax    CPUQuota // cpu.max: from 1% to MaxCPUQuota
	PidsMax   int      // pids.max: tasks (processes and threads), from 1 to MaxPids
}

// Empty reports whether r limits nothing.
func (r Resources) Empty() bool { return r == Resources{} }

// Describe returns the limits set, as describe prints them:
// "memory 512MiB, cpu 150%, pids 100"; "" for none.
func (r Resources) Describe() string {
	var parts []string
	if r.MemoryMax > 0 {
		parts = append(parts, "memory "+r.MemoryMax.String())
	}
	if r.CPUMax > 0 {
		parts = append(parts, "cpu "+r.CPUMax.String())
	}
	if r.PidsMax > 0 {
		parts = append(parts, "pids "+strconv.Itoa(r.PidsMax))
	}
	return strings.Join(parts, ", ")
}

// Bounds of the limits. Below MinMemoryMax no process runs (a number
// without a suffix is bytes, and memory_max = 512 is more likely a
// forgotten "M" than a wish); MaxCPUQuota is 8192 CPUs, the most a Linux
// kernel is built for; MaxPids is the kernel's PID_MAX_LIMIT on 64-bit
// hosts, beyond which no pid_max goes.
const (
	MinMemoryMax = ByteSize(1 << 20) // "1M" in a unit file
	MaxCPUQuota  = CPUQuota(8192 * 100 * 100)
	MaxPids      = 1 << 22
)

// infinity is the word for no limit, as systemd has it.
const infinity = "infinity"

// ByteSize is an amount of memory in bytes. In unit files it is written
// as systemd writes MemoryMax=: an integer of bytes, or a string with a
// suffix K, M, G, T, P or E (powers of 1024: "512M", "1.5G").
type ByteSize int64

var sizeSuffixes = []struct {
	suffix string
	shift  uint
}{{"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}, {"P", 50}, {"E", 60}}

// String formats b in the largest binary unit it is a whole number of,
// "512MiB", "1536MiB", "1GiB", or in bytes, "1000000B".
func (b ByteSize) String() string {
	for k := len(sizeSuffixes) - 1; k >= 0; k-- {
		s := sizeSuffixes[k]
		if unit := ByteSize(1) << s.shift; b >= unit && b%unit == 0 {
			return strconv.FormatInt(int64(b/unit), 10) + s.suffix + "iB"
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

const errSize = `want bytes, or a number with K, M, G, T, P or E (powers of 1024) like "512M" or "1.5G", or "infinity"`

// parseMemoryMax reads memory_max's value: TOML integer bytes, or a
// string. "infinity" is 0, no limit.
func parseMemoryMax(data any) (ByteSize, error) {
	switch v := data.(type) {
	case int64:
		return checkMemoryMax(strconv.FormatInt(v, 10), v, true)
	case string:
		if v == infinity {
			return 0, nil
		}
		n, ok := parseSize(v)
		if !ok {
			return 0, fmt.Errorf("%q is not a size (%s)", v, errSize)
		}
		if n.Sign() < 0 {
			return 0, fmt.Errorf("%q is negative (want at least %s, or \"infinity\")", v, minMemoryText)
		}
		if !n.IsInt64() {
			return 0, fmt.Errorf("%q is too large (want less than 8E, or \"infinity\")", v)
		}
		return checkMemoryMax(strconv.Quote(v), n.Int64(), !strings.ContainsAny(v, "KMGTPEB"))
	}
	return 0, fmt.Errorf("want a size like \"512M\" or \"infinity\", or an integer of bytes, got %s", describeTOML(data))
}

// minMemoryText is MinMemoryMax as a unit file writes it.
const minMemoryText = `"1M"`

// checkMemoryMax bounds n, written as shown; bare says it had no suffix.
func checkMemoryMax(shown string, n int64, bare bool) (ByteSize, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%s is negative (want at least %s, or \"infinity\")", shown, minMemoryText)
	case n == 0:
		return 0, fmt.Errorf("%s is no memory at all (want at least %s, or \"infinity\" for no limit)", shown, minMemoryText)
	case ByteSize(n) < MinMemoryMax && bare:
		return 0, fmt.Errorf("%d bytes is too little to run a process (want at least %s; a number without a suffix is bytes: did you mean \"%dM\"?)", n, minMemoryText, n)
	case ByteSize(n) < MinMemoryMax:
		return 0, fmt.Errorf("%s is too little to run a process (want at least %s)", shown, minMemoryText)
	}
	return ByteSize(n), nil
}

// parseSize parses "512", "512M", "1.5G", "-1K" or "100B" exactly (a
// fraction only with a suffix); ok is false for anything else.
func parseSize(s string) (n *big.Int, ok bool) {
	num := strings.TrimSuffix(s, "B") // bytes, as systemd allows
	var shift uint
	if num == s {
		for _, sf := range sizeSuffixes {
			if t, found := strings.CutSuffix(s, sf.suffix); found {
				num, shift = t, sf.shift
				break
			}
		}
	}
	neg := false
	if t, found := strings.CutPrefix(num, "-"); found {
		num, neg = t, true
	}
	whole, frac, dot := strings.Cut(num, ".")
	if whole == "" || !allDigits(whole) || !allDigits(frac) || (dot && (frac == "" || shift == 0)) || len(num) > 40 {
		return nil, false
	}
	v, _ := new(big.Int).SetString(whole+frac, 10)
	v.Lsh(v, shift)
	v.Quo(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil))
	if neg {
		v.Neg(v)
	}
	return v, true
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// CPUQuota is CPU time as a share of one CPU, in hundredths of a percent:
// 15000 is "150%", one and a half CPUs. In unit files it is written as
// systemd writes CPUQuota=, a percentage with at most two decimals.
type CPUQuota int64

// String formats q as a percentage: "150%", "12.5%".
func (q CPUQuota) String() string {
	s := strconv.FormatInt(int64(q/100), 10)
	if f := q % 100; f != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%02d", f), "0")
	}
	return s + "%"
}

// CPUPeriod is the period of cpu.max, in microseconds: the kernel's
// default, 100ms.
const CPUPeriod = 100000

// Micros is the CPU time q allows per CPUPeriod, in microseconds: cpu.max
// is "<Micros> 100000".
func (q CPUQuota) Micros() int64 { return int64(q) * CPUPeriod / (100 * 100) }

const errQuota = `want a percentage of one CPU like "50%" or "150%", or "infinity"`

// parseCPUMax reads cpu_max's value. "infinity" is 0, no limit.
func parseCPUMax(data any) (CPUQuota, error) {
	s, ok := data.(string)
	if !ok {
		return 0, fmt.Errorf("%s, got %s", errQuota, describeTOML(data))
	}
	if s == infinity {
		return 0, nil
	}
	num, found := strings.CutSuffix(s, "%")
	neg := false
	if t, ok := strings.CutPrefix(num, "-"); ok {
		num, neg = t, true
	}
	whole, frac, dot := strings.Cut(num, ".")
	switch {
	case !found || whole == "" || !allDigits(whole) || !allDigits(frac) || (dot && frac == ""):
		return 0, fmt.Errorf("%q is not a percentage (%s)", s, errQuota)
	case len(frac) > 2:
		return 0, fmt.Errorf("%q has more than two decimals (%s)", s, errQuota)
	case neg:
		return 0, fmt.Errorf("%q is negative (%s)", s, errQuota)
	}
	n, err := strconv.ParseInt(whole+(frac + "00")[:2], 10, 64)
	if err != nil || n > int64(MaxCPUQuota) {
		n = int64(MaxCPUQuota) + 1 // too many digits to count
	}
	switch q := CPUQuota(n); {
	case q < 100:
		return 0, fmt.Errorf("%q is less than 1%%, the least the kernel allows (1ms in each 100ms)", s)
	case q > MaxCPUQuota:
		return 0, fmt.Errorf("%q is more than %s, %d CPUs, the most a Linux kernel runs on", s, MaxCPUQuota, MaxCPUQuota/10000)
	default:
		return q, nil
	}
}

// pidsMax is pids_max as the raw template holds it, for convert.
type pidsMax int

// parsePidsMax reads pids_max's value: an integer, or "infinity" (0, no
// limit).
func parsePidsMax(data any) (int, error) {
	switch v := data.(type) {
	case int64:
		switch {
		case v < 0:
			return 0, fmt.Errorf("%d is negative (want from 1 to %d tasks, or \"infinity\")", v, MaxPids)
		case v == 0:
			return 0, fmt.Errorf("0 would let the instance start no process at all (want from 1 to %d tasks, or \"infinity\" for no limit)", MaxPids)
		case v > MaxPids:
			return 0, fmt.Errorf("%d is more than %d, the most pids a Linux host has (want from 1 to %d, or \"infinity\")", v, MaxPids, MaxPids)
		}
		return int(v), nil
	case string:
		if v == infinity {
			return 0, nil
		}
		if _, err := strconv.Atoi(v); err == nil {
			return 0, fmt.Errorf("want an integer or \"infinity\", got string %q (leave out the quotes)", v)
		}
	}
	return 0, fmt.Errorf("want an integer of tasks like 100, or \"infinity\", got %s", describeTOML(data))
}
