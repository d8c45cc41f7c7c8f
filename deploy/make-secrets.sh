#!/usr/bin/env bash
# Creates the secret files compose.yml mounts, once: a Postgres password and the matching
# database URL, an admin token and an Ed25519 signing key. Never overwrites an existing file.
# Storefront and mail secrets are yours to paste (see README.md).
#
#   deploy/make-secrets.sh [SECRETS_DIR]        (default: deploy/secrets)
#
# The signing key is made by `tessera keygen`: from PATH if installed, else from the image
# (docker compose build first).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/secrets}
mkdir -p "$dir"
chmod 0700 "$dir"
umask 077

random() { head -c 32 /dev/urandom | base64 | tr -d '/+=\n' | head -c 43; }
create() { # create NAME CONTENT
  if [[ -e "$dir/$1" ]]; then echo "kept    $dir/$1"; else printf '%s\n' "$2" >"$dir/$1"; echo "created $dir/$1"; fi
}

password=$(random)
if [[ ! -e "$dir/postgres_password" ]]; then
  create postgres_password "$password"
  create database_url "postgres://tessera:$password@db:5432/tessera"
fi
create admin_token "$(random)"
for optional in gumroad_secret postmark_token; do
  [[ -e "$dir/$optional" ]] || { : >"$dir/$optional"; echo "created $dir/$optional (empty: paste yours)"; }
done

if [[ ! -e "$dir/signing_key.pem" ]]; then
  kid=$(date -u +%Y-%m)
  if command -v tessera >/dev/null; then
    tessera keygen --kid "$kid" --out "$dir/signing_key.pem" >/dev/null
  else
    docker run --rm --user "$(id -u):$(id -g)" -v "$dir:/out" --entrypoint tessera \
      "tessera:${TESSERA_VERSION:-latest}" keygen --kid "$kid" --out /out/signing_key.pem >/dev/null
  fi
  echo "created $dir/signing_key.pem (kid $kid: set signing.active_kid and signing.keys[].kid to it)"
fi

# The container runs as UID 10001 and Postgres as UID 999: each reads its own files only.
if [[ $(id -u) -eq 0 ]]; then
  chown 10001:10001 "$dir"/{database_url,admin_token,signing_key.pem,gumroad_secret,postmark_token}
  chown 999:999 "$dir/postgres_password"
else
  echo "note: run as root (or chown yourself): secrets for UID 10001 (tessera) and 999 (postgres)" >&2
fi
chmod 0600 "$dir"/*
