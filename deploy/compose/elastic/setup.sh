#!/usr/bin/env bash
# Run by the compose service `elastic-setup` once Elasticsearch is healthy:
#   1. sets the password of the built-in kibana_system user (secrets/kibana_password);
#   2. creates the collector's API key, least privilege: it may only create documents in
#      (and auto-create) the data streams logs-mimecast.ttp_url-*, plus cluster "monitor"
#      for the sink's health check. The key ("encoded" form, as the sink's api_key wants
#      it) goes to the elastic-setup volume, readable only by the collector's uid 10001.
# Idempotent: an existing key is kept (delete the file, or the volume, to get a new one).
# The same two calls by hand are in docs/guides/docker.md.
set -euo pipefail

es=https://elasticsearch:9200
key_file=/run/elastic-setup/es_api_key
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Credentials go to curl through a config file, not the command line.
(umask 077 && printf 'user = "elastic:%s"\n' "$(cat /run/secrets/elastic_password)" >"$work/curlrc")
es() {
  curl --silent --show-error --fail-with-body --cacert /certs/ca/ca.crt -K "$work/curlrc" \
    -H 'Content-Type: application/json' "$@"
}

es -X POST "$es/_security/user/kibana_system/_password" \
  -d "{\"password\": \"$(cat /run/secrets/kibana_password)\"}" >/dev/null
echo "kibana_system password set"

if [ -s "$key_file" ]; then
  echo "API key exists; kept $key_file"
  exit 0
fi
es -X POST "$es/_security/api_key" -o "$work/key.json" -d '{
  "name": "mimecast-collector",
  "role_descriptors": {
    "mimecast_collector_writer": {
      "cluster": ["monitor"],
      "indices": [
        {"names": ["logs-mimecast.ttp_url-*"], "privileges": ["create_doc", "auto_configure"]}
      ]
    }
  },
  "metadata": {"application": "mimecast-collector"}
}'
encoded=$(sed -n 's/.*"encoded" *: *"\([^"]*\)".*/\1/p' "$work/key.json")
if [ -z "$encoded" ]; then
  echo "error: no API key in the answer of /_security/api_key" >&2
  exit 1
fi
(umask 077 && printf '%s' "$encoded" >"$key_file.tmp")
chown 10001:10001 "$key_file.tmp"
chmod 0400 "$key_file.tmp"
mv "$key_file.tmp" "$key_file"
echo "API key written to $key_file"
