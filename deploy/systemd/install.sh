#!/usr/bin/env bash
# Installs mimecast-collector as a systemd service: a virtualenv under /opt, the units,
# and /etc/mimecast-collector with a starting config. Safe to run again: it upgrades the
# package and the units, and never touches an existing config or secret.
#
# Usage (as root):
#   deploy/systemd/install.sh                 # install this checkout
#   deploy/systemd/install.sh dist/mimecast_collector-0.1.0-py3-none-any.whl
#   deploy/systemd/install.sh mimecast-collector==0.1.0     # from the package index
#
# Environment:
#   PYTHON=python3                    interpreter for the venv (3.11 or newer)
#   PREFIX=/opt/mimecast-collector    where the venv goes (the units expect this path)
#   PIP_ARGS=...                      extra pip arguments, e.g. "--no-index --find-links /srv/wheels"
#   DESTDIR=                          stage everything under this root instead of / (packaging,
#                                     tests); no systemctl call is made then
# Guide: docs/guides/systemd.md
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

PYTHON=${PYTHON:-python3}
PREFIX=${PREFIX:-/opt/mimecast-collector}
DESTDIR=${DESTDIR:-}
PIP_ARGS=${PIP_ARGS:-}
unit_dir="$DESTDIR/etc/systemd/system"
conf_dir="$DESTDIR/etc/mimecast-collector"
venv="$DESTDIR$PREFIX"

if [ $# -gt 1 ]; then
  echo "usage: $0 [WHEEL | DIRECTORY | REQUIREMENT]" >&2
  exit 2
fi
if [ $# -eq 1 ]; then
  source_spec=$1
elif [ -f "$repo/pyproject.toml" ]; then
  source_spec=$repo
else
  source_spec=mimecast-collector
fi

if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (it writes $PREFIX, /etc/systemd/system and /etc/mimecast-collector)," >&2
  echo "       or set DESTDIR to stage the files somewhere else" >&2
  exit 1
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: $PYTHON is missing or older than Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

echo "== virtualenv $venv"
if [ ! -x "$venv/bin/python" ]; then
  # Debian/Ubuntu: python3 -m venv needs the python3-venv package.
  "$PYTHON" -m venv "$venv"
fi
# shellcheck disable=SC2086  # PIP_ARGS is a list of words on purpose
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade $PIP_ARGS "$source_spec"
"$venv/bin/mimecast-collector" --version

echo "== units in $unit_dir"
install -d -m 0755 "$unit_dir"
for unit in mimecast-collector.service mimecast-collector-once.service mimecast-collector-once.timer; do
  install -m 0644 "$here/$unit" "$unit_dir/$unit"
done

echo "== config in $conf_dir"
install -d -m 0755 "$conf_dir"
if [ ! -e "$conf_dir/collector.toml" ]; then
  install -m 0644 "$here/collector.toml" "$conf_dir/collector.toml"
  echo "created $conf_dir/collector.toml"
else
  echo "kept $conf_dir/collector.toml"
fi
if [ ! -e "$conf_dir/client_secret" ]; then
  # Empty and root-only; LoadCredential= hands it to the service without widening access.
  (umask 077 && : >"$conf_dir/client_secret")
  echo "created $conf_dir/client_secret (empty)"
else
  echo "kept $conf_dir/client_secret"
fi

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi

cat <<EOF

Installed. Next steps:
  1. Put the Mimecast API 2.0 client id in /etc/mimecast-collector/collector.toml (client_id) and pick
     the base_url for your region (docs/guides/mimecast.md).
  2. Put the client secret in /etc/mimecast-collector/client_secret (no trailing newline needed):
       sudo sh -c 'umask 077; cat > /etc/mimecast-collector/client_secret'
  3. Start ONE of:
       sudo systemctl enable --now mimecast-collector.service       # daemon
       sudo systemctl enable --now mimecast-collector-once.timer    # batch run every 5 minutes
  4. Watch it: journalctl -u mimecast-collector -f
     Ready? $PREFIX/bin/mimecast-collector health -c /etc/mimecast-collector/collector.toml
     Clicks land in /var/log/mimecast-collector/url-clicks.ndjson
EOF
