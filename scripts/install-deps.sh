#!/bin/bash
# Installs the Debian packages of scripts/debian-packages.txt that are missing.
# Runs `apt-get update` once, and only when something is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/debian-packages.txt")
missing=()
for p in "${wanted[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# A fresh log file: this runs as root, and a fixed name in /tmp could be a
# symbolic link someone else planted.
log=$(mktemp /tmp/xident-apt.XXXXXX)
apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1 || {
	tail -n 30 "$log" >&2
	echo "install-deps: apt-get install failed (log: $log)" >&2
	exit 1
}
rm -f "$log"
