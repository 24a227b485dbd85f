package supervisor

import "testing"

func TestCgroup2Mount(t *testing.T) {
	const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	const unified = `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	const none = `22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
`
	const escaped = `41 31 0:38 / /mnt/my\040cgroups rw,relatime - cgroup2 none rw
`
	for _, tc := range []struct{ name, in, want string }{
		{"hybrid", hybrid, "/sys/fs/cgroup/unified"},
		{"unified", unified, "/sys/fs/cgroup"},
		{"none", none, ""},
		{"empty", "", ""},
		{"escaped", escaped, "/mnt/my cgroups"},
	} {
		if got := cgroup2Mount(tc.in); got != tc.want {
			t.Errorf("%s: cgroup2Mount = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestOwnCgroup(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"9:name=systemd:/\n8:pids:/\n0::/\n", "/"},
		{"0::/system.slice/tend.service\n", "/system.slice/tend.service"},
		{"9:name=systemd:/x\n", ""},
	} {
		if got := ownCgroup(tc.in); got != tc.want {
			t.Errorf("ownCgroup(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
