#!/bin/bash
# A private OpenLDAP slapd for tests and the demo: loopback only, a port
# chosen at run time, its own configuration and mdb database in DIR.
#
# usage: private-slapd.sh start DIR [--tls] [--sample FILE]... [--no-sample] [--no-syncprov] [--detach] [--owner PID]
#        private-slapd.sh stop DIR
#        private-slapd.sh status DIR
#
# start   writes DIR/slapd.conf (stock core, cosine, inetorgperson and nis
#         schemas plus ldap-schema/xident.schema; the indexes and ACLs of
#         ldap-schema/README.md; rootdn for loading; the syncprov overlay for
#         RFC 4533 clients), loads the LDIF files given with --sample (default
#         ldap-schema/sample.ldif) with slapadd, starts slapd and waits until
#         it has announced "slapd starting" (20 s at most).
#         Started again on a DIR that already holds a database, it reuses the
#         port(s), configuration and data without loading anything.
#         --no-sample  load nothing (an empty database under the suffix)
#         --no-syncprov  no syncprov overlay (a server without RFC 4533
#                 content synchronization, for the directory mirror's tests)
#         --tls   also a throwaway CA and server certificate (openssl CLI):
#                 ldaps:// on a second port and StartTLS on ldap://.
#         --detach  start slapd in its own session (for the demo; tests leave
#                 it in their process group so a crashed suite cannot leak it)
#         --owner PID  stop slapd when process PID ends, however it ends (a
#                 test suite passes its own pid: no slapd outlives its test)
# stop    stops slapd by the pid in DIR/pid and waits for it to exit.
# status  prints the URIs and exits 0 when running, else prints "stopped"
#         and exits 3.
#
# Files written in DIR: slapd.conf, db/, slapd.log, pid, port, uri,
# ldapi_uri, and with --tls: ldaps_port, ldaps_uri, ca_file (path of the CA
# certificate, PEM), tls/.
#
# Demo credentials (ldap-schema/README.md): rootdn cn=root,dc=example,dc=com
# password root-pw.  Runs slapd as the invoking user (root in our tests).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")

SUFFIX=dc=example,dc=com
ROOTDN=cn=root,$SUFFIX
ROOTPW=root-pw
SERVICE=cn=xident-service,ou=services,$SUFFIX
RESTRICTED=cn=xident-restricted,ou=services,$SUFFIX
ADMIN=cn=xident-admin,ou=services,$SUFFIX
SLAPD=${XI_SLAPD:-/usr/sbin/slapd}
SCHEMA_DIR=${XI_LDAP_SCHEMA_DIR:-/etc/ldap/schema}
MODULE_DIR=${XI_LDAP_MODULE_DIR:-/usr/lib/ldap}
START_TIMEOUT=20

die() {
	echo "private-slapd: $*" >&2
	exit 1
}

usage() {
	sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running_pid() { # prints the pid of DIR's slapd if it runs
	local dir=$1 pid
	[ -f "$dir/pid" ] || return 1
	pid=$(cat "$dir/pid")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	# A recycled pid must not be taken for our slapd.
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$SLAPD")" ] || return 1
	echo "$pid"
}

make_tls() {
	local t=$1/tls
	mkdir -p "$t"
	chmod 700 "$t"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$t/ca.key" -out "$t/ca.pem" -days 3 \
		-subj "/O=xident tests/CN=xident throwaway CA" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>"$t/openssl.log" ||
		die "openssl could not make the CA (see $t/openssl.log)"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$t/server.key" -out "$t/server.csr" \
		-subj "/O=xident tests/CN=localhost" 2>>"$t/openssl.log" ||
		die "openssl could not make the server key (see $t/openssl.log)"
	printf '%s\n' "subjectAltName=DNS:localhost,DNS:$(hostname),IP:127.0.0.1" \
		'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
		'extendedKeyUsage=serverAuth' >"$t/server.ext"
	openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" \
		-CAcreateserial -days 3 -extfile "$t/server.ext" -out "$t/server.pem" \
		2>>"$t/openssl.log" || die "openssl could not sign the server certificate"
	echo "$t/ca.pem" >"$1/ca_file"
}

