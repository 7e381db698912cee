/**
 * The guest's /init: a busybox sh script (nothing else is in the initramfs but berth-exec, see
 * guest-exec.ts) that mounts the task's root over 9p, starts the workload as described by the
 * spec (guest-protocol.ts) and reports through the virtio-serial ports until the workload exits,
 * then powers the VM off. Lines on the control port stop the workload or start, kill and resize
 * commands run inside the guest (berth-exec).
 *
 * Dropping to numeric ids: busybox here has no chpst/setuidgid, and `su`/`chroot --userspec`
 * need a user database the image may not have. `busybox nsenter -r<root> -w<dir> -G <gid>
 * -S <uid>` without any namespace option does exactly chroot + chdir + setgroups(0) + setgid +
 * setuid + execvp, with numbers, and runs from the initramfs so the image needs no busybox.
 *
 * Output: one formatter per stream turns lines into CRI records (lines over 4000 bytes become P
 * records, then F), one write(2) each, so stdout and stderr records never tear each other. It is
 * a busybox sh loop reading a byte per read(2): under TCG 5,000 short lines took 7.8 s (their
 * sh generator included); a faster workload waits on the pipe, nothing is dropped.
 *
 * Any change to this text gives a new initramfs (its cache name hashes the archive).
 */

/** Applets the guest scripts run as commands; the initramfs links each to /bin/busybox. */
export const GUEST_APPLETS = [
  'sh', 'base64', 'cat', 'chown', 'env', 'hostname', 'insmod', 'ip', 'kill', 'mkdir', 'mkfifo', 'mount', 'mv', 'nsenter', 'poweroff',
  'readlink', 'rm', 'setsid', 'sleep', 'stty', 'sync', 'tee', 'telnetd', 'tr', 'tty', 'usleep', 'wc',
] as const;

// In this template literal `\${` and `\\` stand for the shell's `${` and `\`.
/**
 * Functions both guest scripts use (the init and berth-exec): finding a port by name, resolving a
 * path inside the image, and running something as the workload.
 */
export const GUEST_SHELL_FUNCTIONS = `# port NAME TRIES: the /dev node of the virtio-serial port called NAME, waiting up to TRIES x 10 ms.
port() {
	i=0
	while [ "$i" -lt "$2" ]; do
		for p in /sys/class/virtio-ports/*; do
			n=
			{ read -r n <"$p/name"; } 2>/dev/null
			[ "$n" = "$1" ] && [ -c "/dev/\${p##*/}" ] && { echo "/dev/\${p##*/}"; return 0; }
		done
		usleep 10000
		i=$((i + 1))
	done
	return 1
}

# inroot ROOT PATH: where PATH of the tree at ROOT is, following its symlinks as a process
# chrooted there would (absolute targets restart at ROOT); fails after 40 links. Printed, and
# left in $resolved for callers that spare the subshell.
inroot() {
	rest=\${2#/}; cur=; hops=0
	while [ -n "$rest" ]; do
		part=\${rest%%/*}
		case $rest in */*) rest=\${rest#*/} ;; *) rest= ;; esac
		case $part in '' | .) continue ;; ..) cur=\${cur%/*}; continue ;; esac
		if [ -L "$1$cur/$part" ]; then
			hops=$((hops + 1))
			[ "$hops" -le 40 ] || return 1
			t=$(readlink "$1$cur/$part")
			case $t in /*) cur= ;; esac
			rest=\${t#/}\${rest:+/$rest}
		else
			cur=$cur/$part
		fi
	done
	resolved=$1$cur
	echo "$resolved"
}

# as_workload VAR COUNT [WRAPPER…]: execs WRAPPER…, then \`env -i\` with the spec's environment,
# then nsenter into the workload's root and $workdir with its ids (busybox's chroot + chdir +
# setgid/setuid with numeric ids and no user database: -r root, -w dir, -G gid, -S uid, which
# also clears supplementary groups), then the argv in VAR_0…VAR_{COUNT-1}, looked up in the
# workload's own PATH. Needs the spec sourced.
as_workload() {
	var=$1 count=$2
	shift 2
	set -- "$@" env -i
	i=0
	while [ "$i" -lt "$spec_envc" ]; do eval 'v=$spec_env_'"$i"; set -- "$@" "$v"; i=$((i + 1)); done
	set -- "$@" /bin/busybox nsenter -r/newroot "-w$workdir" -G "$spec_gid" -S "$spec_uid" --
	i=0
	while [ "$i" -lt "$count" ]; do eval 'v=$'"\${var}_$i"; set -- "$@" "$v"; i=$((i + 1)); done
	exec "$@"
}
`;

/**
 * \`nic_up MAC ADDRESS/LEN GATEWAY\`, for both guest inits (this one and the disk root's): finds
 * the NIC with that MAC (waiting up to 3 s for its driver), gives it the address and the default
 * route, and leaves its name in \`$nic\`; calls the script's own \`fail\` when it cannot.
 */
