#!/usr/bin/env bash
# Benchmarks a LAN migration with Ferry against the tools a user would otherwise
# use, and against the link's own ceiling, on the same history in one run:
#
#   0. ceiling           tar | socat → socat | tar, no encryption, over the veth
#   1. ferry send/receive between two network namespaces joined by a veth pair
#      (found by mDNS on the veth, as on a home network)
#   2. ferry send/receive over loopback, both ends in one namespace
#   3. ferry send/receive --relay between two namespaces with no route between
#      them, through a ferry relay in a third namespace that both reach
#   4. scp -r            over a local sshd (aes128-gcm@openssh.com)
#   5. rsync -a          over the same sshd setup
#   6. magic-wormhole    (Debian's), with its own mailbox and transit relay
#
#   bash bench/lan.sh [MESSAGES] [MEDIA_MB]            (default 1000000 1024)
#   bash bench/lan.sh media [MESSAGES] [MEDIA_MB]      (default 10000 2048)
#
# "media" is the media-heavy history: few messages, many photos and videos
# (the seeder's mix at that ratio); the report names the shape it ran.
# Needs root (network namespaces, a tmpfs, sshd). Each side may run at most
# $BENCH_TIMEOUT seconds (default 1800). Missing tools are installed
# with apt-get. Both homes live on a tmpfs so the disk does not decide the
# figures. Nothing leaves the machine: every network end is in a namespace this
# script creates (unique names) and deletes at exit, pass or fail, along with the
# tmpfs, the sshd, the relay and the wormhole servers.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash bench/lan.sh [media] [MESSAGES] [MEDIA_MB]"
SHAPE=chat shape_words="chat history"
if [ "${1:-}" = media ]; then SHAPE=media shape_words="media-heavy history"; shift; fi
if [ $SHAPE = media ]; then MESSAGES=${1:-10000} MEDIA_MB=${2:-2048}; else MESSAGES=${1:-1000000} MEDIA_MB=${2:-1024}; fi
LIMIT=${BENCH_TIMEOUT:-1800}            # seconds any one side may run