write_conf() {
	local dir=$1 tls=$2 syncprov=$3 rootpw
	rootpw=$(slappasswd -h '{SSHA}' -s "$ROOTPW")
	{
		for s in core cosine inetorgperson nis; do
			echo "include $SCHEMA_DIR/$s.schema"
		done
		echo "include $src/ldap-schema/xident.schema"
		cat <<CONF
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
modulepath $MODULE_DIR
moduleload back_mdb
moduleload syncprov
# {SSHA512} and {ARGON2} userPassword values (binds in password_mode bind)
moduleload pw-sha2
moduleload argon2
sizelimit unlimited
# No "stats" log by default: slapd would format lines for every operation
# and hand each to syslog(), which retries connecting to /dev/log per line
# when no syslog daemon runs (none here); nothing reads them.  -d output
# (slapd.log) is not affected.  XI_SLAPD_LOGLEVEL=stats restores slapd's
# default, e.g. to compare.
loglevel ${XI_SLAPD_LOGLEVEL:-0}
CONF
		if [ "$tls" = yes ]; then
			cat <<CONF
TLSCACertificateFile $dir/tls/ca.pem
TLSCertificateFile $dir/tls/server.pem
TLSCertificateKeyFile $dir/tls/server.key
TLSVerifyClient never
CONF
		fi
		cat <<CONF

database mdb
maxsize 1073741824
suffix $SUFFIX
rootdn $ROOTDN
rootpw $rootpw
directory $dir/db

# The indexes of ldap-schema/README.md.
index objectClass                                   eq
index xidentAccountName,xidentAlias                 eq,sub
index xidentDomain,xidentUserPrincipalName          eq
index xidentPrimaryAccount,xidentDelegate           eq
index mail                                          eq
index entryCSN,entryUUID                            eq

# The access model of ldap-schema/README.md.
access to *
	by dn.exact="$SERVICE" read
	by * break
access to attrs=userPassword
	by dn.exact="$ADMIN" =w
	by dn.exact="$SERVICE" read
	by anonymous auth
	by * none
access to attrs=xidentNTHash
	by dn.exact="$ADMIN" =w
	by dn.exact="$SERVICE" read
	by * none
access to filter=(objectClass=xidentMailbox)
	by dn.exact="$ADMIN" write
	by dn.exact="$RESTRICTED" none
	by * break
access to *
	by dn.exact="$ADMIN" write
	by users read
	by anonymous auth
CONF
		# RFC 4533 content synchronization for the directory mirror
		# (directory_mirror = yes): refreshAndPersist as the service
		# account; the session log lets a reconnecting mirror resume from
		# its cookie with the changes only.
		if [ "$syncprov" = yes ]; then
			cat <<CONF

overlay syncprov
syncprov-checkpoint 100 10
syncprov-sessionlog 10000
CONF
		fi
	} >"$dir/slapd.conf"
}

# Starts slapd on the ports recorded in DIR; returns non-zero when it exits
# before announcing itself (e.g. the port was taken in the meantime).
launch() {
	local dir=$1 detach=$2 urls pid
	urls="ldap://127.0.0.1:$(cat "$dir/port")/"
	[ -f "$dir/ldaps_port" ] && urls="$urls ldaps://127.0.0.1:$(cat "$dir/ldaps_port")/"
	urls="$urls $(cat "$dir/ldapi_uri")"
	rm -f "$dir/ldapi"
	: >"$dir/slapd.log"
	# -d 1024 (the back-shell debug bit, unused with mdb) keeps slapd in the
	# foreground and prints only the always-on messages such as
	# "slapd starting"; the log is how we know it is listening.
	if [ "$detach" = yes ]; then
		setsid "$SLAPD" -d 1024 -f "$dir/slapd.conf" -h "$urls" </dev/null >>"$dir/slapd.log" 2>&1 &
	else
		"$SLAPD" -d 1024 -f "$dir/slapd.conf" -h "$urls" </dev/null >>"$dir/slapd.log" 2>&1 &
	fi
	pid=$!
	echo "$pid" >"$dir/pid"
	# tail ends when slapd exits (--pid), so a slapd that dies fails the wait
	# at once; timeout bounds a slapd that hangs.
	if timeout "$START_TIMEOUT" tail -s 0.02 -n +1 -F --pid="$pid" "$dir/slapd.log" 2>/dev/null |
		grep -q -m1 'slapd starting'; then
		return 0
	fi
	kill "$pid" 2>/dev/null || true
	return 1
}

