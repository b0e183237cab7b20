#!/usr/bin/env bash
# Benchmarks Ferry's encrypted backups on a relay (ferry backup / ferry restore)
# against restic, on the same history in one run, with two storage backends:
#
#   dir   ferry relay keeping its vault in a directory  vs  restic to a local repository
#   s3    ferry relay keeping its vault in MinIO        vs  restic to the same MinIO
#
# For each: first backup, restore into a fresh place (the copy must have the
# source's history digest), $BENCH_REPS times (default 3, Ferry and restic in
# turn, the median reported: this machine's timings move with its load); then
# 1% new data and an incremental backup (bytes sent and time). Every timed
# command starts after 2 GiB of memory were touched and freed (see warm).
#
#   bash bench/vault.sh [MESSAGES] [MEDIA_MB]          (default 1000000 1024)
#
# Work happens under $BENCH_DIR (default /var/tmp, on disk; BENCH_DIR=/dev/shm
# measures the software rather than the disk). Everything runs on 127.0.0.1;
# the relays and MinIO are killed by PID and everything made is removed at
# exit, pass or fail. Each command may run at most $BENCH_TIMEOUT seconds
# (default 3600). Needs restic (apt-get installs it if missing), GNU time, bc,
# ss and the minio binary in $(go env GOPATH)/bin or on PATH (started by
# .ci/minio.sh, as in CI).
# shellcheck disable=SC2016 # sh -c scripts take their arguments as $1, $2
set -Eeuo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-1000000}
MEDIA_MB=${2:-1024}
LIMIT=${BENCH_TIMEOUT:-3600}
REPS=${BENCH_REPS:-3}

