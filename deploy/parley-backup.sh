#!/bin/sh
# A dated backup of Parley's database, run by parley-backup.service (daily, parley-backup.timer)
# or by hand as the parley user. See docs/vps.md.
#   PostgreSQL (DATABASE_URL set): pg_dump in its custom format (restore with pg_restore).
#   SQLite (otherwise): VACUUM INTO, a consistent copy taken while the server runs.
# Writes $BACKUP_DIR/parley-<UTC time>.{dump,db}, checks it, keeps the newest $BACKUP_KEEP.
set -eu
umask 077

data_dir=${DATA_DIR:-/var/lib/parley}
backup_dir=${BACKUP_DIR:-/var/backups/parley}
keep=${BACKUP_KEEP:-14}
stamp=$(date -u +%Y%m%dT%H%M%SZ)

mkdir -p "$backup_dir"
if [ -n "${DATABASE_URL:-}" ]; then
  suffix=dump
  target="$backup_dir/parley-$stamp.$suffix"
  pg_dump --format=custom --no-owner --file="$target.partial" "$DATABASE_URL"
  pg_restore --list "$target.partial" >/dev/null
else
  suffix=db
  target="$backup_dir/parley-$stamp.$suffix"
  sqlite3 "$data_dir/parley.db" "VACUUM INTO '$target.partial'"
  [ "$(sqlite3 "$target.partial" 'PRAGMA integrity_check')" = ok ]
fi
mv "$target.partial" "$target"

# The newest $keep of this kind stay; names sort by time.
ls -1 "$backup_dir" | grep -E "^parley-[0-9]{8}T[0-9]{6}Z\.$suffix\$" | sort -r | tail -n +"$((keep + 1))" |
  while read -r old; do rm -f "$backup_dir/$old"; done

echo "$target"