die() { echo "lan.sh: $*" >&2; exit 1; }
(($# <= 2)) && [[ $MESSAGES =~ ^[0-9]+$ && $MEDIA_MB =~ ^[0-9]+$ ]] || die "$usage"
[ "$(id -u)" = 0 ] || die "needs root: it creates network namespaces, a tmpfs and an sshd"
command -v go >/dev/null || die "needs the go toolchain to build ferry"

# --- tools ---------------------------------------------------------------
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ss >/dev/null || need+=(iproute2)
[ -x /usr/bin/time ] || need+=(time)
command -v bc >/dev/null || need+=(bc)
command -v ssh-keygen >/dev/null && command -v scp >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v rsync >/dev/null || need+=(rsync)
command -v socat >/dev/null || need+=(socat)
command -v ping >/dev/null || need+=(iputils-ping)
command -v tar >/dev/null || need+=(tar)
command -v ps >/dev/null || need+=(procps)
[ -x /usr/bin/wormhole ] || need+=(magic-wormhole)
command -v twist3 >/dev/null || need+=(python3-twisted)
plugins=/usr/lib/python3/dist-packages/twisted/plugins
[ -e $plugins/magic_wormhole_mailbox.py ] || need+=(python3-magic-wormhole-mailbox-server)
[ -e $plugins/magic_wormhole_transit_relay.py ] || need+=(magic-wormhole-transit-relay)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
    die "apt-get install ${need[*]} failed"
fi

# --- work dir, tmpfs, namespaces, cleanup ----------------------------------
tag="fb$$"                              # unique per run: namespace names
nsA="$tag-a" nsB="$tag-b" nsL="$tag-lo"
nsS="$tag-rs" nsT="$tag-rt" nsR="$tag-relay" # relayed: sender, receiver, relay
allns=("$nsA" "$nsB" "$nsL" "$nsS" "$nsT" "$nsR")
ipA=10.213.7.1 ipB=10.213.7.2 ipL=10.213.8.1
ipS=10.213.9.1 ipRS=10.213.9.2 ipT=10.213.10.1 ipRT=10.213.10.2
relayport=4001 ceilport=5000            # the namespaces are new: the ports are free
work=$(mktemp -d /tmp/ferry-lan.XXXXXX)
fs="$work/fs"
mounted='' made_run_sshd=''
declare -a bgpids=()

cleanup() {
  local rc=$? ns p
  set +e; trap - ERR
  for ns in "${allns[@]}"; do          # our namespaces hold only our processes
    [ -e "/run/netns/$ns" ] || continue
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
  done
  for p in "${bgpids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  for ns in "${allns[@]}"; do
    [ -e "/run/netns/$ns" ] && { ip netns del "$ns" || echo "lan.sh: could not delete namespace $ns" >&2; }
  done
  rm -f "/dev/shm/ferry-lan-warm.$$"
  [ -n "$mounted" ] && { umount "$fs" 2>/dev/null || umount -l "$fs"; }
  [ -n "$made_run_sshd" ] && rmdir /run/sshd 2>/dev/null
  rm -rf "$work"
  ((rc == 0)) || echo "lan.sh: failed (exit $rc); namespaces, tmpfs and servers removed" >&2
}
trap cleanup EXIT
trap 'echo "lan.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

# Estimate the tmpfs: the source, one target at a time, and wormhole's two
# temporary zips (the media does not compress), plus slack.
home_mb=$((MEDIA_MB + MESSAGES / 4000 + 16))
tmpfs_mb=$((home_mb * 5 + 256))
avail_mb=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
((tmpfs_mb < avail_mb)) || die "needs about $tmpfs_mb MiB of free memory for the tmpfs, have $avail_mb MiB"
mkdir -p "$fs"
mount -t tmpfs -o "size=${tmpfs_mb}m,mode=700" ferry-bench "$fs" || die "cannot mount a tmpfs on $fs"
mounted=1
mkdir -p "$fs/tmp"

mkns() { ip netns add "$1" || die "cannot create network namespace $1"; ip -n "$1" link set lo up; }
for ns in "${allns[@]}"; do mkns "$ns"; done
# A <-veth-> B, a direct cable. The multicast route sends mDNS over the veth.
ip -n "$nsA" link add va type veth peer name vb netns "$nsB"
ip -n "$nsA" addr add "$ipA/24" dev va && ip -n "$nsA" link set va up
ip -n "$nsB" addr add "$ipB/24" dev vb && ip -n "$nsB" link set vb up
ip -n "$nsA" route add 224.0.0.0/4 dev va
ip -n "$nsB" route add 224.0.0.0/4 dev vb
# L: one namespace. A veth pair with both ends inside it gives mDNS a
# multicast-capable link that leads nowhere else; every connection is to a
# local address, so the data runs over lo.
ip -n "$nsL" link add l0 type veth peer name l1
ip -n "$nsL" addr add "$ipL/24" dev l0
ip -n "$nsL" link set l0 up && ip -n "$nsL" link set l1 up
ip -n "$nsL" route add 224.0.0.0/4 dev l0
# S and T: two networks with no route between them, S <-veth-> R <-veth-> T.
# R holds an address on each and forwards nothing; the relay listens on both.
# mDNS from S reaches only R (nothing there answers it), and so from T.
ip -n "$nsS" link add s0 type veth peer name rs netns "$nsR"
ip -n "$nsT" link add t0 type veth peer name rt netns "$nsR"
ip -n "$nsS" addr add "$ipS/24" dev s0 && ip -n "$nsS" link set s0 up
ip -n "$nsT" addr add "$ipT/24" dev t0 && ip -n "$nsT" link set t0 up
ip -n "$nsR" addr add "$ipRS/24" dev rs && ip -n "$nsR" link set rs up
ip -n "$nsR" addr add "$ipRT/24" dev rt && ip -n "$nsR" link set rt up
ip -n "$nsS" route add 224.0.0.0/4 dev s0
ip -n "$nsT" route add 224.0.0.0/4 dev t0
ip netns exec "$nsR" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
# apart FROM_NS ADDR: FROM_NS must have no way to ADDR (no route, no ping reply).
apart() {
  if ip -n "$1" route get "$2" >/dev/null 2>&1; then
    die "$1 has a route to $2: the relayed run needs two networks that cannot reach each other ($(ip -n "$1" route get "$2" 2>&1 | head -n1))"
  fi
  if ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; then
    die "$1 reaches $2 by ping: the relayed run needs two networks that cannot reach each other"
  fi
}
apart "$nsS" "$ipT"; apart "$nsT" "$ipS"
ip netns exec "$nsS" ping -c 1 -W 2 "$ipRS" >/dev/null || die "$nsS cannot reach the relay's namespace at $ipRS"
ip netns exec "$nsT" ping -c 1 -W 2 "$ipRT" >/dev/null || die "$nsT cannot reach the relay's namespace at $ipRT"

echo "building ferry"
go build -o "$work/ferry" ./cmd/ferry || die "go build ./cmd/ferry failed"
ferry="$work/ferry"
src="$fs/src" dst="$fs/dst"

digest_of() { "$ferry" --home "$1" --json history stats | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/\1/p'; }

echo "seeding $MESSAGES messages + $MEDIA_MB MiB media on tmpfs"
"$ferry" --home "$src" history seed --messages "$MESSAGES" --media-mb "$MEDIA_MB" --seed 1 >/dev/null ||
  die "seeding failed"
"$ferry" --home "$src" history stats
srcdigest=$(digest_of "$src")
[ -n "$srcdigest" ] || die "no digest from history stats of the source"
srcbytes=$(du -sb "$src" | cut -f1)
echo "source home: $srcbytes bytes ($((srcbytes >> 20)) MiB)"

# --- measuring -------------------------------------------------------------
# start_side NAME NS CMD...: runs CMD in NS under /usr/bin/time, in the
# background; stdout/stderr go to out.NAME / err.NAME. Sets SIDEPID.
start_side() {
  local name=$1 ns=$2; shift 2
  ip netns exec "$ns" /usr/bin/time -f '%e %U %S %M' -o "$work/time.$name" timeout "$LIMIT" "$@" \
    >"$work/out.$name" 2>"$work/err.$name" &
  SIDEPID=$!
  bgpids+=("$SIDEPID")
}
# side_stats NAME: reads time.NAME into wall/cpu/rss arrays.
declare -A wall cpu rss secs
side_stats() {
  local e u s m
  [ -s "$work/time.$1" ] || die "$1: no timing recorded"
  read -r e u s m < <(tail -n1 "$work/time.$1")
  wall[$1]=$e; cpu[$1]=$(echo "$u + $s" | bc -l); rss[$1]=$((m / 1024))
}
# finish_side NAME PID: waits for a side and fails loudly if it failed.
finish_side() {
  if ! wait "$2"; then
    echo "$1 failed; its stderr:" >&2; tail -n 30 "$work/err.$1" >&2
    echo "its stdout (last lines):" >&2; tail -n 5 "$work/out.$1" >&2
    exit 1
  fi
  side_stats "$1"
}
# wait_for_match FILE REGEX PID WHAT: waits (up to 120 s) until FILE has a
# match for REGEX, failing if PID exits first; prints the first match.
wait_for_match() {
  local file=$1 re=$2 pid=$3 what=$4 i m
  for ((i = 0; i < 6000; i++)); do
    m=$(grep -oE -m1 "$re" "$file" 2>/dev/null || true)
    [ -n "$m" ] && { echo "$m"; return; }
    kill -0 "$pid" 2>/dev/null || { echo "exited before $what; stderr:" >&2; tail -n 20 "${file/out./err.}" >&2; return 1; }
    sleep 0.02
  done
  echo "timed out waiting for $what" >&2; return 1
}
# wait_port NS IP PORT: waits until something listens there.
wait_port() {
  local i
  for ((i = 0; i < 1000; i++)); do
    [ -n "$(ip netns exec "$1" ss -Hltn "src $2:$3")" ] && return
    sleep 0.02
  done
  die "nothing listens on $2:$3 in $1"
}
# check_copy NAME HOME: the copy must hold the same history as the source.
check_copy() {
  local d
  d=$(digest_of "$2") || die "$1: history stats of the copy failed"
  [ "$d" = "$srcdigest" ] || die "$1: digest of the copy $d != source $srcdigest"
  echo "  $1: digest matches the source"
}
# stamp_first FILE: copies stdin to stdout; writes the time of the first
# progress event with done > 0 to FILE.
stamp_first() {
  local line
  while IFS= read -r line; do
    printf '%s\n' "$line"
    if [[ $line == *'"event":"progress"'* && $line =~ \"done\":([0-9]+) ]] && ((BASH_REMATCH[1] > 0)); then
      echo "$EPOCHREALTIME" >"$1"
      cat
      return
    fi
  done
}
declare -A first sfirst recvbytes tocode phases paths
# ev_time FILE EVENT: the time (epoch seconds) of the first EVENT in a JSON event file.
ev_time() {
  local t
  t=$(grep -m1 "\"event\":\"$2\"" "$1" | sed -n 's/.*"time":"\([^"]*\)".*/\1/p')
  [ -n "$t" ] || { echo "no $2 event in $1" >&2; return 1; }
  date -d "$t" +%s.%N
}
# warm: touches and frees 2 GiB of memory before a timed run. On this
# machine (a Firecracker VM) memory the guest has not touched lately costs
# several times as much to fill as memory it just freed (dd of 1 GiB to
# /dev/shm: 2.5 s cold, 0.33 s warm), and the first tool to run after the
# seeding would pay for everyone. Best effort; the file goes to /dev/shm,
# not to the homes' tmpfs, which is sized for the homes.
warm() {
  [ -d /dev/shm ] || return 0
  dd if=/dev/zero of="/dev/shm/ferry-lan-warm.$$" bs=1M count=2048 status=none 2>/dev/null || true
  rm -f "/dev/shm/ferry-lan-warm.$$"
}
# ferry_run NAME NS_SEND NS_RECV [RELAY_SEND RELAY_RECV]: one migration into
# a fresh empty home; with the relay's address as each side reaches it, through
# that relay (--relay on both sides).
ferry_run() {
  local name=$1 nss=$2 nsr=$3 code t0 tr rpid
  local -a sargs=() rargs=()
  (($# < 4)) || { sargs=(--relay "$4"); rargs=(--relay "$5"); }
  # BENCH_PROFILE=DIR: a CPU profile of each side, DIR/NAME-send.prof and -recv.prof.
  [ -z "${BENCH_PROFILE:-}" ] || {
    sargs+=(--cpuprofile "$BENCH_PROFILE/$name-send.prof"); rargs+=(--cpuprofile "$BENCH_PROFILE/$name-recv.prof"); }
  # AGAIN=1: a second migration of the unchanged history into the same
  # home (kept: the receiver, and the sender's snapshot kept by the run
  # before). Otherwise a fresh home, and the sender's kept snapshot goes, so
  # that each row makes its own.
  [ -n "${AGAIN:-}" ] || rm -rf "$dst" "$src/send-cache"
  warm; sync
  echo "$name: ferry send${sargs[*]:+ ${sargs[*]}} in $nss, ferry receive${rargs[*]:+ ${rargs[*]}} in $nsr"
  t0=$EPOCHREALTIME
  # TMPDIR: on the tmpfs too (the sender's snapshot goes to its home, send-cache/).
  start_side "$name-send" "$nss" env TMPDIR="$fs/tmp" "$ferry" --home "$src" --json send "${sargs[@]}"
  local spid=$SIDEPID
  code=$(wait_for_match "$work/out.$name-send" '"code":"[^"]+"' "$spid" "the code") || die "$name: ferry send gave no code"
  code=${code#\"code\":\"}; code=${code%\"}
  tocode[$name]=$(echo "$EPOCHREALTIME - $t0" | bc -l)
  # The receiver starts as soon as the code is shown (a person would take a
  # few seconds to type it, while the sender takes its snapshot: this is
  # the worst case for the sender, and what a time to first byte within 1 s
  # of "ferry send" means). "seconds" runs from the sender's start.
  tr=$EPOCHREALTIME
  (
    set +e; trap - ERR
    ip netns exec "$nsr" /usr/bin/time -f '%e %U %S %M' -o "$work/time.$name-recv" timeout "$LIMIT" \
      env TMPDIR="$fs/tmp" "$ferry" --home "$dst" --json receive "$code" --yes "${rargs[@]}" 2>"$work/err.$name-recv" |
      stamp_first "$work/first.$name"
    exit "${PIPESTATUS[0]}"
  ) >"$work/out.$name-recv" &
  rpid=$!; bgpids+=("$rpid")
  finish_side "$name-recv" "$rpid"
  secs[$name]=$(echo "$EPOCHREALTIME - $t0" | bc -l)
  finish_side "$name-send" "$spid"
  if [ -z "${AGAIN:-}" ]; then
    [ -s "$work/first.$name" ] || die "$name: receive printed no progress event with done > 0"
    first[$name]=$(echo "$(cat "$work/first.$name") - $tr" | bc -l)
    sfirst[$name]=$(echo "$(cat "$work/first.$name") - $t0" | bc -l)
  fi
  recvbytes[$name]=$(grep '"event":"result"' "$work/out.$name-recv" | grep -oE '"bytes":[0-9]+' | tail -n1 | cut -d: -f2)
  # phases from the receiver's events: connect+pair, data, commit+verify
  local toffer tcommit tdone
  toffer=$(ev_time "$work/out.$name-recv" offer) && tcommit=$(ev_time "$work/out.$name-recv" committing) &&
    tdone=$(ev_time "$work/out.$name-recv" "done") &&
    phases[$name]=$(printf 'find+pair %.2f s, data %.2f s (%.0f MB/s), commit+verify %.2f s' \
      "$(echo "$toffer - $tr" | bc -l)" "$(echo "$tcommit - $toffer" | bc -l)" \
      "$(echo "${recvbytes[$name]:-0} / ($tcommit - $toffer) / 1000000" | bc -l)" "$(echo "$tdone - $tcommit" | bc -l)") ||
    phases[$name]="(phases unknown: events missing)"
  # the path(s) the receiver's connections took: "direct LAN", "relayed", ...
  paths[$name]=$({ grep '"event":"connected"' "$work/out.$name-recv" || true; } | sed -n 's/.*"path":"\([^"]*\)".*/\1/p' | sort -u | paste -sd, -)
  if (($# >= 4)) && [ "${paths[$name]}" != relayed ]; then
    die "$name: the receiver connected by '${paths[$name]:-?}', want only 'relayed' (the two namespaces must not reach each other)"
  fi
  check_copy "$name" "$dst"
}

# --- 0: the ceiling: tar | socat, no encryption, over the same veth ---------
# socat listens in B and pipes into tar -x; tar -c of the source in A pipes into
# socat. The time runs from starting the sending side until the receiving tar
# has written everything. 1 MiB records and buffers, so neither tool is held
# back by small writes.
rm -rf "$dst"; mkdir "$dst"; warm; sync
echo "ceiling: tar | socat in $nsA, socat | tar in $nsB, no encryption"
start_side ceiling-recv "$nsB" bash -c 'set -o pipefail; socat -u -b 1048576 "TCP-LISTEN:$1,bind=$2,reuseaddr" STDOUT | tar -x -b 2048 -B -C "$3"' \
  ceiling "$ceilport" "$ipB" "$dst"
crpid=$SIDEPID
wait_port "$nsB" "$ipB" "$ceilport"
t0=$EPOCHREALTIME
start_side ceiling-send "$nsA" bash -c 'set -o pipefail; tar -c -b 2048 -C "$1" . | socat -u -b 1048576 STDIN "TCP:$2:$3"' \
  ceiling "$src" "$ipB" "$ceilport"
cspid=$SIDEPID
finish_side ceiling-recv "$crpid"
secs[ceiling]=$(echo "$EPOCHREALTIME - $t0" | bc -l)
finish_side ceiling-send "$cspid"
check_copy ceiling "$dst"

# --- 1, 2: ferry ---------------------------------------------------------
ferry_run ferry-ns "$nsA" "$nsB"
# The same again: the same two devices (paired now), the history unchanged.
AGAIN=1 ferry_run ferry-again "$nsA" "$nsB"
grep -q 'already holds that history' "$work/out.ferry-again-recv" ||
  die "ferry-again: the receiver did not find that it holds the history (no 'already holds' in its events)"
ferry_run ferry-lo "$nsL" "$nsL"

# --- 3: ferry through a relay, between two networks ---------------------------
# The relay runs (timed, for its CPU and peak RSS) only for this migration.
echo "relay: ferry relay in $nsR on $ipRS and $ipRT"
start_side relay "$nsR" "$ferry" relay --data "$work/relay" \
  --listen "/ip4/$ipRS/tcp/$relayport" --listen "/ip4/$ipRT/tcp/$relayport"
relaypid=$SIDEPID
relayS=$(wait_for_match "$work/out.relay" "relay: /ip4/$ipRS/tcp/$relayport/p2p/[A-Za-z0-9]+" "$relaypid" "the relay's address") ||
  die "ferry relay printed no address on $ipRS"
relayT=$(wait_for_match "$work/out.relay" "relay: /ip4/$ipRT/tcp/$relayport/p2p/[A-Za-z0-9]+" "$relaypid" "the relay's address") ||
  die "ferry relay printed no address on $ipRT"
ferry_run ferry-relay "$nsS" "$nsT" "${relayS#relay: }" "${relayT#relay: }"
# time runs timeout, which runs the relay: SIGTERM to timeout reaches the
# relay, and time then writes what the relay used.
kill "$(ps -o pid= --ppid "$relaypid")" || die "ferry relay is gone"
wait "$relaypid" || true                # time exits non-zero: the relay died by SIGTERM
side_stats relay

# --- 3, 4: scp and rsync over sshd ----------------------------------------
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
sshport=2222                            # the namespace is new: the port is free
cat >"$work/sshd_config" <<EOF
Port $sshport
ListenAddress $ipB
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Ciphers aes128-gcm@openssh.com
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
[ -d /run/sshd ] || { mkdir -p /run/sshd && made_run_sshd=1; }
/usr/sbin/sshd -t -f "$work/sshd_config" || die "sshd rejects its config"
sshopts=(-F /dev/null -i "$work/client_key" -c aes128-gcm@openssh.com -o IdentitiesOnly=yes
  -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)

# ssh_run NAME CMD...: a fresh sshd in B (timed: it reaps its sessions, so
# its CPU time includes the server-side scp/sftp/rsync), CMD in A.
ssh_run() {
  local name=$1; shift
  rm -rf "$dst" "$work/sshd.pid"; warm; sync
  echo "$name: client in $nsA, sshd in $nsB"
  start_side "$name-sshd" "$nsB" /usr/sbin/sshd -D -e -f "$work/sshd_config"
  local dpid=$SIDEPID t0 cpid
  wait_port "$nsB" "$ipB" "$sshport"
  t0=$EPOCHREALTIME
  start_side "$name-client" "$nsA" "$@"
  cpid=$SIDEPID
  finish_side "$name-client" "$cpid"
  secs[$name]=$(echo "$EPOCHREALTIME - $t0" | bc -l)
  sleep 0.5                             # let sshd reap the finished session
  kill "$(cat "$work/sshd.pid")" || die "$name: sshd is gone"
  wait "$dpid" || true                  # time exits non-zero: sshd died by SIGTERM
  side_stats "$name-sshd"
  check_copy "$name" "$dst"
}
ssh_run scp scp -q -r -P "$sshport" "${sshopts[@]}" "$src" "root@$ipB:$dst"
ssh_run rsync rsync -a -e "ssh -p $sshport ${sshopts[*]}" "$src/" "root@$ipB:$dst/"

# --- 5: magic-wormhole -----------------------------------------------------
echo "wormhole: mailbox and transit relay on $ipB (in $nsB)"
ip netns exec "$nsB" twist3 wormhole-mailbox --port "tcp:4000:interface=$ipB" \
  --channel-db "$work/mailbox.sqlite" >"$work/mailbox.log" 2>&1 &
bgpids+=($!)
ip netns exec "$nsB" twist3 transitrelay --port "tcp:4001:interface=$ipB" >"$work/transit.log" 2>&1 &
bgpids+=($!)
wait_port "$nsB" "$ipB" 4000
wait_port "$nsB" "$ipB" 4001
whopts=(--relay-url "ws://$ipB:4000/v1" --transit-helper "tcp:$ipB:4001")
rm -rf "$dst"; warm; sync
echo "wormhole: send in $nsA, receive in $nsB"
t0=$EPOCHREALTIME
start_side wormhole-send "$nsA" env TMPDIR="$fs/tmp" wormhole "${whopts[@]}" send --hide-progress "$src"
wspid=$SIDEPID
code=$(wait_for_match "$work/err.wormhole-send" 'Wormhole code is: [0-9]+-[a-z-]+' "$wspid" "the wormhole code") ||
  die "wormhole send gave no code"
code=${code##* }
start_side wormhole-recv "$nsB" env TMPDIR="$fs/tmp" wormhole "${whopts[@]}" receive --accept-file --hide-progress -o "$dst" "$code"
finish_side wormhole-recv "$SIDEPID"
secs[wormhole]=$(echo "$EPOCHREALTIME - $t0" | bc -l)
finish_side wormhole-send "$wspid"
check_copy wormhole "$dst"
rm -rf "$dst"

# --- report ------------------------------------------------------------------
mbps() { echo "$srcbytes / ${secs[$1]} / 1000000" | bc -l; }
ref=$(mbps ferry-ns)
ceil=$(mbps ceiling)
row() { # NAME SENDSIDE RECVSIDE
  local t
  t=$(mbps "$1")
  printf '%-12s %9.2f %9.1f %9.2f %9.2f %9.2f %10d %10d\n' "$1" "${secs[$1]}" "$t" \
    "$(echo "$ref / $t" | bc -l)" "$(echo "$t / $ceil" | bc -l)" \
    "$(echo "${cpu[$2]} + ${cpu[$3]}" | bc -l)" "${rss[$2]}" "${rss[$3]}"
}
verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo PASS; else echo FAIL; fi; }
scp_x=$(echo "$ref / $(mbps scp)" | bc -l)
rsync_x=$(echo "$ref / $(mbps rsync)" | bc -l)
wh_x=$(echo "$ref / $(mbps wormhole)" | bc -l)
ceil_x=$(echo "$ref / $ceil" | bc -l)
relay_x=$(echo "$(mbps ferry-relay) / $ref" | bc -l)
recv_mbps=$(echo "$srcbytes / ${wall[ferry-ns-recv]} / 1000000" | bc -l)
maxrss=0
for s in ferry-{ns,lo,relay}-{send,recv}; do ((rss[$s] > maxrss)) && maxrss=${rss[$s]}; done
cat <<REPORT

== LAN migration, $shape_words: $MESSAGES messages, $MEDIA_MB MiB media; home $srcbytes bytes ($((srcbytes >> 20)) MiB), on tmpfs
seconds: from starting the sender to the receiver holding the whole history
MB/s: home bytes / seconds (MB = 10^6 bytes); Ferry×: Ferry (namespaces) MB/s ÷ this row's
÷ceiling: this row's MB/s ÷ the ceiling's (tar | socat, no encryption, same veth)
CPU s: user+sys of both sides; RSS: peak, MiB (sshd side includes its session processes)

tool           seconds      MB/s    Ferry×  ÷ceiling     CPU s   RSS send   RSS recv
$(row ceiling ceiling-send ceiling-recv)
$(row ferry-ns ferry-ns-send ferry-ns-recv)
$(row ferry-lo ferry-lo-send ferry-lo-recv)
$(row ferry-relay ferry-relay-send ferry-relay-recv)
$(row scp scp-client scp-sshd)
$(row rsync rsync-client rsync-sshd)
$(row wormhole wormhole-send wormhole-recv)

ceiling: tar -c | socat in one namespace → socat | tar -x in the other, over the veth, until tar -x is done
ferry-ns: two namespaces over veth, found by mDNS; ferry-lo: one namespace, over loopback
ferry-again: ferry-ns once more, unchanged history, same devices and homes: $(printf %.2f "${secs[ferry-again]}") s
  (send start → code $(printf %.2f "${tocode[ferry-again]}") s; receive alone $(printf %.2f "${wall[ferry-again-recv]}") s; CPU $(printf %.2f "$(echo "${cpu[ferry-again-send]} + ${cpu[ferry-again-recv]}" | bc -l)") s)
ferry-relay: two namespaces with no route between them, through ferry relay in a third;
  the relay itself (start to stop, not in CPU s above): $(printf %.2f "${cpu[relay]}") CPU s, peak RSS ${rss[relay]} MiB
ferry send start → code shown: ns $(printf %.2f "${tocode[ferry-ns]}") s, lo $(printf %.2f "${tocode[ferry-lo]}") s, relay $(printf %.2f "${tocode[ferry-relay]}") s
ferry receive alone (start → verified commit): ns $(printf %.2f "${wall[ferry-ns-recv]}") s, lo $(printf %.2f "${wall[ferry-lo-recv]}") s, relay $(printf %.2f "${wall[ferry-relay-recv]}") s
ferry receive alone (namespaces): $(printf %.1f "$recv_mbps") MB/s, $(printf %.2f× "$(echo "$recv_mbps / $(mbps scp)" | bc -l)") scp, $(printf %.2f× "$(echo "$recv_mbps / $(mbps wormhole)" | bc -l)") wormhole
ferry's own report of bytes moved: ns ${recvbytes[ferry-ns]:-?}, lo ${recvbytes[ferry-lo]:-?}, relay ${recvbytes[ferry-relay]:-?}
ferry receive phases, ns (${paths[ferry-ns]}): ${phases[ferry-ns]}
ferry receive phases, lo (${paths[ferry-lo]}): ${phases[ferry-lo]}
ferry receive phases, relay (${paths[ferry-relay]}): ${phases[ferry-relay]}
scp/rsync: client in one namespace, sshd (aes128-gcm@openssh.com) in the other, over the veth
wormhole: zips the directory (deflate) on the sender, unzips on the receiver; seconds run until the
  receiver has unpacked the files; its mailbox and transit relay ran on the veth (their CPU not counted)
digests: every copy (ceiling, ferry ×3, scp, rsync, wormhole) has the source's history digest

targets
  Ferry ≥ 1.5× scp throughput:            $(printf %.2f× "$scp_x")   $(verdict "$scp_x >= 1.5")
  Ferry ≥ 1.3× rsync throughput:          $(printf %.2f× "$rsync_x")   $(verdict "$rsync_x >= 1.3")
  Ferry ≥ 5× magic-wormhole throughput:   $(printf %.2f× "$wh_x")   $(verdict "$wh_x >= 5")
  Ferry ≥ 0.9× the tar|socat ceiling:     $(printf %.2f× "$ceil_x")   $(verdict "$ceil_x >= 0.9")
  relayed ≥ 0.7× direct (ferry-ns):       $(printf %.2f× "$relay_x")   $(verdict "$relay_x >= 0.7")
  send start → first byte received < 1 s: ns $(printf %.3f "${sfirst[ferry-ns]}") s, lo $(printf %.3f "${sfirst[ferry-lo]}") s (relay $(printf %.3f "${sfirst[ferry-relay]}") s)   $(verdict "${sfirst[ferry-ns]} < 1")
  receive → first byte of history:        ns $(printf %.3f "${first[ferry-ns]}") s, lo $(printf %.3f "${first[ferry-lo]}") s (relay $(printf %.3f "${first[ferry-relay]}") s)
  peak RSS each side < 200 MiB:           max $maxrss MiB   $(verdict "$maxrss < 200")
  second migration, unchanged, < 1 s:     $(printf %.2f "${secs[ferry-again]}") s, ${recvbytes[ferry-again]:-?} bytes moved   $(verdict "${secs[ferry-again]} < 1")
REPORT
