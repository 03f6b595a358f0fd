#!/bin/sh
# rng: [rng] gives the guest a virtio entropy device: the hw_random core picks it
# (rng_current names virtio_rng), 64 bytes read from /dev/hwrng are 64 bytes, and two
# samples are neither all zeros nor equal.
. /nested/lib.sh
run_petrel "$CONFIGS/rng.toml"
expect_exit 0
expect_stdout_has PETREL-GUEST-INIT-OK
current=$(stdout_value GUEST-RNG-CURRENT)
case $current in
  virtio_rng*) ;;
  *) fail "rng_current is '$current', expected virtio_rng.N" ;;
esac
expect_value GUEST-RNG-BYTES 64
samples=$(grep '^GUEST-RNG-SAMPLE ' "$PETREL_OUT" | tr -d '\r' | cut -d' ' -f2)
[ "$(echo "$samples" | wc -l)" -eq 2 ] || fail "expected 2 GUEST-RNG-SAMPLE lines: $samples"
a=$(echo "$samples" | head -n 1)
b=$(echo "$samples" | tail -n 1)
for s in "$a" "$b"; do
  [ ${#s} -eq 128 ] || fail "a 64-byte sample is '$s' (${#s} hex digits, expected 128)"
  case $s in *[!0-9a-f]*) fail "a sample is not hex: '$s'" ;; esac
  [ -n "$(echo "$s" | tr -d 0)" ] || fail "a 64-byte sample is all zeros"
done
[ "$a" != "$b" ] || fail "two 64-byte samples are equal: $a"
expect_stdout_has GUEST-POWEROFF
expect_stdout_lacks GUEST-ERROR
expect_stderr_lacks "error"
pass
