package units

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// limitsUnit is a unit file whose template has keys, on line 5 onwards.
func limitsUnit(keys string) string {
	return "kind = \"replicated\"\n[template]\nlabels = { app = \"a\" }\ncommand = [\"x\"]\n" + keys + "\n"
}

func TestParseResources(t *testing.T) {
	for _, c := range []struct {
		keys string
		want Resources
	}{
		{``, Resources{}},
		{`memory_max = "512M"`, Resources{MemoryMax: 512 << 20}},
		{`memory_max = "1G"`, Resources{MemoryMax: 1 << 30}},
		{`memory_max = "1.5G"`, Resources{MemoryMax: 3 << 29}},
		{`memory_max = "2T"`, Resources{MemoryMax: 2 << 40}},
		{`memory_max = 536870912`, Resources{MemoryMax: 512 << 20}},
		{`memory_max = "1048576"`, Resources{MemoryMax: 1 << 20}},
		{`memory_max = "2097152B"`, Resources{MemoryMax: 2 << 20}},
		{`memory_max = "infinity"`, Resources{}},
		{`cpu_max = "150%"`, Resources{CPUMax: 15000}},
		{`cpu_max = "1%"`, Resources{CPUMax: 100}},
		{`cpu_max = "12.5%"`, Resources{CPUMax: 1250}},
		{`cpu_max = "819200%"`, Resources{CPUMax: MaxCPUQuota}},
		{`cpu_max = "infinity"`, Resources{}},
		{`pids_max = 100`, Resources{PidsMax: 100}},
		{`pids_max = 1`, Resources{PidsMax: 1}},
		{`pids_max = 4194304`, Resources{PidsMax: MaxPids}},
		{`pids_max = "infinity"`, Resources{}},
		{"memory_max = \"512M\"\ncpu_max = \"150%\"\npids_max = 100", Resources{MemoryMax: 512 << 20, CPUMax: 15000, PidsMax: 100}},
	} {
		u, err := Parse("u.toml", []byte(limitsUnit(c.keys)))
		if err != nil {
			t.Errorf("%s: %v", c.keys, err)
			continue
		}
		if u.Template.Resources != c.want {
			t.Errorf("%s: %+v, want %+v", c.keys, u.Template.Resources, c.want)
		}
	}
}

