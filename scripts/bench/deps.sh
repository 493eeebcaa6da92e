#!/bin/sh
# Debian packages make bench needs beyond the build's: SQLite's headers,
# etcd and gnuplot.  scripts/deps.sh installs them (as root) or prints
# the apt-get line.
exec sh "$(dirname "$0")/../deps.sh" libsqlite3-dev etcd-server gnuplot-nox
