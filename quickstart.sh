#!/bin/bash
# Installs what is missing, builds xident and starts the demo.
# Safe to run twice: a running demo is stopped and started afresh.
#   ./quickstart.sh          start the demo
#   ./quickstart.sh stop     stop it
#   ./quickstart.sh --standalone   xidentd (POP3, IMAP) on the sample directory with
#                            sample Maildirs, in demo/standalone (needs root)
set -eu
cd "$(dirname "$0")"
src=$(pwd)
demo=$src/demo

if [ "${1:-}" = stop ]; then
	if [ -x "$demo/stop" ]; then "$demo/stop"; fi
	if [ -x "$demo/standalone/stop" ]; then "$demo/standalone/stop"; fi
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
	imap_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
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
imap_listen = 127.0.0.1:$imap_port
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

xidentd is running on 127.0.0.1:$port (POP3) and 127.0.0.1:$imap_port (IMAP)
against a private slapd with the sample directory; mail homes are in
$sa/vmail.
  curl -u 'EXAMPLE\\jdoe:jdoe-pw' pop3://127.0.0.1:$port/1     (mailbox johnd)
  curl --login-options AUTH=NTLM -u 'EXAMPLE\\jdoe:jdoe-pw' pop3://127.0.0.1:$port/
  curl -u 'EXAMPLE\\mmiller:mmiller-pw' pop3://127.0.0.1:$port/   (refused: ambiguous)
  curl -u 'EXAMPLE\\jdoe:jdoe-pw' 'imap://127.0.0.1:$imap_port/INBOX;UID=1'
  curl --login-options AUTH=NTLM -u 'EXAMPLE\\jdoe:jdoe-pw' imap://127.0.0.1:$imap_port/
Events: $sa/xidentd.log; config: $sa/xident.conf.
Stop it: ./quickstart.sh stop
MSG
	exit 0
fi

# ---------------------------------------------------------------- the demo
# A private slapd (the sample directory of every seed case) and a private
# Dovecot with our modules, both on loopback ports chosen now.  Mail homes and
# Dovecot's runtime live under $var (traversable by the mail user, which the
# source tree may not be); the directory server lives in $demo/slapd.
var=${XI_DEMO_VAR:-/var/lib/xident-demo}
mods=$src/build/plugin/.libs
if [ ! -f "$mods/libauthdb_xident.so" ] || [ ! -f "$mods/libmech_ntlm.so" ]; then
	echo "quickstart: the Dovecot modules were not built (is dovecot-dev installed?)" >&2
	exit 1
fi
mkdir -p "$var/vmail"
chown mail:mail "$var/vmail"
chmod 0755 "$var"
ldap-schema/gen-sample --root "$var" --uid "$(id -u mail)" --gid "$(id -g mail)" "$demo/sample.ldif"
rm -rf "$demo/slapd"
scripts/private-slapd.sh start "$demo/slapd" --sample "$demo/sample.ldif" --detach >/dev/null
umask 077
cat >"$demo/xident.secrets" <<CONF
ldap_bind_password = service-pw
CONF
umask 022
cat >"$demo/xident.conf" <<CONF
# xident.conf of the demo (see doc/xident.conf.example for every key)
ldap_uris = $(cat "$demo/slapd/uri")
ldap_base_dn = dc=example,dc=com
ldap_bind_dn = cn=xident-service,ou=services,dc=example,dc=com
secrets_file = $demo/xident.secrets
default_domains = EXAMPLE BRANCH
server_name = mail1.example.com
ntlm_netbios_domain = EXAMPLE
ntlm_dns_domain = example.com
CONF
cat >"$demo/passdb.conf" <<CONF
passdb {
  driver = xident
  args = $demo/xident.conf
}
CONF
cat >"$demo/userdb.conf" <<CONF
userdb {
  driver = prefetch
}
userdb {
  driver = xident
  args = $demo/xident.conf
}
CONF
echo "import_environment = \$import_environment XIDENT_CONF=$demo/xident.conf" >"$demo/extra.conf"
cat >"$demo/stop" <<STOP
#!/bin/sh
# Stops the demo's Dovecot and slapd (by their pids).
/usr/bin/python3 "$src/tests/lib/dovecot.py" demo-stop "$var/dovecot"
"$src/scripts/private-slapd.sh" stop "$demo/slapd" >/dev/null 2>&1 || true
STOP
chmod +x "$demo/stop"
/usr/bin/python3 tests/lib/dovecot.py demo-start "$var/dovecot" \
	--module "$mods/libauthdb_xident.so" --module "$mods/libmech_ntlm.so" \
	--mechanisms "plain login ntlm" --passdb-file "$demo/passdb.conf" \
	--userdb-file "$demo/userdb.conf" --extra-file "$demo/extra.conf" >"$demo/ports" || {
	"$demo/stop"
	echo "quickstart: Dovecot did not start (see $var/dovecot/dovecot.log)" >&2
	exit 1
}
port() { sed -n "s/^$1=//p" "$demo/ports"; }
imap=$(port imap) imaps=$(port imaps) pop3=$(port pop3) pop3s=$(port pop3s)

cat <<MSG

xident is built and the demo is running.
  directory:  $(cat "$demo/slapd/uri")  (sample: ldap-schema/sample.ldif, passwords NAME-pw)
  Dovecot:    IMAP 127.0.0.1:$imap  IMAPS $imaps  POP3 $pop3  POP3S $pop3s  (self-signed)
  log:        $var/dovecot/dovecot.log  (grep event= for xident's events)

Three logons to try:
  # DOMAIN\account\alias: account jdoe opens mailbox johnd
  curl -v -u 'EXAMPLE\jdoe\johnd:jdoe-pw' imap://127.0.0.1:$imap/
  # the alias differs from the account (Exchange 5.5 refused this, Q324025)
  curl -v -u 'EXAMPLE\jdoe:jdoe-pw' pop3://127.0.0.1:$pop3/
  # NTLM ("Secure Password Authentication") naming a delegate mailbox
  curl -v --login-options AUTH=NTLM -u 'EXAMPLE\jdoe\helpdesk:jdoe-pw' imap://127.0.0.1:$imap/

Others: EXAMPLE\asmith\helpdesk (not a delegate: event 1023), EXAMPLE\olduser
(disabled), EXAMPLE\rjames (homed on another server: referral), wong (ambiguous).

  CLI:    $src/build/tools/xident --help
  tests:  ./run-tests.sh
  stop:   ./quickstart.sh stop
MSG
