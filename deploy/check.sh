#!/usr/bin/env bash
# Checks the deployment files with the real tools, as CI does (.ci/run):
#   - compose.yml parses (`docker compose config`, or docker-compose v1; client only, no engine);
#   - nginx -t accepts nginx/tessera.conf (with a throwaway self-signed certificate);
#   - systemd-analyze verify accepts systemd/tessera.service (when systemd-analyze exists);
#   - tessera-server check-config accepts tessera.toml.example with secrets made by make-secrets.sh.
#
#   deploy/check.sh TARGET_DIR        (where target/debug/tessera-server and tessera are built)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:?usage: deploy/check.sh TARGET_DIR}/debug" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "-- compose.yml"
mkdir -p "$work/compose/secrets"
cp "$here/compose.yml" "$here/.env.example" "$work/compose/"
cp "$here/.env.example" "$work/compose/.env"
cp "$here/tessera.toml.example" "$work/compose/tessera.toml"
for secret in postgres_password database_url admin_token signing_key.pem gumroad_secret postmark_token; do
  echo placeholder >"$work/compose/secrets/$secret"
done
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
(cd "$work/compose" && "${compose[@]}" -f compose.yml config --quiet)
echo "compose.yml: OK (${compose[*]})"

echo "-- nginx/tessera.conf"
mkdir -p "$work/nginx"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=licenses.example.com" \
  -keyout "$work/nginx/privkey.pem" -out "$work/nginx/fullchain.pem" 2>/dev/null
sed "s#/etc/letsencrypt/live/licenses.example.com/#$work/nginx/#" "$here/nginx/tessera.conf" >"$work/nginx/tessera.conf"
cat >"$work/nginx/nginx.conf" <<NGINX
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    include $work/nginx/tessera.conf;
}
NGINX
nginx -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf"
echo "nginx/tessera.conf: OK"

echo "-- systemd/tessera.service"
if command -v systemd-analyze >/dev/null; then
  # verify wants the binaries to exist: point them at the ones just built.
  sed "s#/usr/local/bin/#$bin/#g" "$here/systemd/tessera.service" >"$work/tessera.service"
  systemd-analyze verify "$work/tessera.service"
  echo "systemd/tessera.service: OK"
else
  echo "systemd-analyze not installed: SKIPPED"
fi

echo "-- tessera.toml.example"
mkdir -p "$work/run"
PATH="$bin:$PATH" "$here/make-secrets.sh" "$work/run/secrets" >/dev/null
printf '%s\n' "a-gumroad-secret-of-enough-length" >"$work/run/secrets/gumroad_secret"
printf '%s\n' "a-postmark-server-token" >"$work/run/secrets/postmark_token"
kid=$(date -u +%Y-%m)
sed -e "s#\"/run/secrets/signing_key\"#\"$work/run/secrets/signing_key.pem\"#" -e "s#\"/run/secrets/#\"$work/run/secrets/#" \
    -e "s#\"2026-11\"#\"$kid\"#" "$here/tessera.toml.example" >"$work/run/tessera.toml"
(cd "$work/run" && env -u TESSERA_CONFIG "$bin/tessera-server" --config tessera.toml check-config)
echo "tessera.toml.example: OK"
