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
	if [ -x "$demo/stop" ]; then "$demo/stop"; fi
	echo "quickstart: demo stopped"
	exit 0
fi

scripts/install-deps.sh
echo "quickstart: building (build/make.out has the details)"
scripts/build.sh build
[ -x "$demo/stop" ] && "$demo/stop" >/dev/null 2>&1 || true
mkdir -p "$demo"

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
