# etcd.sh - sourced by scripts/bench/run.sh (and tests/e2e_bench.sh).
#
# etcd_start DATA_DIR LOG CLIENT_PORT PEER_PORT: start a one-member etcd
# on 127.0.0.1 and wait until it serves.  Sets ETCD_PID and returns 0; or
# returns 1 with ETCD_PID empty if it exited or did not serve within 30 s.
# The wait is what tells our etcd from another: when a port is taken
# (another bench's etcd, one left over), ours exits at once ("bind:
# address already in use") while the other answers on the port, and the
# bench measured that one, and ran its shared part there, in silence.
etcd_start() {
	etcd --name bench --data-dir "$1" \
		--listen-client-urls "http://127.0.0.1:$3" \
		--advertise-client-urls "http://127.0.0.1:$3" \
		--listen-peer-urls "http://127.0.0.1:$4" \
		--initial-advertise-peer-urls "http://127.0.0.1:$4" \
		--initial-cluster "bench=http://127.0.0.1:$4" \
		>"$2" 2>&1 &
	ETCD_PID=$!
	_i=0
	while ! grep -q "ready to serve client requests" "$2"; do
		if ! kill -0 "$ETCD_PID" 2>/dev/null || [ $_i -ge 300 ]; then
			kill "$ETCD_PID" 2>/dev/null
			wait "$ETCD_PID" 2>/dev/null
			ETCD_PID=""
			return 1
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	return 0
}
