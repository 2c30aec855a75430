# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The Debian archive this machine uses (sourced by lib.sh, and by
# apt-mirror-test.sh). The private apt configuration fetches trixie and
# trixie-backports from the same archive as the machine's own apt sources,
# so that a site mirror or a caching proxy keeps working; the project names
# no mirror host of its own.

# uet_debian_mirror [APT_ETC]: print the URI of the first Debian archive
# (not the security archive) in APT_ETC/sources.list and
# APT_ETC/sources.list.d/*.list (one-line format) and
# APT_ETC/sources.list.d/*.sources (deb822), APT_ETC defaulting to
# /etc/apt. $UET_DEBIAN_MIRROR, if set, wins. Returns 1 with nothing
# printed if there is none.
uet_debian_mirror() {
	local etc=${1:-/etc/apt} f uri
	if [ -n "${UET_DEBIAN_MIRROR:-}" ]; then
		printf '%s\n' "${UET_DEBIAN_MIRROR%/}"
		return 0
	fi
	# A Debian archive suite: a release codename or alias, optionally
	# -updates/-backports/-proposed-updates; never the security archive.
	local suites='^(buzz|rex|bo|hamm|slink|potato|woody|sarge|etch|lenny|squeeze|wheezy|jessie|stretch|buster|bullseye|bookworm|trixie|forky|duke|sid|oldoldstable|oldstable|stable|testing|unstable|experimental)(-updates|-backports|-backports-sloppy|-proposed-updates)?$'
	for f in "$etc/sources.list" "$etc"/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		uri=$(awk -v re="$suites" '
			{ sub(/#.*/, "") }
			$1 != "deb" && $1 != "deb-src" { next }
			{
				line = $0
				gsub(/\[[^]]*\]/, "", line)	# [options]
				n = split(line, w, /[ \t]+/)
				j = 0
				for (i = 1; i <= n; i++) if (w[i] != "") v[++j] = w[i]
				# v[1] type, v[2] URI, v[3] suite
				if (j >= 3 && v[2] ~ /^(https?|ftp|mirror\+https?):\/\// && v[3] ~ re) {
					print v[2]; exit
				}
			}' "$f")
		if [ -n "$uri" ]; then
			printf '%s\n' "${uri%/}"
			return 0
		fi
	done
	for f in "$etc"/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		uri=$(awk -v re="$suites" '
			function flush(   i, n, u, s, ok) {
				if (done) return
				if (types ~ /(^| )deb(-src)?( |$)/ && enabled !~ /^(no|false|0)$/) {
					n = split(suites_f, s, /[ \t]+/)
					ok = 0
					for (i = 1; i <= n; i++) if (s[i] ~ re) ok = 1
					n = split(uris, u, /[ \t]+/)
					if (ok) for (i = 1; i <= n; i++)
						if (u[i] ~ /^(https?|ftp|mirror\+https?):\/\//) { print u[i]; done = 1; exit }
				}
				types = uris = suites_f = enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{
				key = tolower($1); val = $0
				sub(/^[^:]*:[ \t]*/, "", val)
				if (key == "types:") types = val
				else if (key == "uris:") uris = val
				else if (key == "suites:") suites_f = val
				else if (key == "enabled:") enabled = tolower(val)
			}
			END { flush() }' "$f")
		if [ -n "$uri" ]; then
			printf '%s\n' "${uri%/}"
			return 0
		fi
	done
	return 1
}
