# lib_etcd.sh - real etcd servers for end-to-end tests (bash).
#
# Source after lib_e2e.sh.  Starts Debian's etcd-server (ETCD_BIN,
# default /usr/bin/etcd) on free loopback ports with temporary data
# directories, one member or a 3-member cluster, and kills every etcd it
# started at exit (after unmounting the recfs mounts under $WORK, which
# talk to it), even when the test fails or is interrupted.
#
#   etcd_start             one member; sets ETCD_PORT, ETCD_PID, ETCD_EP
#   etcd_cluster_start     three members; sets ETCD_CPORTS[], ETCD_CPIDS[],
#                          ETCD_CEP ("127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3")
#   etcd_stop PID / etcd_cont PID / etcd_kill PID
#   etcd_restart           kill the one member (SIGKILL) and start it again
#                          on its ports and data; sets ETCD_PID
#   etcd_healthy PORT      etcd answers a v3 range on PORT
#   etcd_cleanup           kill them all (done by the EXIT trap)

ETCD_BIN=${ETCD_BIN:-/usr/bin/etcd}
ETCD_WORK=$(mktemp -d /tmp/recfs-etcd.XXXXXX)
ETCD_ALL_PIDS=()
ETCD_USED_PORTS=" "

# free_port: print a loopback TCP port in 20000-40000 that nothing
# listens on and that this script has not handed out yet.
free_port() {
	local p listening
	listening=$(ss -ltnH 2>/dev/null | awk '{print $4}' | sed 's/.*://' | tr '\n' ' ')
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 20001))
		case "$ETCD_USED_PORTS" in *" $p "*) continue ;; esac
		case " $listening " in *" $p "*) continue ;; esac
		ETCD_USED_PORTS="$ETCD_USED_PORTS$p "
		echo "$p"
		return 0
	done
	return 1
}

# etcd_healthy PORT: /health says true and a v3 range over the JSON
# gateway answers (the gateway is what recfs uses).
etcd_healthy() {
	curl -s -m 2 "http://127.0.0.1:$1/health" 2>/dev/null | grep -q '"health":"true"' &&
		curl -s -m 2 -X POST -d '{"key":"cmVhZHk="}' \
			"http://127.0.0.1:$1/v3/kv/range" 2>/dev/null | grep -q '"header"'
}

# _etcd_spawn NAME CPORT PPORT CLUSTER TOKEN: start one member in the
# background, a child of this shell (so it is reaped); sets SPAWNED.  Its log is $ETCD_WORK/NAME.log.
_etcd_spawn() {
	local name=$1 cp=$2 pp=$3 cluster=$4 token=$5
	local dir=$ETCD_WORK/$name
	mkdir -p "$dir"
	"$ETCD_BIN" --data-dir "$dir/data" --name "$name" \
		--listen-client-urls "http://127.0.0.1:$cp" \
		--advertise-client-urls "http://127.0.0.1:$cp" \
		--listen-peer-urls "http://127.0.0.1:$pp" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		--initial-cluster "$cluster" \
		--initial-cluster-token "$token" \
		--initial-cluster-state new >>"$ETCD_WORK/$name.log" 2>&1 &
	SPAWNED=$!
	ETCD_ALL_PIDS+=("$SPAWNED")
}

# _etcd_wait PORT PID SECONDS: until the member on PORT is healthy.
_etcd_wait() {
	local end=$((SECONDS + $3))
	while [ $SECONDS -lt "$end" ]; do
		kill -0 "$2" 2>/dev/null || return 1
		etcd_healthy "$1" && return 0
		sleep 0.1
	done
	return 1
}

# etcd_start: one member on free ports (a few tries, in case another
# program takes a port between the check and etcd's bind).
etcd_start() {
	local try cp pp name pid
	for try in 1 2 3 4 5; do
		cp=$(free_port) && pp=$(free_port) || return 1
		name=single$try.$cp
		_etcd_spawn "$name" "$cp" "$pp" "$name=http://127.0.0.1:$pp" "tok-$name"
		pid=$SPAWNED
		if _etcd_wait "$cp" "$pid" 30; then
			ETCD_PORT=$cp ETCD_PID=$pid ETCD_EP=127.0.0.1:$cp
			ETCD_NAME=$name ETCD_PPORT=$pp
			return 0
		fi
		echo "# etcd on port $cp did not come up (try $try); log:"
		tail -n 5 "$ETCD_WORK/$name.log" | sed 's/^/#   /'
		etcd_kill "$pid"
	done
	return 1
}

