#!/bin/bash
# Installs what is missing, builds xident and starts the demo.
# Safe to run twice: a running demo is stopped and started afresh.
#   ./quickstart.sh          start the demo
#   ./quickstart.sh stop     stop it
set -eu
cd "$(dirname "$0")"
src=$(pwd)
demo=$src/demo

if [ "${1:-}" = stop ]; then
	[ -x "$demo/stop" ] && "$demo/stop"
	echo "quickstart: demo stopped"
	exit 0
fi

scripts/install-deps.sh
echo "quickstart: building (build/make.out has the details)"
scripts/build.sh build
[ -x "$demo/stop" ] && "$demo/stop" >/dev/null 2>&1 || true
mkdir -p "$demo"

cat <<MSG

xident is built.
  CLI:    $src/build/tools/xident --help
  tests:  ./run-tests.sh
  config: doc/xident.conf.example (every key); check a file with
          $src/build/tools/xident config check FILE

(The demo directory server and mail server are added by later milestones;
 nothing was started.)
MSG