cmd_start() {
	local dir="" tls=no detach=no owner="" samples=() no_sample=no syncprov=yes f fresh=no try
	while [ $# -gt 0 ]; do
		case "$1" in
		--tls) tls=yes ;;
		--detach) detach=yes ;;
		--owner) [ $# -ge 2 ] || usage; owner=$2; shift ;;
		--no-sample) no_sample=yes ;;
		--no-syncprov) syncprov=no ;;
		--sample) [ $# -ge 2 ] || usage; samples+=("$2"); shift ;;
		-*) usage ;;
		*) [ -z "$dir" ] || usage; dir=$1 ;;
		esac
		shift
	done
	[ -n "$dir" ] || usage
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if pid=$(running_pid "$dir"); then
		die "already running in $dir (pid $pid)"
	fi
	if [ ! -f "$dir/slapd.conf" ] || [ ! -f "$dir/db/data.mdb" ]; then
		fresh=yes
		[ ${#samples[@]} -gt 0 ] || [ "$no_sample" = yes ] ||
			samples=("$src/ldap-schema/sample.ldif")
		rm -rf "$dir/db" "$dir/tls"
		rm -f "$dir/ldaps_port" "$dir/ldaps_uri" "$dir/ca_file"
		mkdir -p "$dir/db"
		chmod 700 "$dir/db"
		[ "$tls" = yes ] && make_tls "$dir"
		write_conf "$dir" "$tls" "$syncprov"
		slaptest -u -f "$dir/slapd.conf" >"$dir/slaptest.log" 2>&1 ||
			die "slaptest refused $dir/slapd.conf: $(tail -n 3 "$dir/slaptest.log")"
		# -q: no per-entry sync (a fresh test database is rebuilt, never
		# repaired); schema checks still apply.
		for f in "${samples[@]}"; do
			[ -r "$f" ] || die "cannot read $f"
			slapadd -q -f "$dir/slapd.conf" -l "$f" >"$dir/slapadd.log" 2>&1 ||
				die "slapadd refused $f: $(tail -n 5 "$dir/slapadd.log")"
		done
		printf 'ldapi://%s\n' "$(printf '%s' "$dir/ldapi" | sed 's,/,%2F,g')" >"$dir/ldapi_uri"
	elif [ ${#samples[@]} -gt 0 ] || [ "$no_sample" = yes ]; then
		die "$dir already holds a database; --sample applies to a fresh DIR only"
	fi
	for try in 1 2 3; do
		if [ "$fresh" = yes ]; then
			# A port free a moment ago can be taken before slapd binds it:
			# a fresh DIR chooses again; a restart keeps its port.
			free_port >"$dir/port"
			[ -f "$dir/ca_file" ] && free_port >"$dir/ldaps_port"
		fi
		if launch "$dir" "$detach"; then
			echo "ldap://127.0.0.1:$(cat "$dir/port")" >"$dir/uri"
			if [ -f "$dir/ldaps_port" ]; then
				echo "ldaps://127.0.0.1:$(cat "$dir/ldaps_port")" >"$dir/ldaps_uri"
			fi
			if [ -n "$owner" ]; then
				# A watcher in our process group: when the owner ends, stop
				# slapd.  Its output goes nowhere so that a caller reading
				# our output is not kept waiting for it.
				(timeout 86400 tail --pid="$owner" -f /dev/null 2>/dev/null
				 "$0" stop "$dir") </dev/null >/dev/null 2>&1 &
			fi
			cmd_status "$dir"
			return 0
		fi
		[ "$fresh" = yes ] || break
		grep -q 'Address already in use' "$dir/slapd.log" || break
	done
	die "slapd did not start in $dir: $(tail -n 5 "$dir/slapd.log")"
}

cmd_stop() {
	local dir=${1:-} pid
	[ -n "$dir" ] || usage
	if ! pid=$(running_pid "$dir"); then
		echo "private-slapd: not running in $dir"
		return 0
	fi
	kill -TERM "$pid"
	if ! timeout 10 tail -s 0.02 --pid="$pid" -f /dev/null 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		timeout 5 tail -s 0.02 --pid="$pid" -f /dev/null 2>/dev/null || true
	fi
	rm -f "$dir/pid"
}

cmd_status() {
	local dir=${1:-} pid
	[ -n "$dir" ] || usage
	if pid=$(running_pid "$dir"); then
		echo "running pid $pid"
		echo "uri $(cat "$dir/uri" 2>/dev/null || echo "ldap://127.0.0.1:$(cat "$dir/port")")"
		[ -f "$dir/ldaps_uri" ] && echo "ldaps_uri $(cat "$dir/ldaps_uri")"
		[ -f "$dir/ca_file" ] && echo "ca_file $(cat "$dir/ca_file")"
		echo "ldapi_uri $(cat "$dir/ldapi_uri")"
		return 0
	fi
	echo "stopped"
	return 3
}

[ $# -ge 1 ] || usage
verb=$1
shift
case "$verb" in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
status) cmd_status "$@" ;;
*) usage ;;
esac