die() { echo "vault.sh: $*" >&2; exit 1; }
[[ $MESSAGES =~ ^[0-9]+$ && $MEDIA_MB =~ ^[0-9]+$ && $# -le 2 ]] ||
  die "usage: bash bench/vault.sh [MESSAGES] [MEDIA_MB]"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive number"
command -v go >/dev/null || die "needs the go toolchain to build ferry"

# --- tools ---------------------------------------------------------------
need=()
command -v restic >/dev/null || need+=(restic)
[ -x /usr/bin/time ] || need+=(time)
command -v bc >/dev/null || need+=(bc)
command -v ss >/dev/null || need+=(iproute2)
if ((${#need[@]})); then
  [ "$(id -u)" = 0 ] || die "missing ${need[*]}: install them (apt-get install ${need[*]})"
  echo "installing: ${need[*]}"
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
    die "apt-get install ${need[*]} failed"
fi
. .ci/minio.sh
minio_bin >/dev/null || die "needs the minio binary: go install github.com/minio/minio@$MINIO_VERSION"

# --- work dir and cleanup ----------------------------------------------------
base=${BENCH_DIR:-/var/tmp}
[ -d "$base" ] || die "BENCH_DIR $base is not a directory"
work=$(mktemp -d "$base/ferry-vault.XXXXXX")
declare -A pids=()                      # name -> PID of a server we started

cleanup() {
  local rc=$? n
  set +e; trap - ERR
  for n in "${!pids[@]}"; do kill "${pids[$n]}" 2>/dev/null; done
  for n in "${!pids[@]}"; do wait "${pids[$n]}" 2>/dev/null; done
  rm -rf "$work"
  ((rc == 0)) || echo "vault.sh: failed (exit $rc); servers stopped, $work removed" >&2
}
trap cleanup EXIT
trap 'echo "vault.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"
# restic: its cache and password stay in the work dir; one host name so that
# incremental backups find their parent snapshot.
export RESTIC_PASSWORD=ferry-bench RESTIC_CACHE_DIR="$work/restic-cache"
s3user=ferrybench s3pass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

echo "building ferry"
go build -o "$work/ferry" ./cmd/ferry || die "go build ./cmd/ferry failed"
ferry="$work/ferry"

# --- helpers -------------------------------------------------------------
declare -A secs rss cpu
# warm: touches and frees 2 GiB of memory. On this machine (a Firecracker VM)
# memory the guest has not touched lately costs several times as much to
# fill as memory it just freed (dd of 1 GiB to /dev/shm: 2.5 s cold, 0.33 s
# warm), and which command got which depended on the order of the runs;
# so every timed command starts with the same warm memory. Best effort.
warm() {
  dd if=/dev/zero of="$work/warm" bs=1M count=2048 status=none 2>/dev/null || true
  rm -f "$work/warm"
}
# run NAME CMD...: times one command (after warm and a sync); records seconds, CPU
# seconds and peak RSS (MiB). Output goes to out.NAME / err.NAME.
run() {
  local name=$1 e u s m; shift
  warm
  sync
  if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time.$name" timeout "$LIMIT" "$@" \
    >"$work/out.$name" 2>"$work/err.$name"; then
    echo "$name failed; its stderr:" >&2; tail -n 30 "$work/err.$name" >&2
    echo "its stdout (last lines):" >&2; tail -n 5 "$work/out.$name" >&2
    exit 1
  fi
  read -r e u s m < <(tail -n1 "$work/time.$name")
  secs[$name]=$e; cpu[$name]=$(echo "$u + $s" | bc -l); rss[$name]=$((m / 1024))
  printf '  %-22s %8.2f s  CPU %7.2f s  peak RSS %5d MiB\n' "$name" "$e" "${cpu[$name]}" "${rss[$name]}"
}
digest_of() { "$ferry" --home "$1" --json history stats | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/\1/p'; }
# check_copy NAME HOME WANT: the copy must hold the history with digest WANT.
check_copy() {
  local d
  d=$(digest_of "$2") || die "$1: history stats of the copy failed"
  [[ -n $d && $d == "$3" ]] || die "$1: digest of the copy '$d' != source $3"
  echo "  $1: digest matches the source"
}
# json_field FILE FIELD: the last value of a numeric or string JSON field.
json_field() {
  grep -oE "\"$2\":(\"[^\"]*\"|[0-9.]+|true|false)" "$1" | tail -n1 | cut -d: -f2- | tr -d '"'
}
# free_port: a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Hltn "sport = :$p")" ] && { echo "$p"; return; }
  done
  die "no free port found"
}
# start_relay NAME ARGS...: starts ferry relay on loopback; sets RELAY to its address.
start_relay() {
  local name=$1 i; shift
  "$ferry" relay --listen /ip4/127.0.0.1/tcp/0 --data "$work/relay-$name" --vault "$@" \
    >"$work/out.relay-$name" 2>"$work/err.relay-$name" &
  pids[relay-$name]=$!
  RELAY=''
  for ((i = 0; i < 1500; i++)); do
    RELAY=$(sed -n 's/^relay: \(\/ip4\/127\.0\.0\.1\/.*\)$/\1/p' "$work/out.relay-$name" | head -n1)
    [ -n "$RELAY" ] && return
    kill -0 "${pids[relay-$name]}" 2>/dev/null || {
      tail -n 20 "$work/err.relay-$name" >&2; die "relay $name exited before it was ready"; }
    sleep 0.02
  done
  die "relay $name printed no address within 30 s"
}
# stop NAME: kills one server we started, recording its peak RSS and CPU seconds first.
stop() {
  local p=${pids[$1]}
  rss[$1]=$(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$p/status" 2>/dev/null || echo 0)
  cpu[$1]=$(awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$p/stat" 2>/dev/null || echo 0)
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "pids[$1]"
}

# --- the history -------------------------------------------------------------
src="$work/src"
echo "seeding $MESSAGES messages + $MEDIA_MB MiB media"
run seed "$ferry" --home "$src" history seed --messages "$MESSAGES" --media-mb "$MEDIA_MB" --seed 1
"$ferry" --home "$src" history stats
srcdigest=$(digest_of "$src")
[ -n "$srcdigest" ] || die "no digest from history stats of the source"
srcbytes=$(du -sb "$src" | cut -f1)
echo "source home: $srcbytes bytes ($((srcbytes >> 20)) MiB)"
addmsgs=$((MESSAGES / 100)) addmb=$((MEDIA_MB / 100))
((addmsgs > 0)) || addmsgs=1
# Every contender backs up its own copy of the seeded home (a Ferry home
# remembers its backup key), and gets the same 1% added with the same seed.
for h in ferry-dir ferry-s3 restic; do cp -a "$src" "$work/home-$h"; done
rm -rf "$src"
add_one_percent() { # NAME HOME
  run "seed2-$1" "$ferry" --home "$2" history seed --messages "$addmsgs" --media-mb "$addmb" --seed 2
}

# --- MinIO ---------------------------------------------------------------------
start_minio "$work/minio" "$s3user" "$s3pass" || die "minio did not start"
pids[minio]=$MINIO_PID s3port=$MINIO_PORT
echo "minio: 127.0.0.1:$s3port"

# --- the runs ---------------------------------------------------------------------
# Ferry and restic take turns, operation by operation, so that a change in the
# load of a shared machine touches both alike. restic restore does not fsync
# what it writes, and Ferry does: every restic run ends with a sync.
declare -A sent histbytes key relay
declare -A repo repobase=([dir]="$work/restic-repo" [s3]="s3:http://127.0.0.1:$s3port/restic-bench")
export AWS_ACCESS_KEY_ID=$s3user AWS_SECRET_ACCESS_KEY=$s3pass
rhome="$work/home-restic"
restic_backup() { # NAME KIND
  run "$1" sh -c 'restic -r "$1" backup --json --host ferry-bench "$2" && sync' _ "${repo[$2]}" "$rhome"
  sent[$1]=$(grep '"message_type":"summary"' "$work/out.$1" | grep -oE '"data_added":[0-9]+' | cut -d: -f2)
  [ -n "${sent[$1]}" ] || die "$1 printed no summary with data_added"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(loadavg)

start_relay dir; relay[dir]=$RELAY
start_relay s3 --s3 "s3://$s3user:$s3pass@127.0.0.1:$s3port/ferry-vault?secure=false"; relay[s3]=$RELAY
# median NAME: the median seconds of NAME.1 .. NAME.REPS, stored as NAME
# (with the CPU and RSS of that run); NAME's list of all runs in runs[NAME].
declare -A runs
median() {
  local name=$1 r best
  best=$(for ((r = 1; r <= REPS; r++)); do echo "${secs[$name.$r]} $r"; done | sort -n | sed -n "$(((REPS + 1) / 2))p" | cut -d' ' -f2)
  secs[$name]=${secs[$name.$best]}; cpu[$name]=${cpu[$name.$best]}; rss[$name]=${rss[$name.$best]}
  runs[$name]=$(for ((r = 1; r <= REPS; r++)); do printf '%.2f ' "${secs[$name.$r]}"; done)
}
for kind in dir s3; do
  home="$work/home-ferry-$kind"
  # Each round is a first backup from scratch: Ferry's with a new key (the
  # last round's backup deleted from the relay), restic's to a new repository.
  for ((r = 1; r <= REPS; r++)); do
    echo "first backup and restore, $kind, round $r of $REPS (Ferry relay vault / restic repository)"
    if ((r > 1)); then
      "$ferry" --home "$home" backups rm "$(json_field "$work/out.ferry-$kind-backup.$((r - 1))" backup)" \
        --relay "${relay[$kind]}" >/dev/null || die "ferry backups rm (round $r, $kind) failed"
      rm -f "$home/vault.json"
    fi
    run "ferry-$kind-backup.$r" "$ferry" --home "$home" --json backup --relay "${relay[$kind]}"
    key[$kind]=$(json_field "$work/out.ferry-$kind-backup.$r" recovery_key)
    [ -n "${key[$kind]}" ] || die "ferry-$kind-backup.$r printed no recovery key"
    sent[ferry-$kind-backup]=$(json_field "$work/out.ferry-$kind-backup.$r" bytes_sent)
    repo[$kind]=${repobase[$kind]}-$r
    restic -r "${repo[$kind]}" init >"$work/out.restic-$kind-init" 2>&1 ||
      { cat "$work/out.restic-$kind-init" >&2; die "restic init ${repo[$kind]} failed"; }
    restic_backup "restic-$kind-backup.$r" "$kind"
    sent[restic-$kind-backup]=${sent[restic-$kind-backup.$r]}

    run "ferry-$kind-restore.$r" "$ferry" --home "$work/restored" --json restore --relay "${relay[$kind]}" --key "${key[$kind]}"
    check_copy "ferry-$kind-restore.$r" "$work/restored" "$srcdigest"
    rm -rf "$work/restored"
    run "restic-$kind-restore.$r" sh -c 'restic -r "$1" restore latest --target "$2" && sync' _ "${repo[$kind]}" "$work/restored"
    check_copy "restic-$kind-restore.$r" "$work/restored$rhome" "$srcdigest"
    rm -rf "$work/restored"
    # The last round's repository stays for the incremental backup; a
    # local one of an earlier round is removed (MinIO keeps its own).
    ((r == REPS)) || [ "$kind" != dir ] || rm -rf "${repo[$kind]}"
  done
  for op in backup restore; do median "ferry-$kind-$op"; median "restic-$kind-$op"; done
done

echo "adding 1% to every home"
for h in ferry-dir ferry-s3 restic; do
  add_one_percent "$h" "$work/home-$h"
  histbytes[$h]=$(du -sb "$work/home-$h" | cut -f1)
done
grown=$(digest_of "$work/home-restic")
for h in ferry-dir ferry-s3; do
  [ "$(digest_of "$work/home-$h")" = "$grown" ] || die "the 1% added to $h differs from restic's: seeding is not deterministic"
done

for kind in dir s3; do
  echo "incremental backup, $kind"
  home="$work/home-ferry-$kind"
  run "ferry-$kind-incr" "$ferry" --home "$home" --json backup --relay "${relay[$kind]}"
  sent[ferry-$kind]=$(json_field "$work/out.ferry-$kind-incr" bytes_sent)
  [ -n "${sent[ferry-$kind]}" ] || die "ferry-$kind-incr printed no bytes_sent"
  [ "$(json_field "$work/out.ferry-$kind-incr" new)" != true ] ||
    die "ferry-$kind-incr started a new backup instead of an incremental one"
  restic_backup "restic-$kind-incr" "$kind"
  sent[restic-$kind]=${sent[restic-$kind-incr]}
  # The incremental backup must restore, into a fresh home, to the grown history.
  run "ferry-$kind-restore2" "$ferry" --home "$work/restored" --json restore --relay "${relay[$kind]}" --key "${key[$kind]}"
  check_copy "ferry-$kind-restore2" "$work/restored" "$grown"
  rm -rf "$work/restored"
done
load_end=$(loadavg)
for n in relay-dir relay-s3 minio; do stop "$n"; done

# --- report ------------------------------------------------------------------------------
mbps() { echo "$srcbytes / $1 / 1000000" | bc -l; }
verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo PASS; else echo FAIL; fi; }
row() { # KIND OP
  local f="ferry-$1-$2" r="restic-$1-$2" ratio
  ratio=$(echo "${secs[$f]} / ${secs[$r]}" | bc -l)
  printf '%-4s %-8s %8.2f %7.1f %7.2f %5d %8.2f %7.1f %7.2f %5d %6.2f  %s\n' "$1" "$2" \
    "${secs[$f]}" "$(mbps "${secs[$f]}")" "${cpu[$f]}" "${rss[$f]}" \
    "${secs[$r]}" "$(mbps "${secs[$r]}")" "${cpu[$r]}" "${rss[$r]}" "$ratio" "$(verdict "$ratio <= 1.2")"
}
incr_row() { # KIND
  local f="ferry-$1" r="restic-$1" share
  share=$(echo "100 * ${sent[$f]} / ${histbytes[$f]}" | bc -l)
  printf '%-4s %-8s %9.2f %12d %6.2f%% %9.2f %12d %6.2f%%  %s\n' "$1" incr \
    "${secs[$f-incr]}" "${sent[$f]}" "$share" \
    "${secs[$r-incr]}" "${sent[$r]}" "$(echo "100 * ${sent[$r]} / ${histbytes[restic]}" | bc -l)" \
    "$(verdict "$share < 2")"
}
cat <<REPORT

== Backups: $MESSAGES messages, $MEDIA_MB MiB media; home $srcbytes bytes ($((srcbytes >> 20)) MiB), under $base
dir: ferry relay with its vault in a directory vs restic to a local repository
s3:  ferry relay with its vault in MinIO vs restic to the same MinIO (all on 127.0.0.1)
MB/s: home bytes / seconds (MB = 10^6 bytes); CPU s: user+sys of the client (not the relay's
or MinIO's); RSS: peak MiB of the client; ratio: Ferry seconds / restic seconds
restic runs end with a sync (Ferry fsyncs what it writes before it reports success)
each first backup and restore ran $REPS times, Ferry and restic in turn; the table shows the
median run (seconds of every run below); each timed command started on warm memory (see warm)
load average (1, 5, 15 min): $load_start at the start, $load_end at the end

               ------------ Ferry -----------  ----------- restic ------------
kind op         seconds    MB/s   CPU s   RSS  seconds    MB/s   CPU s   RSS  ratio  target ≤ 1.2
$(row dir backup)
$(row dir restore)
$(row s3 backup)
$(row s3 restore)

every run, seconds (Ferry | restic):
  dir backup  ${runs[ferry-dir-backup]}| ${runs[restic-dir-backup]}
  dir restore ${runs[ferry-dir-restore]}| ${runs[restic-dir-restore]}
  s3 backup   ${runs[ferry-s3-backup]}| ${runs[restic-s3-backup]}
  s3 restore  ${runs[ferry-s3-restore]}| ${runs[restic-s3-restore]}

incremental backup after +1% ($addmsgs messages, $addmb MiB media, seed 2)
               ------ Ferry -----------------   ------ restic ----------------
kind op          seconds   bytes sent   share     seconds  bytes added   share  target < 2%
$(incr_row dir)
$(incr_row s3)

share: bytes sent (Ferry's bytes_sent; restic's data_added) / the home's bytes after the addition
first backup sent: Ferry dir ${sent[ferry-dir-backup]:-?}, s3 ${sent[ferry-s3-backup]:-?} bytes; restic added dir ${sent[restic-dir-backup]:-?}, s3 ${sent[restic-s3-backup]:-?} bytes
servers, whole run: relay dir ${cpu[relay-dir]} CPU s, peak RSS ${rss[relay-dir]} MiB; relay s3 ${cpu[relay-s3]} CPU s, ${rss[relay-s3]} MiB;
  minio ${cpu[minio]} CPU s, ${rss[minio]} MiB (Ferry's and restic's buckets together)
digests: every restore (Ferry and restic, dir and s3) has the source's history digest, and
  Ferry's incremental backups restore to the grown history too (not timed above: dir
  $(printf %.2f "${secs[ferry-dir-restore2]}") s, s3 $(printf %.2f "${secs[ferry-s3-restore2]}") s)
REPORT
