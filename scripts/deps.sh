#!/bin/sh
# Make sure the Debian packages recfs builds and tests with are installed.
# As root: apt-get update once, then apt-get install -y of what is missing.
# Otherwise: print the exact command and fail.
# Build: the first eight; tests: etcd-server (a real etcd for the etcd
# client), attr and the real tools the e2e tests drive (strace watches
# the daemon sync).
# Packages named as arguments replace the list (make bench uses that).
PKGS="build-essential pkg-config libfuse3-dev fuse3 libxxhash-dev libcmocka-dev libcurl4-openssl-dev libjansson-dev etcd-server attr python3 vim nano emacs-nox rsync make tmux strace git logrotate"
[ "$1" = --quiet ] && shift
[ $# -gt 0 ] && PKGS="$*"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2 && apt-get install -y -q $missing >&2 && exit 0
	echo "deps: apt-get failed" >&2
	exit 1
fi
echo "deps: missing packages; run as root:" >&2
echo "  apt-get update && apt-get install -y$missing" >&2
exit 1
