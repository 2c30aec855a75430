#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Host test of uet_debian_mirror (apt-mirror.sh): the Debian archive is
# found in one-line and deb822 sources, the security archive, other
# distributions, disabled entries and comments are skipped, and a machine
# with no Debian source gets a clear failure. Prints TAP.
. "$(dirname "$0")/apt-mirror.sh"
unset UET_DEBIAN_MIRROR

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0 failed=0

# case NAME WANT: uet_debian_mirror on $T/etc (WANT empty: must fail)
case_() {
	local name=$1 want=$2 got rc
	n=$((n + 1))
	got=$(uet_debian_mirror "$T/etc")
	rc=$?
	if { [ -z "$want" ] && [ $rc -ne 0 ] && [ -z "$got" ]; } ||
	   { [ -n "$want" ] && [ $rc -eq 0 ] && [ "$got" = "$want" ]; }; then
		echo "ok $n $name"
	else
		echo "not ok $n $name: got '$got' (status $rc), want '${want:-failure}'"
		failed=$((failed + 1))
	fi
	rm -rf "$T/etc"
	mkdir -p "$T/etc/sources.list.d"
}

echo "TAP version 13"
echo "1..9"
mkdir -p "$T/etc/sources.list.d"

cat >"$T/etc/sources.list" <<'S'
# a comment: deb http://commented.invalid/debian bookworm main
deb http://security.site.invalid/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.site.invalid/debian/ bookworm main contrib
S
case_ "one-line, options, security archive skipped" "http://mirror.site.invalid/debian"

cat >"$T/etc/sources.list" <<'S'
deb http://proxy.site.invalid:3142/debian bookworm-updates main
S
case_ "one-line, a caching proxy with a port" "http://proxy.site.invalid:3142/debian"

cat >"$T/etc/sources.list.d/debian.sources" <<'S'
Types: deb
# http://snapshot.site.invalid/archive/debian/20250520T000000Z
URIs: http://mirror.site.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.site.invalid/debian-security
Suites: bookworm-security
Components: main
S
case_ "deb822 .sources" "http://mirror.site.invalid/debian"

cat >"$T/etc/sources.list.d/a.sources" <<'S'
Types: deb
URIs: https://vendor.site.invalid/apt
Suites: nodistro
Components: main

Enabled: no
Types: deb
URIs: http://disabled.site.invalid/debian
Suites: trixie
Components: main
S
cat >"$T/etc/sources.list.d/b.sources" <<'S'
types: deb deb-src
uris: https://second.site.invalid/debian/
suites: trixie
components: main
S
case_ "deb822: third-party and disabled stanzas skipped, lower-case keys" "https://second.site.invalid/debian"

cat >"$T/etc/sources.list.d/vendor.list" <<'S'
deb https://vendor.site.invalid/apt cloud-sdk-bookworm main
S
cat >"$T/etc/sources.list.d/debian.list" <<'S'
deb-src http://src.site.invalid/debian sid main
S
case_ "sources.list.d/*.list, a third-party suite skipped" "http://src.site.invalid/debian"

cat >"$T/etc/sources.list.d/x.list.disabled" <<'S'
deb http://ignored.site.invalid/debian bookworm main
S
case_ "files apt does not read are ignored" ""

cat >"$T/etc/sources.list" <<'S'
deb http://archive.site.invalid/ubuntu jammy main
deb cdrom:[Debian GNU/Linux 12]/ bookworm main
S
case_ "no Debian archive (another distribution, a CD-ROM)" ""

case_ "no sources at all" ""

UET_DEBIAN_MIRROR=http://override.site.invalid/debian/
case_ "UET_DEBIAN_MIRROR wins" "http://override.site.invalid/debian"
unset UET_DEBIAN_MIRROR

[ $failed -eq 0 ]
