#!/bin/bash
# Installs what is missing, builds xident and starts the demo.
# Safe to run twice: a running demo is stopped and started afresh.
#   ./quickstart.sh          start the demo
#   ./quickstart.sh stop     stop it
#   ./quickstart.sh --standalone   xidentd (POP3) on the sample directory with
#                            sample Maildirs, in demo/standalone (needs root)
set -eu
cd "$(dirname "$0")"
src=$(pwd)
demo=$src/demo

if [ "${1:-}" = stop ]; then
	[ -x "$demo/stop" ] && "$demo/stop"
	[ -x "$demo/standalone/stop" ] && "$demo/standalone/stop"
	echo "quickstart: demo stopped"
	exit 0
fi

scripts/install-deps.sh
echo "quickstart: building (build/make.out has the details)"
scripts/build.sh build
[ -x "$demo/stop" ] && "$demo/stop" >/dev/null 2>&1 || true
mkdir -p "$demo"

if [ "${1:-}" = --standalone ]; then
	[ "$(id -u)" = 0 ] || { echo "quickstart: xidentd starts as root (it drops privileges per process)" >&2; exit 1; }
	sa=$demo/standalone
	[ -x "$sa/stop" ] && "$sa/stop" >/dev/null 2>&1 || true
	rm -rf "$sa"
	mkdir -p "$sa/vmail" "$sa/empty"
	chmod 755 "$sa" "$sa/vmail"
	ldap-schema/gen-sample --root "$sa" --uid 5000 --gid 5000 "$sa/sample.ldif" >/dev/null
	# Every mailbox home, owned by the sample's userdb uid/gid (5000).
	for home in $(sed -n 's/^xidentMailHome: //p' "$sa/sample.ldif"); do
		mkdir -p "$home/Maildir/new" "$home/Maildir/cur" "$home/Maildir/tmp"
		chown -R 5000:5000 "$home"
		chmod 700 "$home"
	done
	printf 'From: postmaster@example.com\nTo: johnd@example.com\nSubject: Welcome to xidentd\n\nLogged on as EXAMPLE\\jdoe, reading mailbox johnd.\n' \
		>"$sa/vmail/johnd/Maildir/new/1700000000.M1P1.quickstart"
	chown 5000:5000 "$sa/vmail/johnd/Maildir/new/1700000000.M1P1.quickstart"
	scripts/private-slapd.sh start "$sa/slapd" --sample "$sa/sample.ldif" --detach >/dev/null
	port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	umask 077
	printf 'ldap_bind_password = service-pw\n' >"$sa/xident.secrets"
	cat >"$sa/xident.conf" <<CONF
ldap_uris = $(cat "$sa/slapd/uri")
ldap_base_dn = dc=example,dc=com
ldap_bind_dn = cn=xident-service,ou=services,dc=example,dc=com
secrets_file = $sa/xident.secrets
default_domains = EXAMPLE BRANCH
server_name = mail1.example.com
pop3_listen = 127.0.0.1:$port
mail_root = $sa/vmail
xidentd_chroot = $sa/empty
CONF
	umask 022
	# Foreground in its own session, so that the events land in a file.
	setsid build/standalone/xidentd -F -c "$sa/xident.conf" -p "$sa/xidentd.pid" \
		</dev/null >>"$sa/xidentd.log" 2>&1 &
	for _ in $(seq 50); do
		/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
		[ -f "$sa/xidentd.log" ] && grep -q 'xidentd:' "$sa/xidentd.log" && { cat "$sa/xidentd.log" >&2; exit 1; }
		sleep 0.2
	done
	cat >"$sa/stop" <<STOP
#!/bin/bash
[ -f "$sa/xidentd.pid" ] && kill "\$(cat "$sa/xidentd.pid")" 2>/dev/null
"$src/scripts/private-slapd.sh" stop "$sa/slapd" >/dev/null 2>&1
exit 0
STOP
	chmod 755 "$sa/stop"
	cat <<MSG

xidentd is running on 127.0.0.1:$port (POP3) against a private slapd with the
sample directory; mail homes are in $sa/vmail.
  curl -u 'EXAMPLE\\jdoe:jdoe-pw' pop3://127.0.0.1:$port/1     (mailbox johnd)
  curl --login-options AUTH=NTLM -u 'EXAMPLE\\jdoe:jdoe-pw' pop3://127.0.0.1:$port/
  curl -u 'EXAMPLE\\mmiller:mmiller-pw' pop3://127.0.0.1:$port/   (refused: ambiguous)
Events: $sa/xidentd.log; config: $sa/xident.conf.
Stop it: ./quickstart.sh stop
MSG
	exit 0
fi

cat <<MSG

xident is built.
  CLI:    $src/build/tools/xident --help
  tests:  ./run-tests.sh
  config: doc/xident.conf.example (every key); check a file with
          $src/build/tools/xident config check FILE

(The demo directory server and mail server are added by later milestones;
 nothing was started.)
MSG
