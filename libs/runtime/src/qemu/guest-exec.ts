import { GUEST_SHELL_FUNCTIONS } from './guest-init';

/**
 * /bin/berth-exec: runs a command from the host inside the guest, as the workload runs (its root,
 * environment, workdir and ids), on one of EXEC_SLOTS slots of three virtio-serial ports
 * (guest-protocol.ts). The init's control loop starts it for `exec <slot> <id>`, `kill` and
 * `resize` lines; busybox sh and applets only.
 *
 * One exec: the spec comes base64-encoded on the control line (the host writes nothing where
 * the guest could plant symlinks); the slot's previous command is killed if its host went away
 * without ending it; the ports are opened and `exec/<id>.ready` written to the task share, so the
 * host connects to a clean slot. The command's first act (before exec'ing it) is to move into the slot's cgroup and
 * write one byte on the `in` port, a write that blocks until the host is connected: the host
 * knows it runs, and it cannot read its stdin before the host is there (the port reads
 * end-of-file while no host is). Killing is `cgroup.kill`, which reaches everything it started,
 * setsid or not. Its stdout and stderr go through fifos to `tee port | wc -c`, so the byte counts
 * in `exec/<id>.exit` tell the host when it has all of them: closing a port is nothing QEMU
 * passes on. Nothing is buffered beyond the fifos and the ports' queues, so a slow host blocks
 * the command. The host ends stdin by closing its end of `in` (half-close: QEMU passes all data
 * on first, then end-of-file).
 *
 * With a tty, busybox's `telnetd -i` runs on the `in` and `out` ports: it makes the pty and
 * starts this script again as its login program (BERTH_EXEC_ID set), which sets the size, runs
 * the command and then writes the exit marker (ttyExitMarker) on the terminal. It keeps the
 * terminal open until the host, having read the marker, kills the slot: telnetd drops what it
 * has not passed on when the terminal closes. Resizing is `stty -F` on the pty (SIGWINCH).
 */
