#!/usr/bin/env bash
# Today's container engines from Debian's own archive, without upgrading the system: their
# .debs are fetched with `apt-get download` against a private sources list and unpacked with
# `dpkg -x` under ENGINES_DIR (default .deps/engines; kept between runs, so CI fetches once).
#   containerd-1.7, docker-26: Debian 13 (trixie): containerd 1.7.24, docker.io 26.1.5
#   containerd-2.1, docker-28: Debian unstable (sid): containerd 2.1.9, docker.io 28.5.2
#   containerd-1.6, docker-20.10: Debian 12's own packages (scripts/install-deps.sh)
# Their binaries need glibc 2.34 at most and run on Debian 12; their runc does not (it needs
# 2.38), so Debian 12's runc stays in use.
# usage: engines.sh fetch             fetch and unpack every engine not yet there; print versions
#        engines.sh bin ENGINE        print the directory holding ENGINE's binaries
#        engines.sh list              the engine names
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
ENGINES_DIR=$(realpath -m "${ENGINES_DIR:-$HERE/.deps/engines}")
ENGINES=(containerd-1.6 containerd-1.7 containerd-2.1 docker-20.10 docker-26 docker-28)

# suite and packages of each fetched engine, and the version its binary must report
suite_of() { case $1 in containerd-1.7|docker-26) echo trixie ;; containerd-2.1|docker-28) echo sid ;; esac; }
packages_of() { case $1 in containerd-*) echo containerd ;; docker-*) echo docker.io docker-cli docker-compose ;; esac; }
version_of() { "$(bin_of "$1")/${2:-$(main_binary "$1")}" --version 2>/dev/null | head -1; }
main_binary() { case $1 in containerd-*) echo containerd ;; docker-*) echo dockerd ;; esac; }

bin_of() {
  case " ${ENGINES[*]} " in
    *" $1 "*) echo "$ENGINES_DIR/$1/bin" ;;
    *) echo "unknown engine '$1' (known: ${ENGINES[*]})" >&2; return 2 ;;
  esac
}

link_system_engine() {  # Debian 12's own engine: a directory of links, like the fetched ones
  local dest="$ENGINES_DIR/$1/bin"
  mkdir -p "$dest"
  for f in /usr/bin/containerd /usr/bin/ctr /usr/bin/containerd-shim-runc-v2 /usr/sbin/dockerd \
           /usr/bin/docker; do
    case $1:$f in containerd-*:*/containerd*|containerd-*:*/ctr|docker-*:*docker*) ln -sf "$f" "$dest/" ;; esac
  done
}

apt_opts() {  # apt_opts SUITE: apt options that read and write only under ENGINES_DIR/apt-SUITE
  local d="$ENGINES_DIR/apt-$1"
  echo "-o Dir::Etc::SourceList=$d/sources.list -o Dir::Etc::SourceParts=/nonexistent" \
       "-o Dir::State::Lists=$d/lists -o Dir::Cache=$d/cache -o Debug::NoLocking=1" \
       "-o APT::Sandbox::User=root"
}

fetch_suite_index() {  # once per suite and run
  local suite=$1 d="$ENGINES_DIR/apt-$1"
  [ -f "$d/.updated" ] && return 0
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    > "$d/sources.list"
  # shellcheck disable=SC2046
  apt-get -q $(apt_opts "$suite") update >"$d/update.log" 2>&1 \
    || { echo "apt-get update of Debian '$suite' failed:" >&2; tail -5 "$d/update.log" >&2; return 1; }
  touch "$d/.updated"
}

fetch_engine() {
  local e=$1 suite dest debs
  suite=$(suite_of "$e"); dest="$ENGINES_DIR/$e"
  [ -f "$dest/.complete" ] && return 0
  fetch_suite_index "$suite"
  rm -rf "$dest"; debs="$dest/debs"; mkdir -p "$debs" "$dest/root" "$dest/bin"
  # shellcheck disable=SC2046
  (cd "$debs" && apt-get -q $(apt_opts "$suite") download $(packages_of "$e") >download.log 2>&1) \
    || { echo "Debian '$suite' does not offer $(packages_of "$e") for $e:" >&2; tail -5 "$debs/download.log" >&2; return 1; }
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$dest/root"; done
  rm -rf "$debs"
  # one directory of binaries per engine: daemons, clients, containerd's runc shim
  for f in usr/bin/containerd usr/bin/ctr usr/bin/containerd-shim-runc-v2 usr/sbin/dockerd \
           usr/bin/docker usr/sbin/docker-proxy; do
    [ -e "$dest/root/$f" ] && ln -sf "../root/$f" "$dest/bin/"
  done
  if [[ $e == docker-* ]]; then
    mkdir -p "$dest/cli-plugins"
    ln -sf ../root/usr/libexec/docker/cli-plugins/docker-compose "$dest/cli-plugins/"
  fi
  version_of "$e" >/dev/null || { echo "$e: $(main_binary "$e") does not run on this system" >&2; return 1; }
  touch "$dest/.complete"
}

case ${1:-} in
fetch)
  for e in "${ENGINES[@]}"; do
    if [ -n "$(suite_of "$e")" ]; then fetch_engine "$e"; else link_system_engine "$e"; fi
    printf '%-13s %s\n' "$e" "$(version_of "$e")"
  done
  ;;
bin) bin_of "${2:?usage: engines.sh bin ENGINE}" ;;
list) echo "${ENGINES[*]}" ;;
*) sed -n 2,12p "$0"; exit 2 ;;
esac
