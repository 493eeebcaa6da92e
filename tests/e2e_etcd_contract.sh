#!/bin/bash
# The contract walk on etcd: the end-to-end scripts of a local store run
# again with their mounts on an etcd prefix (E2E_STORE_BASE in
# lib_e2e.sh), so every rule they check holds on both backends.  Checks
# that only a local store can pass (a second mount of the same store is
# refused) are left out there with local_only.  Each check is reported
# here as "[etcd SCRIPT] ...".  Also: what recfs says about etcd URLs
# that are wrong or lead nowhere.
. "$(dirname "$0")/lib_e2e.sh"
. "$(dirname "$0")/lib_etcd.sh"

for tool in "$ETCD_BIN" curl ss; do
	if ! command -v "$tool" >/dev/null; then
		echo "# SKIP e2e_etcd_contract: $tool is missing (apt-get install etcd-server curl iproute2)"
		exit 0
	fi
done
etcd_start || { fail "etcd starts"; finish; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)

for s in e2e_mount e2e_races e2e_editors e2e_posix e2e_stress e2e_check_model \
	e2e_posix_diff; do
	E2E_STORE_BASE="etcd://$ETCD_EP/contract-$s" BUILD="$BUILD" \
		timeout 900 bash "$HERE/$s.sh" > "$WORK/$s.out" 2>&1
	rc=$?
	while IFS= read -r line; do
		case "$line" in
		"ok "*) ok "[etcd $s] ${line#* - }" ;;
		"not ok "*) fail "[etcd $s] ${line#* - }" ;;
		esac
	done < "$WORK/$s.out"
	if [ "$rc" -ne 0 ] && ! grep -q '^not ok ' "$WORK/$s.out"; then
		fail "[etcd $s] the script exited $rc"
		sed 's/^/# /' "$WORK/$s.out" | tail -n 20
	fi
done

# ---- URLs that are wrong, or lead nowhere -------------------------------
mkdir -p "$WORK/mnt.url"
t0=$(date +%s%N)
out=$(timeout 60 "$RECFS" "etcd://127.0.0.1:$ETCD_PORT" "$WORK/mnt.url" -f 2>&1); rc=$?
expect_eq "an etcd URL without a prefix exits 1" 1 "$rc"
check "and says what a URL looks like ($out)" has "$out" "etcd://HOST:PORT"
port=$(free_port)
t0=$(date +%s%N)
out=$(timeout 60 "$RECFS" "etcd://127.0.0.1:$port/p" "$WORK/mnt.url" -f 2>&1); rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "an etcd nobody answers on exits 1" 1 "$rc"
check "within 10 s (${ms} ms)" test "$ms" -lt 10000
check "and names the endpoint ($out)" has "$out" "127.0.0.1:$port"
check "and nothing is mounted" bash -c "! mountpoint -q '$WORK/mnt.url'"
finish
