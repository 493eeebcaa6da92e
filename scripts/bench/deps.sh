#!/bin/sh
# Debian packages make bench needs beyond the build's (scripts/deps.sh):
# SQLite's headers, etcd and gnuplot.  As root: apt-get install -y of what
# is missing.  Otherwise: print the exact command and fail.
PKGS="libsqlite3-dev etcd-server gnuplot-nox"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "bench deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2 && apt-get install -y -q $missing >&2 && exit 0
	echo "bench deps: apt-get failed" >&2
	exit 1
fi
echo "bench deps: missing packages; run as root:" >&2
echo "  apt-get update && apt-get install -y$missing" >&2
exit 1
