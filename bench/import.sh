#!/usr/bin/env bash
# Benchmarks `ferry history import` on generated exports: a WhatsApp Android
# chat (as the .txt and as the .zip WhatsApp writes) and a Telegram Desktop
# JSON export of the same number of messages, each imported into a new home;
# then the WhatsApp chat again into the home that holds it (nothing new: the
# merge path). Reports messages per second and peak RSS against the targets.
#
#   bash bench/import.sh [MESSAGES]        (default 1000000)
#
# Work happens under $BENCH_DIR (default: a fresh directory in /var/tmp, on
# disk); everything it makes is removed at the end. Needs GNU time and bc.
# The machine should be otherwise quiet: the rates are wall-clock; the CPU
# seconds (user + system) are shown beside them. An import reads and writes
# side by side on two goroutines, so with two free cores its wall time is
# below its CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-1000000}
for t in /usr/bin/time bc; do
  command -v "$t" >/dev/null || { echo "need $t: apt-get install time bc" >&2; exit 1; }
done

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ferry-bench-import.XXXXXX")
trap 'rm -rf "$work"' EXIT
export TMPDIR="$work"
go build -o "$work/ferry" ./cmd/ferry
go build -o "$work/genexport" ./bench/genexport
ferry="$work/ferry"

echo "generating exports of $MESSAGES messages"
"$work/genexport" -format whatsapp -messages "$MESSAGES" -out "$work/WhatsApp Chat with Bench Group.txt"
"$work/genexport" -format whatsapp-zip -messages "$MESSAGES" -out "$work/WhatsApp Chat with Bench Group.zip"
mkdir -p "$work/ChatExport"
"$work/genexport" -format telegram -messages "$MESSAGES" -out "$work/ChatExport/result.json"
for f in "$work"/*.txt "$work"/*.zip "$work/ChatExport/result.json"; do
  printf '  %6d MiB  %s\n' "$(($(stat -c %s "$f") >> 20))" "${f#"$work"/}"
done

# run NAME HOME EXPORT: imports EXPORT into HOME, timed; records seconds,
# peak RSS (KiB), messages read and messages added.
declare -A secs rss cpu read added
run() {
  local name=$1 home=$2 export=$3
  sync
  /usr/bin/time -f '%e %M %U %S' -o "$work/time.$name" \
    "$ferry" --home "$home" --json history import "$export" --tz UTC >"$work/out.$name" 2>"$work/err.$name" || {
    echo "$name failed:" >&2; cat "$work/err.$name" >&2; exit 1; }
  local user sys
  read -r secs[$name] rss[$name] user sys <"$work/time.$name"
  cpu[$name]=$(echo "$user + $sys" | bc -l)
  read[$name]=$(sed -n 's/.*"read":\([0-9]*\).*/\1/p' "$work/out.$name")
  added[$name]=$(sed -n 's/.*"added":{[^}]*"messages":\([0-9]*\).*/\1/p' "$work/out.$name")
  printf '  %-16s %7.2f s %8.0f messages/s  CPU %6.2f s  peak RSS %4d MiB  (read %s, added %s)\n' "$name" "${secs[$name]}" \
    "$(echo "${read[$name]} / ${secs[$name]}" | bc -l)" "${cpu[$name]}" "$((rss[$name] / 1024))" "${read[$name]}" "${added[$name]}"
}

echo "importing, each into a new home"
run whatsapp-txt "$work/h-txt" "$work/WhatsApp Chat with Bench Group.txt"
run whatsapp-zip "$work/h-zip" "$work/WhatsApp Chat with Bench Group.zip"
run telegram "$work/h-tg" "$work/ChatExport"
echo "importing the WhatsApp chat again into the home that holds it"
run whatsapp-again "$work/h-txt" "$work/WhatsApp Chat with Bench Group.txt"

for n in whatsapp-txt whatsapp-zip telegram; do
  [ "${read[$n]}" = "$MESSAGES" ] && [ "${added[$n]}" = "$MESSAGES" ] || {
    echo "$n: read ${read[$n]}, added ${added[$n]}; want $MESSAGES" >&2; exit 1; }
done
[ "${added[whatsapp-again]}" = 0 ] || { echo "the second import added ${added[whatsapp-again]} messages" >&2; exit 1; }
d1=$("$ferry" --home "$work/h-txt" --json history stats | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/\1/p')
d2=$("$ferry" --home "$work/h-zip" --json history stats | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/\1/p')
[ "$d1" = "$d2" ] || { echo "the .txt and the .zip gave two histories: $d1 vs $d2" >&2; exit 1; }

rate() { printf %.0f "$(echo "$MESSAGES / ${secs[$1]}" | bc -l)"; }
cat <<REPORT

== results: $MESSAGES messages per export
whatsapp .txt:   $(rate whatsapp-txt) messages/s, peak RSS $((rss[whatsapp-txt] / 1024)) MiB
whatsapp .zip:   $(rate whatsapp-zip) messages/s, peak RSS $((rss[whatsapp-zip] / 1024)) MiB
telegram JSON:   $(rate telegram) messages/s, peak RSS $((rss[telegram] / 1024)) MiB
again (nothing new, merged): $(rate whatsapp-again) messages/s, peak RSS $((rss[whatsapp-again] / 1024)) MiB
targets: >= 200000 messages/s, peak RSS < 200 MiB whatever the size
.txt and .zip give one digest: yes
REPORT
