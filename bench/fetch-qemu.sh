#!/usr/bin/env bash
# fetch-qemu.sh DEST: puts Debian's arm64 QEMU (qemu-system-arm:arm64) and exactly the
# shared libraries it loads into DEST, for the benchmark's emulated arm64 host (L1):
#
#   DEST/usr/bin/qemu-system-aarch64
#   DEST/lib/ld-linux-aarch64.so.1         the dynamic loader (a real file, not a link)
#   DEST/lib/<soname>                      every library in the binary's NEEDED closure
#
# and runs there as
#   DEST/lib/ld-linux-aarch64.so.1 --library-path DEST/lib DEST/usr/bin/qemu-system-aarch64
#
# How the libraries are found: the ELF NEEDED entries (readelf -d) of the binary, then of
# each library taken, are matched against the files of the owning package's direct
# Depends/Pre-Depends (lib* packages only), downloaded one by one with apt-get download.
# So only what the binary really loads ends up in DEST (no GUI, audio, firmware or data
# packages), and nothing is installed on this machine. The .debs are cached in
# $PETREL_CACHE/bench-qemu/debs (default .cache/, git-ignored); a missing cache is refilled.
# Needs the arm64 package lists (dpkg --add-architecture arm64; apt-get update), which
# scripts/setup-debian.sh sets up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
dest=$1
cache=${PETREL_CACHE:-$here/../.cache}
cache=$(mkdir -p "$cache" && cd "$cache" && pwd)/bench-qemu
debs=$cache/debs
pkgs=$cache/pkgs          # one unpacked tree per package
mkdir -p "$debs" "$pkgs"

die() { echo "fetch-qemu: $*" >&2; exit 1; }
for tool in apt-get apt-cache dpkg-deb readelf; do
  command -v "$tool" >/dev/null || die "'$tool' not found"
done

apt_download() { # apt_download PKG: PKG:arm64's candidate .deb into the cache folder
  # (apt's "download is performed unsandboxed as root" notice is noise here)
  (cd "$debs" && apt-get download -q "$1:arm64" 2>&1 >/dev/null | grep -v 'unsandboxed' >&2) || true
}

declare -A dir_of=()
unpack() { # unpack PKG: sets REPLY to the folder with PKG's files (downloaded and unpacked once)
  local pkg=$1 deb dir
  if [ -n "${dir_of[$pkg]:-}" ]; then REPLY=${dir_of[$pkg]}; return; fi
  deb=$(ls "$debs/${pkg}_"*_arm64.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$deb" ]; then
    apt_download "$pkg"
    deb=$(ls "$debs/${pkg}_"*_arm64.deb 2>/dev/null | head -n 1 || true)
    [ -n "$deb" ] || die "cannot download $pkg:arm64"
  fi
  dir=$pkgs/$pkg
  if [ ! -f "$dir/.unpacked" ] || [ "$(cat "$dir/.unpacked")" != "$(basename "$deb")" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir"
    basename "$deb" >"$dir/.unpacked"
  fi
  dir_of[$pkg]=$dir
  REPLY=$dir
}

depends_of() { # depends_of PKG: PKG:arm64's direct library dependencies (real package names)
  apt-cache depends "$1:arm64" 2>/dev/null |
    awk '$1 ~ /^\|?(Pre)?Depends:$/ && $2 !~ /^</ { n = $2; sub(/:arm64$/, "", n); print n }' |
    grep -E '^(lib|zlib)' | sort -u
}

needed_of() { # needed_of ELF: its NEEDED sonames
  readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

find_soname() { # find_soname DIR SONAME: the path of SONAME in DIR's library folders, if any
  local p
  for p in "$1"/lib/aarch64-linux-gnu "$1"/usr/lib/aarch64-linux-gnu "$1"/lib "$1"/usr/lib; do
    if [ -e "$p/$2" ]; then echo "$p/$2"; return 0; fi
  done
  return 1
}

[ -n "$(apt-cache policy qemu-system-arm:arm64 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"')" ] ||
  die "qemu-system-arm:arm64 unknown to apt (enable arm64: dpkg --add-architecture arm64 && apt-get update)"

unpack qemu-system-arm
qemu_dir=$REPLY
qemu_deb=$(cat "$qemu_dir/.unpacked")
qemu_bin=$qemu_dir/usr/bin/qemu-system-aarch64
[ -f "$qemu_bin" ] || die "qemu-system-arm:arm64 has no usr/bin/qemu-system-aarch64"

# The resolved tree is cached too, keyed by the QEMU package and this script.
tree=$cache/tree
stamp="$qemu_deb $(cksum <"$0" | cut -d' ' -f1)"
if [ ! -f "$tree/.stamp" ] || [ "$(cat "$tree/.stamp")" != "$stamp" ]; then
  rm -rf "$tree"
  mkdir -p "$tree/usr/bin" "$tree/lib"
  cp "$qemu_bin" "$tree/usr/bin/qemu-system-aarch64"

  # Breadth-first over (ELF, owning package): each NEEDED soname not yet placed is looked
  # up in the owner's direct dependencies (then in every package already taken).
  declare -A placed=() owner_deps=() taken=()
  queue=("$qemu_bin|qemu-system-arm")
  while [ ${#queue[@]} -gt 0 ]; do
    item=${queue[0]}
    queue=("${queue[@]:1}")
    elf=${item%|*}
    owner=${item##*|}
    for soname in $(needed_of "$elf"); do
      [ -z "${placed[$soname]:-}" ] || continue
      if [ -z "${owner_deps[$owner]+x}" ]; then owner_deps[$owner]=$(depends_of "$owner"); fi
      found='' from=''
      for cand in ${owner_deps[$owner]} "${!taken[@]}"; do
        unpack "$cand"
        if found=$(find_soname "$REPLY" "$soname"); then from=$cand; break; fi
      done
      [ -n "$from" ] || die "no dependency of $owner provides $soname (needed by $(basename "$elf"))"
      cp -L "$found" "$tree/lib/$soname"
      placed[$soname]=$from
      taken[$from]=1
      queue+=("$found|$from")
    done
  done

  # The loader named in the binary's PT_INTERP, as a real file in lib/.
  interp=$(readelf -l "$qemu_bin" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
  [ -n "$interp" ] || die "no PT_INTERP in qemu-system-aarch64"
  unpack libc6
  loader=$(find_soname "$REPLY" "$(basename "$interp")") || die "libc6 has no $(basename "$interp")"
  cp -L "$loader" "$tree/lib/ld-linux-aarch64.so.1"
  taken[libc6]=1
  {
    echo "# written by bench/fetch-qemu.sh: the packages whose files are in this tree"
    for p in "${!taken[@]}" qemu-system-arm; do cat "$pkgs/$p/.unpacked"; done | sort
  } >"$tree/PACKAGES"
  echo "$stamp" >"$tree/.stamp"
fi

rm -rf "$dest"
mkdir -p "$dest"
cp -a "$tree/usr" "$tree/lib" "$tree/PACKAGES" "$dest/"
echo "fetch-qemu: $qemu_deb + $(($(ls "$dest/lib" | wc -l) - 1)) libraries," \
  "$(du -sh "$dest" | cut -f1) in $dest" >&2
