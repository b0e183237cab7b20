# shellcheck shell=bash
# Starts a MinIO server on 127.0.0.1, for CI (.ci/run: the S3 storage tests)
# and the vault benchmark (bench/vault.sh). Source this file, then:
#
#   start_minio DIR USER PASSWORD [PORT]
#
# runs minio with DIR/data as its own data directory and those credentials
# on PORT (its console on PORT+1), or on a free port of 20000-29999 (below
# the ephemeral ports, which the tests' own listeners take), and waits (up
# to a minute) until it is live and its object layer is up; it sets MINIO_PID and MINIO_PORT. If it cannot start, it
# prints the server's output (DIR/log), stops it and returns 1. The caller
# stops the server by its PID.

# The MinIO release Ferry is tested with (the module proxy serves it; it
# refuses @latest).
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

# minio_bin prints the path of the minio binary: on PATH, else in
# $(go env GOPATH)/bin; it fails if there is none.
minio_bin() {
  command -v minio && return
  local p
  p="$(go env GOPATH)/bin/minio"
  [ -x "$p" ] && echo "$p"
}

# minio_live PORT: the server answers its liveness check and is not still
# bringing up its object layer ("x-minio-server-status: offline", when S3
# requests still fail).
minio_live() {
  local answer
  answer=$({ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null &&
    printf 'GET /minio/health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
    timeout 2 cat <&3) || return 1
  [[ $answer == HTTP/1.?" 200"* && ${answer,,} != *"x-minio-server-status: offline"* ]]
}

start_minio() {
  local dir=$1 user=$2 pass=$3 fixed=${4:-} bin port tries=3
  bin=$(minio_bin) || {
    echo "no minio binary: go install github.com/minio/minio@$MINIO_VERSION" >&2
    return 1
  }
  mkdir -p "$dir/data"
  [ -z "$fixed" ] || tries=1
  for ((try = 0; try < tries; try++)); do # a port someone else took: try another
    port=${fixed:-$((20000 + RANDOM % 10000))}
    MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass MINIO_BROWSER=off \
      MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off \
      "$bin" server --quiet --address "127.0.0.1:$port" \
      --console-address "127.0.0.1:$((port + 1))" "$dir/data" >"$dir/log" 2>&1 &
    MINIO_PID=$!
    for _ in $(seq 600); do
      if minio_live "$port"; then
        MINIO_PORT=$port
        return 0
      fi
      kill -0 "$MINIO_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$MINIO_PID" 2>/dev/null || true
    wait "$MINIO_PID" 2>/dev/null || true
    MINIO_PID=
  done
  echo "minio did not start on 127.0.0.1; its output:" >&2
  cat "$dir/log" >&2
  return 1
}