export const NIC_UP_FUNCTION = `# nic_up MAC ADDRESS/LEN GATEWAY
nic_up() {
	nic=
	i=0
	while [ -z "$nic" ] && [ "$i" -lt 300 ]; do
		for n in /sys/class/net/*; do
			[ "$(cat "$n/address" 2>/dev/null)" = "$1" ] && nic=\${n##*/}
		done
		[ -n "$nic" ] || { usleep 10000; i=$((i + 1)); }
	done
	[ -n "$nic" ] || fail "no network interface with MAC $1"
	out=$({ ip link set dev "$nic" up && ip addr add "$2" dev "$nic" &&
		ip route add default via "$3" dev "$nic"; } 2>&1) || fail "network on $nic: $out"
}
`;

export const GUEST_INIT_SCRIPT = `#!/bin/busybox sh
# berth guest init: runs the workload of one \`runtime: vm\` task (busybox sh only).
# Reports on virtio-serial ports found by name; it never hangs: any failure becomes
# "error <what>" on the status port, then the VM powers off (and QEMU, run with -no-reboot, exits).
export PATH=/bin
umask 022
status_open=

say() { echo "berth-init: $*" >&2; }
status() { [ -n "$status_open" ] && echo "$*" >&3; }
fail() {
	trap - EXIT
	msg=$(printf '%s' "$*" | tr '\\n' ' ')
	say "error: $msg"
	status "error $msg"
	sync
	poweroff -f
	exit 1
}
# Should the script itself break, init exiting would panic the kernel: report first.
trap 'fail "init exited unexpectedly"' EXIT
${NIC_UP_FUNCTION}
# mnt TYPE SOURCE DIR [OPTIONS]
mnt() {
	out=$(mount -t "$1" \${4:+-o "$4"} "$2" "$3" 2>&1) || fail "mount $1 $2 on $3: $out"
}

${GUEST_SHELL_FUNCTIONS}
# civil_date DAYS: YYYY-MM-DD of a day number since 1970-01-01 (proleptic Gregorian, UTC).
civil_date() {
	z=$(($1 + 719468)); era=$((z / 146097)); doe=$((z - era * 146097))
	yoe=$(((doe - doe / 1460 + doe / 36524 - doe / 146096) / 365))
	doy=$((doe - (365 * yoe + yoe / 4 - yoe / 100))); mp=$(((5 * doy + 2) / 153))
	dd=$((doy - (153 * mp + 2) / 5 + 1)); mm=$((mp < 10 ? mp + 3 : mp - 9)); yy=$((yoe + era * 400 + (mm <= 2)))
	printf '%04d-%02d-%02d' "$yy" "$mm" "$dd"
}

# cri STREAM: each line of stdin as CRI records on stdout, one write each (printf writes up to
# 4 KiB at once): longer lines go out as 4000-byte partial (P) records, then a final (F) one.
# The time comes from ash's $EPOCHREALTIME (microseconds): no process per line.
cri() {
	day=
	while IFS= read -r line || [ -n "$line" ]; do
		now=$EPOCHREALTIME; s=\${now%.*}; us=\${now#*.}
		[ "$((s / 86400))" = "$day" ] || { day=$((s / 86400)); ymd=$(civil_date "$day"); }
		h=$((s % 86400 / 3600)); m=$((s % 3600 / 60)); x=$((s % 60))
		[ "$h" -gt 9 ] || h=0$h; [ "$m" -gt 9 ] || m=0$m; [ "$x" -gt 9 ] || x=0$x
		stamp=\${ymd}T$h:$m:$x.\${us}000Z
		while [ "\${#line}" -gt 4000 ]; do
			printf '%s %s P %s\\n' "$stamp" "$1" "\${line:0:4000}"
			line=\${line:4000}
		done
		printf '%s %s F %s\\n' "$stamp" "$1" "$line"
	done
}

# control: lines from the host on the control port (one host connection at a time), each
# answered "ok LINE" once carried out. The port stays open, so nothing a host writes is lost
# between connections; it reads end-of-file while no host is connected, and then the empty line
# written before reading again blocks until one is. "stop" sends SIGTERM to the workload's
# process group; kill and resize go to berth-exec (guest-exec.ts), exec too but in the
# background and detached: the next line is read at once, and pid 1 reaps it.
control() {
	exec 5<>"$control_port"
	while printf '\\n' >&5; do
		while IFS= read -r line <&5; do
			set -f
			set -- $line
			set +f
			case $1 in
			stop) say "stop requested"; kill -TERM -"$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null ;;
			exec) (berth-exec run "$2" "$3" "$4" </dev/null 3>&- 4>&- 5>&- &) ;;
			kill | resize) berth-exec "$@" </dev/null 3>&- 4>&- 5>&- ;;
			*) say "ignoring control line: $line" ;;
			esac
			printf 'ok %s\\n' "$line" >&5
		done
	done
}

# --- the guest's own file systems; stdout/stderr to the console when there is one
mount -t devtmpfs devtmpfs /dev
if true >/dev/console 2>/dev/null; then exec >/dev/console 2>&1; else exec >/dev/null 2>&1; fi
exec </dev/null
mnt proc proc /proc
mnt sysfs sysfs /sys
mnt tmpfs tmpfs /run mode=0755
# Commands run by berth-exec get a cgroup each, to end all they started; without cgroup2 it says so.
mkdir -p /run/cgroup && mount -t cgroup2 cgroup2 /run/cgroup 2>/dev/null || say "no cgroup2 in this kernel: berth-exec cannot run commands"

# --- drivers: the modules in load order (dependencies first)
modfail=
while read -r m; do
	[ -n "$m" ] || continue
	out=$(insmod "$m" 2>&1) || { say "insmod $m: $out"; modfail="$modfail \${m##*/}"; }
done </modules.order

# --- ports: status first, so that every later failure is reported
status_port=$(port berth.status 500) || fail "no virtio-serial port named berth.status\${modfail:+ (failed modules:$modfail)}"
exec 3>"$status_port"
status_open=1
if log_port=$(port berth.log 100); then exec 4>"$log_port"; else say "no berth.log port: output goes to the console"; exec 4>&1; fi
control_port=$(port berth.control 100) || say "no berth.control port: stop is not available"

# --- the workload's root (copy-on-write, from the host) and the task share, kept out of its tree
mnt 9p rootfs /newroot trans=virtio,version=9p2000.L,msize=262144
mnt 9p berth /berth trans=virtio,version=9p2000.L
[ -r /berth/spec ] || fail "the task share has no spec file"
out=$(sh -n /berth/spec 2>&1) || fail "spec is not valid: $out"
. /berth/spec
[ "$spec_version" = 1 ] || fail "spec version '$spec_version' is not 1"
for n in "$spec_uid" "$spec_gid" "$spec_argc" "$spec_envc"; do
	case $n in '' | *[!0-9]*) fail "spec: uid, gid, argc and envc must be numbers" ;; esac
done
[ "$spec_argc" -ge 1 ] || fail "spec: the command is empty"
case $spec_workdir in /*) ;; *) fail "spec: workdir '$spec_workdir' is not absolute" ;; esac

# --- what a container would find: /proc /sys /dev /dev/pts /dev/shm /tmp and the workdir,
# created when missing. Paths are resolved in the image's tree: its symlinks point into it.
rootdir() {
	d=$(inroot /newroot "$1") || fail "$1: too many levels of symbolic links in the image"
	[ -d "$d" ] || mkdir -p "$d" || fail "cannot create $1 in the root file system"
	echo "$d"
}
mnt proc proc "$(rootdir /proc)"
mnt sysfs sysfs "$(rootdir /sys)"
dev=$(rootdir /dev)
mnt devtmpfs devtmpfs "$dev"
mkdir -p "$dev/pts" "$dev/shm"
mnt devpts devpts "$dev/pts" gid=5,mode=620,ptmxmode=666
# The workload's terminals, also here: berth-exec's telnetd opens /dev/ptmx of this /dev.
mkdir -p /dev/pts && mount -o bind "$dev/pts" /dev/pts || say "no /dev/pts: berth-exec cannot open terminals"
mnt tmpfs shm "$dev/shm" mode=1777,nosuid,nodev
mnt tmpfs tmpfs "$(rootdir /tmp)" mode=1777,nosuid,nodev
workdir=$(rootdir "$spec_workdir")

# --- identity and network
hostname "$spec_hostname" || fail "cannot set the host name to '$spec_hostname'"
out=$(ip link set lo up 2>&1) || fail "bringing up lo: $out"
if [ -n "$spec_net_mac" ]; then nic_up "$spec_net_mac" "$spec_net_address" "$spec_net_gateway"; fi
status booted

# --- the workload. Its stdout and stderr go through fifos to one formatter each.
mkfifo /run/stdout /run/stderr || fail "cannot create the output fifos"
cri stdout </run/stdout >&4 &
out_pid=$!
cri stderr </run/stderr >&4 &
err_pid=$!
# setsid: a session (and process group) of its own, so "stop" reaches its children too.
(as_workload spec_arg "$spec_argc" setsid) </dev/null >/run/stdout 2>/run/stderr 3>&- 4>&- &
pid=$!
# "running" once the process has entered the new root, i.e. is about to exec the workload.
i=0
while [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = / ] && [ "$i" -lt 500 ]; do usleep 10000; i=$((i + 1)); done
status "running $pid"
ctl_pid=
[ -n "$control_port" ] && { control & ctl_pid=$!; }

wait "$pid"
code=$?
[ -n "$ctl_pid" ] && kill "$ctl_pid" 2>/dev/null
# Children may hold the pipes open after the workload ended: give the formatters 2 s to drain.
(usleep 2000000; kill "$out_pid" "$err_pid") 2>/dev/null &
wait "$out_pid" "$err_pid"
status "exited $code"
trap - EXIT
sync
poweroff -f
`;