# etcd_cluster_start: three members on three loopback port pairs.
etcd_cluster_start() {
	local try i cps pps pids cluster tok good
	for try in 1 2 3; do
		cps=() pps=() pids=() cluster=
		for i in 1 2 3; do
			cps+=("$(free_port)") && pps+=("$(free_port)") || return 1
			cluster+="${cluster:+,}m$i.$try=http://127.0.0.1:${pps[$((i - 1))]}"
		done
		tok=tok-cluster-$try-$$
		for i in 1 2 3; do
			_etcd_spawn "m$i.$try" "${cps[$((i - 1))]}" "${pps[$((i - 1))]}" "$cluster" "$tok"
			pids+=("$SPAWNED")
		done
		good=1
		for i in 0 1 2; do
			_etcd_wait "${cps[$i]}" "${pids[$i]}" 40 || { good=0; break; }
		done
		if [ $good = 1 ]; then
			ETCD_CPORTS=("${cps[@]}") ETCD_CPIDS=("${pids[@]}")
			ETCD_CEP="127.0.0.1:${cps[0]},127.0.0.1:${cps[1]},127.0.0.1:${cps[2]}"
			return 0
		fi
		echo "# etcd cluster did not come up (try $try); logs:"
		for i in 1 2 3; do tail -n 3 "$ETCD_WORK/m$i.$try.log" | sed "s/^/#   m$i: /"; done
		for p in "${pids[@]}"; do etcd_kill "$p"; done
	done
	return 1
}

etcd_stop() { kill -STOP "$1" 2>/dev/null; }
etcd_cont() { kill -CONT "$1" 2>/dev/null; }
# etcd_kill PID: SIGKILL (a crash, no goodbye to its peers) and reap;
# only a member still alive (own_child): one killed and reaped before
# may have given its pid to another process since.
etcd_kill() {
	own_child "$1" || return 0
	kill -CONT "$1" 2>/dev/null
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# etcd_restart [SECONDS]: the member of etcd_start crashes (SIGKILL),
# stays down SECONDS (default 0), and starts again on its ports with its
# data, as after a host's reboot; until it is healthy (30 s at most).
etcd_restart() {
	local name=$ETCD_NAME
	etcd_kill "$ETCD_PID"
	sleep "${1:-0}"
	_etcd_spawn "$name" "$ETCD_PORT" "$ETCD_PPORT" \
		"$name=http://127.0.0.1:$ETCD_PPORT" "tok-$name"
	ETCD_PID=$SPAWNED
	_etcd_wait "$ETCD_PORT" "$ETCD_PID" 30
}

etcd_cleanup() {
	local p
	for p in "${ETCD_ALL_PIDS[@]}"; do etcd_kill "$p"; done
	ETCD_ALL_PIDS=()
	if [ "${FAILED:-0}" -gt 0 ]; then
		for l in "$ETCD_WORK"/*.log; do
			[ -s "$l" ] || continue
			echo "# $(basename "$l") (tail):"
			tail -n 5 "$l" | sed 's/^/#   /'
		done
	fi
	rm -rf "$ETCD_WORK"
}

# At exit: resume stopped members, unmount recfs (its daemons talk to
# etcd while they shut down), reap the daemons (SIGKILL after 10 s),
# then kill etcd, then lib_e2e's cleanup.
# Only this shell's live children (own_child): a daemon unmounted and
# reaped, or a member killed, long before may have given its pid to
# another process since (another test's daemon, unmounted by the
# SIGTERM mid-run; 2026-12-07).
_etcd_exit() {
	local rc=$? m p
	for p in "${ETCD_ALL_PIDS[@]}"; do
		own_child "$p" && kill -CONT "$p" 2>/dev/null
	done
	if [ -n "$WORK" ]; then
		for m in "$WORK"/mnt.*; do
			mounted "$m" && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
		done
	fi
	for p in "${PIDS[@]}"; do own_child "$p" && kill "$p" 2>/dev/null; done
	for _ in $(seq 100); do
		m=0
		for p in "${PIDS[@]}"; do own_child "$p" && m=1; done
		[ $m = 0 ] && break
		sleep 0.1
	done
	for p in "${PIDS[@]}"; do own_child "$p" && kill -KILL "$p" 2>/dev/null; done
	etcd_cleanup
	declare -F cleanup >/dev/null && cleanup
	exit "$rc"
}
trap _etcd_exit EXIT
trap 'exit 130' INT TERM
