#!/bin/bash
# usage: scripts/build.sh BUILDDIR [configure options...]
# Generates the build system when needed, configures BUILDDIR out of tree
# (again when the options or configure change) and builds it.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
shift
if [ ! -x "$src/configure" ] || [ "$src/configure.ac" -nt "$src/configure" ]; then
	"$src/autogen.sh" >/dev/null
fi
mkdir -p "$src/$dir"
cd "$src/$dir"
want="$*"
if [ ! -f Makefile ] || [ ! -f .configure-args ] || [ "$(cat .configure-args)" != "$want" ] ||
   [ "$src/configure" -nt Makefile ]; then
	"$src/configure" "$@" >configure.out 2>&1 || { tail -n 20 configure.out >&2; exit 1; }
	printf '%s' "$want" >.configure-args
fi
{ make -j"$(nproc)" && make -j"$(nproc)" check TESTS=; } >make.out 2>&1 ||
	{ grep -E -B2 -A6 "error|Error" make.out | head -n 60 >&2; exit 1; }