// In this template literal `\${` and `\\` stand for the shell's `${` and `\`.
export const GUEST_EXEC_SCRIPT = `#!/bin/busybox sh
# berth-exec: one command of the host, run as the workload (busybox sh only).
#   berth-exec run SLOT ID SPEC     start exec ID (SPEC: base64) on slot SLOT (the init's control loop, detached)
#   berth-exec kill SLOT ID         kill it and everything it started
#   berth-exec resize SLOT ID R C   resize its terminal
#   BERTH_EXEC_ID=… berth-exec      the login program telnetd starts on its terminal
export PATH=/bin
cgroot=/run/cgroup
state=/run/exec
share=/berth/exec

${GUEST_SHELL_FUNCTIONS}
# killed SLOT ID: whether "kill SLOT ID" came (possibly before the command started).
killed() {
	k=
	{ read -r k <"$state/$1.killed"; } 2>/dev/null
	[ "$k" = "$2" ]
}

# found NAME: whether the workload finds command NAME (execvp would only say "No such file or
# directory"): a path (relative: from the workdir) that is in its root, or a file in a directory
# of its PATH (default /bin:/usr/bin, as busybox's execvp).
found() {
	case $1 in
	/*) inroot /newroot "$1" >/dev/null && [ -e "$resolved" ]; return ;;
	*/*) inroot /newroot "$spec_workdir/$1" >/dev/null && [ -e "$resolved" ]; return ;;
	esac
	dirs=/bin:/usr/bin
	i=0
	while [ "$i" -lt "$spec_envc" ]; do
		eval 'v=$spec_env_'"$i"
		case $v in PATH=*) dirs=\${v#PATH=} ;; esac
		i=$((i + 1))
	done
	# (inroot uses $rest, $cur, $part, $hops and $t)
	dirs=$dirs:
	while [ -n "$dirs" ]; do
		dir=\${dirs%%:*} dirs=\${dirs#*:}
		case $dir in /*) ;; *) dir=$spec_workdir/$dir ;; esac
		inroot /newroot "$dir/$1" >/dev/null && [ -f "$resolved" ] && return 0
	done
	return 1
}

# missing NAME: what the workload is told when NAME is not found, on stderr.
missing() {
	case $1 in
	*/*) echo "berth-exec: $1: file not found" >&2 ;;
	*) echo "berth-exec: $1: executable file not found in PATH" >&2 ;;
	esac
}

# spec FILE: the workload's spec and the exec's, sourced; $workdir resolved in the image as it is now.
spec() {
	out=$(sh -n "$1" 2>&1) || { echo "exec spec: $out"; return 1; }
	. /berth/spec
	. "$1"
	for n in "$exec_argc" "$exec_rows" "$exec_cols"; do
		case $n in '' | *[!0-9]*) echo "exec spec: argc, rows and cols must be numbers"; return 1 ;; esac
	done
	inroot /newroot "$spec_workdir" >/dev/null || { echo "$spec_workdir: too many levels of symbolic links"; return 1; }
	workdir=$resolved
}

run() {
	slot=$1 id=$2 cg=$cgroot/exec.$1 d=$state/$1 res=$share/$2
	case $slot in [0-9]) ;; *) exit 1 ;; esac
	case $id in '' | *[!0-9a-f]*) exit 1 ;; esac
	report() { printf '%s\\n' "$*" >"$res.tmp" && mv "$res.tmp" "$res.exit"; }
	fail() { report "error $*"; exit 1; }
	# The slot's last command, when its host went away without ending it.
	if [ -d "$cg" ]; then
		echo 1 >"$cg/cgroup.kill"
		i=0
		while read -r key value <"$cg/cgroup.events" && [ "$key $value" != 'populated 0' ]; do
			i=$((i + 1))
			[ "$i" -lt 500 ] || fail "the last command of slot $slot does not die"
			usleep 10000
		done
	fi
	[ -e "$cgroot/cgroup.controllers" ] && mkdir -p "$cg/cmd" && echo $$ >"$cg/cgroup.procs" ||
		fail "no cgroup for the command (the guest kernel needs cgroup2)"
	rm -rf "$d" && mkdir -p "$d" && echo "$id" >"$d/id" || fail "cannot make $d"
	printf '%s' "$3" | base64 -d >"$d/spec" || fail "exec spec: not base64"
	spec "$d/spec" >"$d/why" || fail "$(cat "$d/why")"
	in=$(port "berth.exec.$slot.in" 10) && out=$(port "berth.exec.$slot.out" 10) && err=$(port "berth.exec.$slot.err" 10) ||
		fail "no virtio-serial ports for exec slot $slot"
	mkfifo "$d/out" "$d/err" "$d/out.n" "$d/err.n" || fail "cannot make fifos in $d"
	exec 5<>"$in" 6>"$out" 7>"$err" || fail "cannot open the ports of exec slot $slot"
	: >"$res.ready" || fail "cannot write to the task share"
	if [ "$exec_tty" = 1 ]; then
		(
			read -r me _ </proc/self/stat
			echo "$me" >"$cg/cmd/cgroup.procs" || exit 126
			killed "$slot" "$id" && exit 137
			printf . >&0
			BERTH_EXEC_SLOT=$slot BERTH_EXEC_ID=$id exec setsid telnetd -i -f /dev/null -l /bin/berth-exec
		) <&5 >&6 2>/dev/null 5>&- 6>&- 7>&- &
		pid=$!
		exec 5<&- 6>&- 7>&-
		wait "$pid"
		code=$?
		counts="0 0"
	else
		wc -c <"$d/out.n" >"$d/out.count" &
		wc -c <"$d/err.n" >"$d/err.count" &
		tee "$d/out.n" <"$d/out" >&6 5>&- 7>&- &
		tee "$d/err.n" <"$d/err" >&7 5>&- 6>&- &
		(
			read -r me _ </proc/self/stat
			echo "$me" >"$cg/cmd/cgroup.procs" || { echo "berth-exec: cannot move into the cgroup of slot $slot" >&2; exit 126; }
			killed "$slot" "$id" && exit 137
			printf . >&0
			found "$exec_arg_0" || { missing "$exec_arg_0"; exit 127; }
			as_workload exec_arg "$exec_argc" setsid
		) <&5 >"$d/out" 2>"$d/err" 5>&- 6>&- 7>&- &
		pid=$!
		exec 5<&- 6>&- 7>&-
		wait "$pid"
		code=$?
		# Output ends when everything holding the fifos is gone, not when the command is.
		wait
		read -r o <"$d/out.count" && read -r e <"$d/err.count" || fail "lost the byte counts"
		counts="$o $e"
	fi
	# What the command left running (daemons) stays, outside the slot's cgroup.
	while read -r p; do echo "$p" >"$cgroot/cgroup.procs"; done <"$cg/cmd/cgroup.procs" 2>/dev/null
	report "exited $code $counts"
}

# login: telnetd's login program on the terminal of exec $BERTH_EXEC_ID.
login() {
	slot=$BERTH_EXEC_SLOT id=$BERTH_EXEC_ID
	spec "$state/$slot/spec" || exit 126
	tty >"$state/$slot/tty"
	chown "$spec_uid" "$(cat "$state/$slot/tty")" 2>/dev/null
	stty rows "$exec_rows" cols "$exec_cols"
	# Ctrl-C and Ctrl-\\ are for the command (a trap, unlike ignoring, is not inherited).
	trap : INT QUIT
	if found "$exec_arg_0"; then
		(as_workload exec_arg "$exec_argc")
		code=$?
	else
		missing "$exec_arg_0" 2>&1
		code=127
	fi
	trap '' INT QUIT TSTP HUP
	printf '\\033]berth-exit;%s;%s\\007' "$id" "$code"
	exec sleep 2147483647
}

# current SLOT ID: whether exec ID runs on slot SLOT.
current() {
	case $1 in [0-9]) ;; *) return 1 ;; esac
	[ "$(cat "$state/$1/id" 2>/dev/null)" = "$2" ]
}

case $1 in
run) run "$2" "$3" "$4" ;;
kill)
	case $2 in [0-9]) mkdir -p "$state" && echo "$3" >"$state/$2.killed" ;; esac
	current "$2" "$3" && echo 1 >"$cgroot/exec.$2/cmd/cgroup.kill"
	;;
resize) current "$2" "$3" && stty -F "$(cat "$state/$2/tty")" rows "$4" cols "$5" ;;
'') [ -n "$BERTH_EXEC_ID" ] && login ;;
*) echo "berth-exec: unknown command $1" >&2 ;;
esac
exit 0
`;
