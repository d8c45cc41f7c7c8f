#!/usr/bin/env bash
# Back up Tessera's database while the server runs.
#
#   deploy/backup.sh DATABASE_URL BACKUP_DIR
#
# DATABASE_URL is the server's `database.url`:
#   sqlite://tessera.db?mode=rwc   → BACKUP_DIR/tessera-<UTC time>.db, made with SQLite's online
#                                    backup API (a consistent snapshot, never a file copy of a live
#                                    WAL database), then checked with PRAGMA integrity_check
#   postgres://user@host/db        → BACKUP_DIR/tessera-<UTC time>.dump, pg_dump's custom format
#
# Prints the path of the backup. Restore: see README, "Backups".
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 DATABASE_URL BACKUP_DIR" >&2
  exit 2
fi
url=$1
dir=$2
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

case "$url" in
  sqlite:*)
    # sqlite://PATH?options, sqlite:PATH, sqlite:///ABSOLUTE/PATH
    path=${url#sqlite:}
    path=${path#//}
    path=${path%%\?*}
    if [[ ! -f "$path" ]]; then
      echo "backup: no SQLite database at $path" >&2
      exit 1
    fi
    out="$dir/tessera-$stamp.db"
    python3 - "$path" "$out" <<'PY'
import sqlite3, sys
source = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
target = sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)  # the online backup API: a consistent snapshot under concurrent writes
result = target.execute("PRAGMA integrity_check").fetchone()[0]
target.close()
source.close()
if result != "ok":
    sys.exit(f"backup: integrity check failed: {result}")
PY
    ;;
  postgres:* | postgresql:*)
    out="$dir/tessera-$stamp.dump"
    pg_dump --format=custom --no-owner --file="$out" "$url"
    ;;
  *)
    echo "backup: unsupported database URL (sqlite:… or postgres:…)" >&2
    exit 2
    ;;
esac
chmod 600 "$out"
echo "$out"
