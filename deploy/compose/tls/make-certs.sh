#!/usr/bin/env bash
# Run by the compose service `certs` (Elasticsearch image, as root): makes a local CA and
# server certificates for the hostnames `splunk` and `elasticsearch` (plus localhost, for
# the ports published on 127.0.0.1), once. To start over: docker compose down -v.
#   /certs/ca/ca.crt                          CA certificate (every client trusts it)
#   /certs/elasticsearch/elasticsearch.{crt,key}
#   /certs/splunk/splunk.pem                  certificate + key + CA, as Splunk HEC wants
# The CA key lives only in a temporary directory and is gone when this script ends.
set -euo pipefail

if [ -s /certs/ca/ca.crt ] && [ -s /certs/elasticsearch/elasticsearch.crt ] && [ -s /certs/splunk/splunk.pem ]; then
  echo "certificates exist; nothing to do"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
certutil=/usr/share/elasticsearch/bin/elasticsearch-certutil

"$certutil" ca --silent --pem --days 825 --out "$work/ca.zip"
unzip -q "$work/ca.zip" -d "$work"          # -> ca/ca.crt, ca/ca.key

cat >"$work/instances.yml" <<'YAML'
instances:
  - name: elasticsearch
    dns: [elasticsearch, localhost]
    ip: [127.0.0.1]
  - name: splunk
    dns: [splunk, localhost]
    ip: [127.0.0.1]
YAML
"$certutil" cert --silent --pem --days 825 --in "$work/instances.yml" \
  --ca-cert "$work/ca/ca.crt" --ca-key "$work/ca/ca.key" --out "$work/certs.zip"
unzip -q "$work/certs.zip" -d "$work"       # -> <name>/<name>.crt, <name>/<name>.key

install -m 0644 "$work/ca/ca.crt" /certs/ca/ca.crt
install -m 0644 "$work/elasticsearch/elasticsearch.crt" /certs/elasticsearch/elasticsearch.crt
# Readable by the Elasticsearch user (uid 1000); this volume is mounted only by Elasticsearch.
install -m 0644 "$work/elasticsearch/elasticsearch.key" /certs/elasticsearch/elasticsearch.key
cat "$work/splunk/splunk.crt" "$work/splunk/splunk.key" "$work/ca/ca.crt" >"$work/splunk.pem"
# Mounted only by Splunk, whose splunkd runs as its own unprivileged user.
install -m 0644 "$work/splunk.pem" /certs/splunk/splunk.pem
echo "certificates written"
