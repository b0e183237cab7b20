#!/usr/bin/env bash
# Benchmarks Ferry's file migration (export + import) against what a user would
# otherwise do — tar the home, compress with zstd, unpack it again — on the same
# data in one run, and measures merge rates and peak memory.
#
#   bash bench/archive.sh [MESSAGES] [MEDIA_MB]        (default 1000000 1024)
#
# Work happens under $BENCH_DIR (default: a fresh directory in /var/tmp, on disk;
# BENCH_DIR=/dev/shm measures the software rather than the disk); everything it
# makes is removed at the end. Ferry's temporary snapshot goes there too.
# BENCH_PROFILE=DIR writes a CPU profile of the merge into a half-full home.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-1000000}
MEDIA_MB=${2:-1024}
for t in tar zstd /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "need $t: apt-get install tar zstd time" >&2; exit 1; }
done

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ferry-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export TMPDIR="$work"
go build -o "$work/ferry" ./cmd/ferry
ferry="$work/ferry"
export FERRY_PASSWORD=unused

half=$((MESSAGES / 2)); halfmb=$((MEDIA_MB / 2))
src="$work/src" halffull="$work/half"
mkdir -p "$src"

# run NAME CMD...: times one command; records seconds and peak RSS (KiB).
declare -A secs rss
run() {
  local name=$1; shift
  sync
  /usr/bin/time -f '%e %M' -o "$work/time.$name" "$@" >"$work/out.$name" 2>"$work/err.$name" || {
    echo "$name failed:" >&2; cat "$work/err.$name" >&2; exit 1; }
  read -r secs[$name] rss[$name] <"$work/time.$name"
  printf '  %-22s %8.2f s  peak RSS %6d MiB\n' "$name" "${secs[$name]}" "$((rss[$name] / 1024))"
}

echo "seeding $MESSAGES messages + $MEDIA_MB MiB media (half first, to make a half-full target)"
run seed-half "$ferry" --home "$src" history seed --messages "$half" --media-mb "$halfmb" --seed 1
cp -a "$src" "$halffull"
run seed-rest "$ferry" --home "$src" history seed --messages "$((MESSAGES - half))" --media-mb "$((MEDIA_MB - halfmb))" --seed 2
"$ferry" --home "$src" history stats
srcdigest=$("$ferry" --home "$src" --json history stats | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/\1/p')
srcbytes=$(du -sb "$src" | cut -f1)

# Ferry makes what it writes durable (fsync) before it reports success; tar
# does not, so the tar pipelines end with a sync to compare like with like.
echo "tar | zstd (default level, all cores), then unpack; each followed by sync"
run tar-pack sh -c "tar -C '$src' -cf - . | zstd -q -T0 -o '$work/home.tar.zst' && sync"
mkdir -p "$work/untar"
run tar-unpack sh -c "zstd -q -d -c '$work/home.tar.zst' | tar -C '$work/untar' -xf - && sync"

echo "ferry export, then import into an empty home and into a half-full one"
run ferry-export "$ferry" --home "$src" --json export --out "$work/home.ferry"
key=$(sed -n 's/.*"recovery_key":"\([0-9a-f ]*\)".*/\1/p' "$work/out.ferry-export")
[ -n "$key" ] || { echo "no recovery key in export output" >&2; cat "$work/out.ferry-export" >&2; exit 1; }
run import-empty "$ferry" --home "$work/empty" --json import "$work/home.ferry" --key "$key"
# BENCH_PROFILE=DIR: a CPU profile of the merge, DIR/import-halffull.prof.
run import-halffull "$ferry" ${BENCH_PROFILE:+--cpuprofile "$BENCH_PROFILE/import-halffull.prof"} \
  --home "$halffull" --json import "$work/home.ferry" --key "$key"
for h in "$work/empty" "$halffull"; do
  d=$("$ferry" --home "$h" --json history stats | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/\1/p')
  [ "$d" = "$srcdigest" ] || { echo "digest mismatch in $h: $d != $srcdigest" >&2; exit 1; }
done

archive=$(stat -c %s "$work/home.ferry"); tarzst=$(stat -c %s "$work/home.tar.zst")
tar_total=$(echo "${secs[tar-pack]} + ${secs[tar-unpack]}" | bc -l)
ferry_total=$(echo "${secs[ferry-export]} + ${secs[import-empty]}" | bc -l)
cat <<REPORT

== results: $MESSAGES messages, $MEDIA_MB MiB media, home $((srcbytes >> 20)) MiB
archive size: ferry $((archive >> 20)) MiB, tar.zst $((tarzst >> 20)) MiB
export + import (empty):  ferry $(printf %.2f "$ferry_total") s vs tar|zstd + unpack $(printf %.2f "$tar_total") s  -> ratio $(printf %.2f "$(echo "$ferry_total / $tar_total" | bc -l)") (target <= 1.3)
import into empty:        $(printf %.0f "$(echo "$MESSAGES / ${secs[import-empty]}" | bc -l)") messages/s (target >= 300000)
merge into half-full:     $(printf %.0f "$(echo "$MESSAGES / ${secs[import-halffull]}" | bc -l)") messages/s of history, $(printf %.0f "$(echo "($MESSAGES - $half) / ${secs[import-halffull]}" | bc -l)") new messages/s (target >= 100000)
peak RSS: export $((rss[ferry-export] / 1024)) MiB, import-empty $((rss[import-empty] / 1024)) MiB, import-halffull $((rss[import-halffull] / 1024)) MiB (target < 200)
digests equal: yes
REPORT
