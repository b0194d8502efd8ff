#!/usr/bin/env bash
# Regenerates the seed corpus of fuzz_db_file (fuzz/corpus/db_file/): tiny
# databases made with the sqlite3 CLI (512-byte pages), plus truncated and
# bit-flipped variants of the valid one. Deterministic; run from anywhere.
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)/corpus/db_file"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
rm -f "$out"/*

schema="CREATE TABLE IF NOT EXISTS pjx_invalidation (id INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id TEXT NOT NULL, channel TEXT NOT NULL, keys_json TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS ix_pjx_invalidation_created_at ON pjx_invalidation(created_at);"
rows="INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at) VALUES
  ('0123456789abcdef0123456789abcdef', 'pyjinhx:invalidate', '[\"user:1\",\"user:2\"]', 4102444800.0),
  ('fedcba9876543210fedcba9876543210', 'pyjinhx:invalidate', '[\"caf\\u00e9\", \"x\"]', 4102444800.5),
  ('fedcba9876543210fedcba9876543210', 'pyjinhx:invalidate', 'not json', 4102444801.0),
  ('fedcba9876543210fedcba9876543210', 'pyjinhx:invalidate', '[1,2]', 4102444801.5),
  ('fedcba9876543210fedcba9876543210', 'other', '[\"o\"]', 4102444802.0);"

make() {  # make NAME SQL...
  local name=$1; shift
  sqlite3 "$tmp/$name" "PRAGMA page_size=512;" "$@" "PRAGMA journal_mode=DELETE;" >/dev/null
  cp "$tmp/$name" "$out/$name"
}
make valid.db "PRAGMA journal_mode=WAL;" "$schema" "$rows"
make empty-schema.db "$schema"
make pruned.db "$schema" "$rows" "DELETE FROM pjx_invalidation;"
make no-autoincrement.db "CREATE TABLE pjx_invalidation (id INTEGER PRIMARY KEY, instance_id TEXT NOT NULL,
  channel TEXT NOT NULL, keys_json TEXT NOT NULL, created_at REAL NOT NULL);"
make wrong-columns.db "CREATE TABLE pjx_invalidation (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT);"
make view.db "CREATE TABLE t (x); CREATE VIEW pjx_invalidation AS SELECT * FROM t;"
make trigger.db "$schema" "CREATE TABLE log (x);
  CREATE TRIGGER tr AFTER INSERT ON pjx_invalidation BEGIN DELETE FROM pjx_invalidation; END;"
make other-tables.db "CREATE TABLE unrelated (a, b); INSERT INTO unrelated VALUES (1, 2);"
make big-sequence.db "$schema" "$rows" "UPDATE sqlite_sequence SET seq = 9223372036854775806;"
make bad-types.db "$schema" "INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at)
  VALUES ('x', 'pyjinhx:invalidate', x'ff00fe', 'not a number');"

# Truncations and bit flips of the valid file.
size=$(stat -c %s "$out/valid.db")
for n in 0 50 100 512 1024 $((size - 1)); do
  head -c "$n" "$out/valid.db" > "$out/valid-truncated-$n.db"
done
python3 - "$out/valid.db" "$out" <<'PY'
import sys
src, out = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
# header fields (page size, versions, counts), the schema page, a data page
for off, bit in [(16, 0), (18, 1), (21, 3), (28, 2), (44, 0), (56, 1), (100, 0),
                 (105, 4), (600, 5), (1100, 2), (len(data) - 20, 7)]:
    if off < len(data):
        b = bytearray(data)
        b[off] ^= 1 << bit
        open(f"{out}/valid-flip-{off}-{bit}.db", 'wb').write(bytes(b))
PY
echo "seeds in $out: $(ls "$out" | wc -l) files, $(du -sh "$out" | cut -f1)"
