#!/usr/bin/env bash
# Runs the README's demo command (scripts/demo.sh) with its input scripted, as a new user
# would type it: waits for the guest's init, types a command into the guest's shell and
# checks its output, then `poweroff -f`, and checks that petrel reported exit status 0.
# Part of scripts/test.sh, so the demo cannot rot. Bounded: DEMO_TIMEOUT seconds (default 300).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bound=${DEMO_TIMEOUT:-300}
log=$root/build/demo/check.log
mkdir -p "$(dirname "$log")"
: >"$log"

# The demo's output goes to the log; its input is a FIFO this script writes when the log
# shows the guest is ready for it.
fifo=$(mktemp -u)
mkfifo "$fifo"
trap 'rm -f "$fifo"' EXIT
timeout --kill-after=10 "$bound" "$root/scripts/demo.sh" <"$fifo" >"$log" 2>&1 &
demo=$!
exec 3>"$fifo"

wait_for() { # wait_for TEXT: until the log holds TEXT, the demo ends, or the bound passes
  local start=$SECONDS
  while ! tr -d '\r' <"$log" | grep -qF -- "$1"; do
    if ! kill -0 "$demo" 2>/dev/null || [ $((SECONDS - start)) -ge "$bound" ]; then
      echo "demo-check: never saw '$1'; the demo's output:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 1
  done
}

wait_for PETREL-GUEST-INIT-OK
sleep 2 # the shell's prompt comes after the init marker
# shellcheck disable=SC2016 # $((...)) is for the guest's shell to expand
printf 'echo demo-says-$((6 * 7))\n' >&3
wait_for demo-says-42
printf 'poweroff -f\n' >&3
wait_for "demo: petrel exited with status 0"
exec 3>&-
wait "$demo" || true
echo "demo-check: the demo booted, ran a typed command and powered off (exit 0)"