// Every refusal names file, line and key, as every other unit file
// error does, and says what would do.
func TestParseResourcesErrors(t *testing.T) {
	for _, c := range []struct{ keys, want string }{
		{`memory_max = 0`, `u.toml:5: template.memory_max: 0 is no memory at all (want at least "1M", or "infinity" for no limit)`},
		{`memory_max = "0"`, `u.toml:5: template.memory_max: "0" is no memory at all (want at least "1M", or "infinity" for no limit)`},
		{`memory_max = "0M"`, `u.toml:5: template.memory_max: "0M" is no memory at all (want at least "1M", or "infinity" for no limit)`},
		{`memory_max = -1`, `u.toml:5: template.memory_max: -1 is negative (want at least "1M", or "infinity")`},
		{`memory_max = "-512M"`, `u.toml:5: template.memory_max: "-512M" is negative (want at least "1M", or "infinity")`},
		{`memory_max = 512`, `u.toml:5: template.memory_max: 512 bytes is too little to run a process (want at least "1M"; a number without a suffix is bytes: did you mean "512M"?)`},
		{`memory_max = "64K"`, `u.toml:5: template.memory_max: "64K" is too little to run a process (want at least "1M")`},
		{`memory_max = "512Mi"`, `u.toml:5: template.memory_max: "512Mi" is not a size (want bytes, or a number with K, M, G, T, P or E (powers of 1024) like "512M" or "1.5G", or "infinity")`},
		{`memory_max = "512MB"`, `u.toml:5: template.memory_max: "512MB" is not a size (want bytes, or a number with K, M, G, T, P or E (powers of 1024) like "512M" or "1.5G", or "infinity")`},
		{`memory_max = "512m"`, `u.toml:5: template.memory_max: "512m" is not a size (want bytes, or a number with K, M, G, T, P or E (powers of 1024) like "512M" or "1.5G", or "infinity")`},
		{`memory_max = "lots"`, `u.toml:5: template.memory_max: "lots" is not a size (want bytes, or a number with K, M, G, T, P or E (powers of 1024) like "512M" or "1.5G", or "infinity")`},
		{`memory_max = "1048576.5"`, `u.toml:5: template.memory_max: "1048576.5" is not a size (want bytes, or a number with K, M, G, T, P or E (powers of 1024) like "512M" or "1.5G", or "infinity")`},
		{`memory_max = "1.G"`, `u.toml:5: template.memory_max: "1.G" is not a size (want bytes, or a number with K, M, G, T, P or E (powers of 1024) like "512M" or "1.5G", or "infinity")`},
		{`memory_max = ""`, `u.toml:5: template.memory_max: "" is not a size (want bytes, or a number with K, M, G, T, P or E (powers of 1024) like "512M" or "1.5G", or "infinity")`},
		{`memory_max = "8E"`, `u.toml:5: template.memory_max: "8E" is too large (want less than 8E, or "infinity")`},
		{`memory_max = "99999999999T"`, `u.toml:5: template.memory_max: "99999999999T" is too large (want less than 8E, or "infinity")`},
		{`memory_max = 1.5`, `u.toml:5: template.memory_max: want a size like "512M" or "infinity", or an integer of bytes, got float 1.5`},
		{`cpu_max = "0%"`, `u.toml:5: template.cpu_max: "0%" is less than 1%, the least the kernel allows (1ms in each 100ms)`},
		{`cpu_max = "0.5%"`, `u.toml:5: template.cpu_max: "0.5%" is less than 1%, the least the kernel allows (1ms in each 100ms)`},
		{`cpu_max = "-50%"`, `u.toml:5: template.cpu_max: "-50%" is negative (want a percentage of one CPU like "50%" or "150%", or "infinity")`},
		{`cpu_max = "150"`, `u.toml:5: template.cpu_max: "150" is not a percentage (want a percentage of one CPU like "50%" or "150%", or "infinity")`},
		{`cpu_max = "1.5"`, `u.toml:5: template.cpu_max: "1.5" is not a percentage (want a percentage of one CPU like "50%" or "150%", or "infinity")`},
		{`cpu_max = "150 %"`, `u.toml:5: template.cpu_max: "150 %" is not a percentage (want a percentage of one CPU like "50%" or "150%", or "infinity")`},
		{`cpu_max = "12.345%"`, `u.toml:5: template.cpu_max: "12.345%" has more than two decimals (want a percentage of one CPU like "50%" or "150%", or "infinity")`},
		{`cpu_max = "819201%"`, `u.toml:5: template.cpu_max: "819201%" is more than 819200%, 8192 CPUs, the most a Linux kernel runs on`},
		{`cpu_max = "99999999999999999999%"`, `u.toml:5: template.cpu_max: "99999999999999999999%" is more than 819200%, 8192 CPUs, the most a Linux kernel runs on`},
		{`cpu_max = 150`, `u.toml:5: template.cpu_max: want a percentage of one CPU like "50%" or "150%", or "infinity", got integer 150`},
		{`pids_max = 0`, `u.toml:5: template.pids_max: 0 would let the instance start no process at all (want from 1 to 4194304 tasks, or "infinity" for no limit)`},
		{`pids_max = -1`, `u.toml:5: template.pids_max: -1 is negative (want from 1 to 4194304 tasks, or "infinity")`},
		{`pids_max = 4194305`, `u.toml:5: template.pids_max: 4194305 is more than 4194304, the most pids a Linux host has (want from 1 to 4194304, or "infinity")`},
		{`pids_max = "100"`, `u.toml:5: template.pids_max: want an integer or "infinity", got string "100" (leave out the quotes)`},
		{`pids_max = "many"`, `u.toml:5: template.pids_max: want an integer of tasks like 100, or "infinity", got string "many"`},
		{`pids_max = true`, `u.toml:5: template.pids_max: want an integer of tasks like 100, or "infinity", got boolean true`},
		{`memory_max = "1X"` + "\ncpu_max = 2\npids_max = 0", `u.toml:5: template.memory_max: "1X" is not a size (want bytes, or a number with K, M, G, T, P or E (powers of 1024) like "512M" or "1.5G", or "infinity")
u.toml:6: template.cpu_max: want a percentage of one CPU like "50%" or "150%", or "infinity", got integer 2
u.toml:7: template.pids_max: 0 would let the instance start no process at all (want from 1 to 4194304 tasks, or "infinity" for no limit)`},
		{`memory-max = "1G"`, `u.toml:5: template.memory-max: unknown key (did you mean "memory_max"?)`},
		{`MemoryMax = "1G"`, `u.toml:5: template.MemoryMax: unknown key (did you mean "memory_max"?)`},
	} {
		_, err := Parse("u.toml", []byte(limitsUnit(c.keys)))
		if err == nil {
			t.Errorf("%s: no error", c.keys)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%s:\ngot  %s\nwant %s", c.keys, err, c.want)
		}
	}
}

func TestResourcesText(t *testing.T) {
	for _, c := range []struct {
		r        Resources
		describe string
	}{
		{Resources{}, ""},
		{Resources{MemoryMax: 512 << 20, CPUMax: 15000, PidsMax: 100}, "memory 512MiB, cpu 150%, pids 100"},
		{Resources{MemoryMax: 3 << 29}, "memory 1536MiB"},
		{Resources{MemoryMax: 1 << 30}, "memory 1GiB"},
		{Resources{MemoryMax: 1000000 << 10}, "memory 1000000KiB"},
		{Resources{MemoryMax: 1<<20 + 1}, "memory 1048577B"},
		{Resources{CPUMax: 1250}, "cpu 12.5%"},
		{Resources{CPUMax: 1225}, "cpu 12.25%"},
		{Resources{CPUMax: 100}, "cpu 1%"},
		{Resources{PidsMax: 1}, "pids 1"},
	} {
		if got := c.r.Describe(); got != c.describe {
			t.Errorf("%+v: Describe() = %q, want %q", c.r, got, c.describe)
		}
		if c.r.Empty() != (c.describe == "") {
			t.Errorf("%+v: Empty() = %v", c.r, c.r.Empty())
		}
	}
	// cpu.max is "<quota> <period>" in microseconds.
	for q, want := range map[CPUQuota]int64{15000: 150000, 100: 1000, 1250: 12500, 5000: 50000, 40000: 400000} {
		if got := q.Micros(); got != want {
			t.Errorf("%v.Micros() = %d, want %d", q, got, want)
		}
	}
}

// The limits survive the JSON form units travel in between hosts.
func TestResourcesJSONRoundTrip(t *testing.T) {
	u := mustParse(t, "u.toml", limitsUnit("memory_max = \"512M\"\ncpu_max = \"12.5%\"\npids_max = 64"))
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var back Unit
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, u) {
		t.Errorf("round trip: %+v, want %+v", back.Template.Resources, u.Template.Resources)
	}
	if fmt.Sprint(back.Template.Resources) != fmt.Sprint(Resources{MemoryMax: 512 << 20, CPUMax: 1250, PidsMax: 64}) {
		t.Errorf("resources %+v", back.Template.Resources)
	}
}
