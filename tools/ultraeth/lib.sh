# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Common settings for the uet_soft build and test scripts (sourced, not run).

set -euo pipefail
trap 'echo "error: ${BASH_SOURCE[0]##*/}:$LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

UET_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
UET_CACHE=${UET_CACHE:-$HOME/.cache/ultraeth}
UET_LINUX_PKG=${UET_LINUX_PKG:-linux-source-7.3}
UET_RDMA_CORE_VER=${UET_RDMA_CORE_VER:-56.1}
UET_BINDGEN_VER=0.71.1
UET_LIBCLANG_VER=18.1.1
UET_JOBS=${UET_JOBS:-$(nproc)}
mkdir -p "$UET_CACHE/logs"
# Kernel variant (kenv.sh): "" is the guest kernel, "debug" the debug lane's
# kernel (guest-debug.config, clang) in build/<linux>-debug/, whose build
# logs and locks carry the same suffix.
case ${UET_KVARIANT:=} in
"") UET_KSUFFIX= ;;
debug) UET_KSUFFIX=-debug ;;
*) printf 'error: UET_KVARIANT must be empty or "debug"\n' >&2; exit 1 ;;
esac
# the LLVM suffix of the debug kernel's clang (Debian's clang-19, lld-19)
UET_DEBUG_LLVM=${UET_DEBUG_LLVM:--19}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# run_logged LOG DESCRIPTION CMD...: run CMD with its output in LOG; on failure
# print the last lines of the log and its path.
run_logged() {
	local log=$1 what=$2
	shift 2
	say "$what (log: $log)"
	if ! "$@" >"$log" 2>&1; then
		printf 'error: %s failed; last lines of %s:\n' "$what" "$log" >&2
		grep -E -i -B2 -A2 'error|fatal|undefined|No such' "$log" | tail -n 30 >&2 ||
			tail -n 30 "$log" >&2
		printf -- '--- tail ---\n' >&2
		tail -n 15 "$log" >&2
		printf 'full log: %s\n' "$log" >&2
		return 1
	fi
}

# Private apt configuration: trixie + trixie-backports, never touching /etc/apt.
UET_APT_DIR=$UET_CACHE/apt
uet_apt_opts() {
	printf '%s\n' \
		-o "Dir::Etc::SourceList=$UET_APT_DIR/etc/sources.list" \
		-o "Dir::Etc::SourceParts=/dev/null" \
		-o "Dir::State::Lists=$UET_APT_DIR/lists" \
		-o "Dir::Cache=$UET_APT_DIR" \
		-o "Dir::Cache::Archives=$UET_APT_DIR/archives" \
		-o "Dir::Etc::Preferences=/dev/null" \
		-o "Dir::Etc::PreferencesParts=/dev/null" \
		-o "APT::Sandbox::User=root"
}

# The archive is the one of the machine's own apt sources (apt-mirror.sh).
. "$UET_TOP/tools/ultraeth/apt-mirror.sh"
uet_apt_setup() {
	local mirror key=/usr/share/keyrings/debian-archive-keyring.gpg
	mirror=$(uet_debian_mirror) ||
		die "no Debian archive in this machine's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list or *.sources); add one, or set UET_DEBIAN_MIRROR to a Debian archive URI"
	mkdir -p "$UET_APT_DIR"/{lists/partial,archives/partial,etc}
	cat >"$UET_APT_DIR/etc/sources.list.new" <<EOS
deb [signed-by=$key] $mirror trixie main
deb [signed-by=$key] $mirror trixie-backports main
deb-src [signed-by=$key] $mirror trixie main
deb-src [signed-by=$key] $mirror trixie-backports main
EOS
	# a new archive needs new lists
	if ! cmp -s "$UET_APT_DIR/etc/sources.list.new" "$UET_APT_DIR/etc/sources.list"; then
		mv "$UET_APT_DIR/etc/sources.list.new" "$UET_APT_DIR/etc/sources.list"
		rm -f "$UET_APT_DIR/updated"
		say "private apt configuration: trixie and trixie-backports from $mirror"
	else
		rm -f "$UET_APT_DIR/etc/sources.list.new"
	fi
	local stamp=$UET_APT_DIR/updated
	if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440)" ]; then
		local opts
		mapfile -t opts < <(uet_apt_opts)
		run_logged "$UET_CACHE/logs/apt-update.log" "apt-get update (private trixie config)" \
			apt-get "${opts[@]}" update
		touch "$stamp"
	fi
}

uet_apt() {
	local opts
	mapfile -t opts < <(uet_apt_opts)
	apt-get "${opts[@]}" "$@"
}

uet_apt_cache() {
	local opts
	mapfile -t opts < <(uet_apt_opts)
	apt-cache "${opts[@]}" "$@"
}

# Toolchain locations (installed by toolchain.sh).
UET_BINDGEN_DIR=$UET_CACHE/bindgen-$UET_BINDGEN_VER/bin
uet_libclang_path() {
	dirname "$(find "$UET_CACHE/libclang-$UET_LIBCLANG_VER" -name 'libclang.so*' | head -n1)"
}

# uet_lock NAME: hold an exclusive lock for the rest of the script, so two
# builds of the same tree (two shells, or a helper) never run at once.
uet_lock() {
	local f=$UET_CACHE/$1.lock
	exec {UET_LOCK_FD}>"$f"
	if ! flock -n "$UET_LOCK_FD"; then
		say "waiting for another build holding $f"
		flock "$UET_LOCK_FD"
	fi
}
