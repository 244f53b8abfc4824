#!/usr/bin/env bash
# Creates ./secrets for compose.yaml: random local passwords and the HEC token for the
# bundled Splunk and Elasticsearch, the simulator's published fake client secret, and an
# empty file for your Mimecast client secret. Safe to run again: existing files are kept.
#
# Compose bind-mounts secret files as they are, so the files are 0644 (the containers
# run as unprivileged users that must read them) inside a 0700 directory (no other host
# user can reach them).
set -euo pipefail
cd "$(dirname "$0")"

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

make() {  # make NAME VALUE
  local path="secrets/$1"
  if [ -e "$path" ]; then
    echo "kept    $path"
  else
    printf '%s' "$2" >"$path"
    chmod 0644 "$path"
    echo "created $path"
  fi
}

mkdir -p secrets
chmod 0700 secrets
hex=$(random_hex 16)
make splunk_hec_token "${hex:0:8}-${hex:8:4}-${hex:12:4}-${hex:16:4}-${hex:20:12}"
make splunk_password "$(random_hex 16)"
make elastic_password "$(random_hex 16)"
make kibana_password "$(random_hex 16)"
# The simulator's fixed credential (collector/simulator/config.py), not a secret.
make simulator_client_secret "sim-client-secret"
# Yours, for --profile tenant: printf '%s' 'THE-SECRET' > secrets/mimecast_client_secret
make mimecast_client_secret ""
