#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# A uet device lives in the network namespace of its netdev: in exclusive
# RDMA netns mode (`rdma system set netns exclusive`), a device created with
# `rdma link add` inside a namespace is seen, used and deleted there only,
# not from the other namespace nor from init_net; its name is per namespace;
# it goes away with its namespace.
# Switches back to shared mode at the end (and always restores the mode the
# system had).
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NS_A=uet-netns-a
NS_B=uet-netns-b

ktap_print_header
uet_require_cmd "$RDMA" "$IP"
uet_require_module uet_soft

# netns_mode: "shared" or "exclusive", as `rdma system show` says
netns_mode() {
	"$RDMA" system show 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) if ($i == "netns") { print $(i + 1); exit } }'
}

# set_mode MODE: `rdma system set netns MODE`, retried for 30 s while it
# fails with EBUSY (the kernel refuses to switch while any network namespace
# other than init_net exists, and namespaces die asynchronously). Its output
# in $out; returns its exit status.
set_mode() {
	local i rc
	for i in $(seq 1 150); do
		uet_rdma out system set netns "$1"
		rc=$?
		[ $rc -eq 0 ] && return 0
		grep -qi 'busy' <<<"$out" || return $rc
		sleep 0.2
	done
	return $rc
}

# in_ns NS CMD...: run CMD in netns NS ("" is init_net)
in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then
		"$IP" netns exec "$ns" "$@"
	else
		"$@"
	fi
}

# devs NS: the RDMA devices `rdma dev` lists in NS, one line
devs() {
	in_ns "$1" "$RDMA" dev show 2>&1 |
		awk '/^[0-9]+:/ { sub(/:$/, "", $2); printf "%s ", $2 }'
}

# has_dev NS NAME: `rdma dev` in NS lists NAME
has_dev() {
	[[ " $(devs "$1") " == *" $2 "* ]]
}

# links NS: `rdma link` in NS, one line
links() {
	in_ns "$1" "$RDMA" link show 2>&1 | tr '\n' ' '
}

# sysfs_has NS NAME: /sys/class/infiniband/NAME exists as NS sees it
# (`ip netns exec` mounts a sysfs of NS)
sysfs_has() {
	in_ns "$1" bash -c '[ -e "/sys/class/infiniband/$1" ]' _ "$2"
}

# ns_delete_links NS: delete every uet device NS lists
ns_delete_links() {
	local d
	for d in $(devs "$1"); do
		[[ "$d" == uet* ]] && in_ns "$1" "$RDMA" link delete "$d" 2>/dev/null
	done
}

ORIG_MODE=
cleanup() {
	local ns
	for ns in "$NS_A" "$NS_B"; do
		if [ -e "/var/run/netns/$ns" ]; then
			ns_delete_links "$ns"
			"$IP" netns delete "$ns" 2>/dev/null
		fi
	done
	"$IP" link delete vethA 2>/dev/null
	"$IP" link delete vethB 2>/dev/null
	uet_delete_links
	if [ -n "$ORIG_MODE" ] && [ "$(netns_mode)" != "$ORIG_MODE" ]; then
		set_mode "$ORIG_MODE" ||
			echo "# cleanup: cannot restore netns mode $ORIG_MODE: $out"
	fi
	modprobe -r uet_soft 2>/dev/null
}
trap cleanup EXIT

ORIG_MODE=$(netns_mode)
[ -n "$ORIG_MODE" ] || {
	ktap_skip_all "rdma system show does not report the netns mode: $("$RDMA" system show 2>&1)"
	exit "$KSFT_SKIP"
}
modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"

# Switching needs init_net to be the only namespace: other tests' namespaces
# may still be going away (set_mode waits); one that stays is not ours.
set_mode exclusive
rc=$?
if [ $rc -ne 0 ] && grep -qi 'busy' <<<"$out"; then
	ktap_skip_all "rdma system set netns exclusive: other network namespaces exist ($out; ip netns: $("$IP" netns list | tr '\n' ' '))"
	exit "$KSFT_SKIP"
fi
have_ibv=1
command -v ibv_devices >/dev/null 2>&1 || have_ibv=
ktap_set_plan 12

# 1: exclusive mode is on
mode=$(netns_mode)
ktap_print_msg "rdma system set netns exclusive: rc $rc${out:+ $out}; was $ORIG_MODE, now ${mode:-unknown}"
[ $rc -eq 0 ] && [ "$mode" = exclusive ]
ok=$?
ktap_test_result "rdma system set netns exclusive" [ $ok -eq 0 ]
[ $ok -eq 0 ] || ktap_exit_fail_msg "cannot test without exclusive mode"

# two namespaces joined by a veth pair: vethA in NS_A, vethB in NS_B
"$IP" netns add "$NS_A" && "$IP" netns add "$NS_B" &&
	"$IP" link add vethA type veth peer name vethB &&
	"$IP" link set vethA netns "$NS_A" &&
	"$IP" link set vethB netns "$NS_B" &&
	"$IP" -n "$NS_A" addr add 10.78.0.1/24 dev vethA &&
	"$IP" -n "$NS_B" addr add 10.78.0.2/24 dev vethB &&
	"$IP" -n "$NS_A" link set vethA up && "$IP" -n "$NS_B" link set vethB up ||
	ktap_exit_fail_msg "cannot create the namespaces and the veth pair"

# 2-3: rdma link add inside each namespace, on the netdev there
# add_in NS DEV NETDEV: rdma link add in NS; DEV shows up there on NETDEV
add_in() {
	local ns=$1 dev=$2 ndev=$3 rc show
	out=$(in_ns "$ns" "$RDMA" link add "$dev" type uet netdev "$ndev" 2>&1)
	rc=$?
	show=$(in_ns "$ns" "$RDMA" link show "$dev/1" 2>&1)
	ktap_print_msg "$ns: rdma link add $dev type uet netdev $ndev: rc $rc${out:+ $out}; rdma link show: $show"
	[ $rc -eq 0 ] && [[ "$show" == *"link $dev/1 "*"netdev $ndev"* ]]
}
add_in "$NS_A" uetA vethA
ktap_test_result "$NS_A: rdma link add uetA type uet netdev vethA" [ $? -eq 0 ]
add_in "$NS_B" uetB vethB
ktap_test_result "$NS_B: rdma link add uetB type uet netdev vethB" [ $? -eq 0 ]

# 4-5: each namespace sees its own device, not the other one, through
# rdma dev and its sysfs
# sees_only NS MINE OTHER
sees_only() {
	ktap_print_msg "$1: rdma dev: $(devs "$1"); rdma link: $(links "$1")"
	has_dev "$1" "$2" && ! has_dev "$1" "$3" &&
		sysfs_has "$1" "$2" && ! sysfs_has "$1" "$3"
}
sees_only "$NS_A" uetA uetB
ktap_test_result "$NS_A sees uetA only" [ $? -eq 0 ]
sees_only "$NS_B" uetB uetA
ktap_test_result "$NS_B sees uetB only" [ $? -eq 0 ]

# 6: init_net sees neither (a device created in init_net would be listed)
ktap_print_msg "init_net: rdma dev: $(devs ""); rdma link: $(links "")"
! has_dev "" uetA && ! has_dev "" uetB &&
	! sysfs_has "" uetA && ! sysfs_has "" uetB &&
	[[ "$(links "")" != *"link uet"* ]]
ktap_test_result "init_net sees neither uetA nor uetB" [ $? -eq 0 ]

# 7: libibverbs, in each namespace, finds its own device only
if [ -n "$have_ibv" ]; then
	# ibv_in NS: the device names ibv_devices lists in NS, one line
	ibv_in() {
		in_ns "$1" ibv_devices 2>&1 |
			awk 'NR > 2 && NF { printf "%s ", $1 }'
	}
	ia=$(ibv_in "$NS_A")
	ib=$(ibv_in "$NS_B")
	ii=$(ibv_in "")
	ktap_print_msg "ibv_devices: $NS_A: ${ia:-none}; $NS_B: ${ib:-none}; init_net: ${ii:-none}"
	[[ " $ia " == *" uetA "* && " $ia " != *" uetB "* ]] &&
		[[ " $ib " == *" uetB "* && " $ib " != *" uetA "* ]] &&
		[[ " $ii " != *" uetA "* && " $ii " != *" uetB "* ]]
	ktap_test_result "ibv_devices in each namespace lists its own device only" [ $? -eq 0 ]
else
	ktap_test_skip "ibv_devices in each namespace (ibv_devices is not installed)"
fi

# 8: init_net cannot delete a device of another namespace
uet_rdma out link delete uetA
rc=$?
ktap_print_msg "init_net: rdma link delete uetA: rc $rc${out:+ $out}; $NS_A: rdma dev: $(devs "$NS_A")"
[ $rc -ne 0 ] && has_dev "$NS_A" uetA
ktap_test_result "init_net cannot delete uetA of $NS_A" [ $? -eq 0 ]

# 9: names are per namespace: with uetB gone, NS_B can have a uetA too
in_ns "$NS_B" "$RDMA" link delete uetB 2>/dev/null
add_in "$NS_B" uetA vethB &&
	in_ns "$NS_A" "$RDMA" link show uetA/1 2>&1 | grep -q 'netdev vethA'
ktap_test_result "uetA can exist in $NS_A and $NS_B at once" [ $? -eq 0 ]

# 10: rdma link delete inside each namespace removes its device
ra=$(in_ns "$NS_A" "$RDMA" link delete uetA 2>&1)
rca=$?
rb=$(in_ns "$NS_B" "$RDMA" link delete uetA 2>&1)
rcb=$?
# (the namespaces' names contain "uet": match device names only)
left="$(devs "$NS_A")$(devs "$NS_B")$(devs "")"
left_links="$(links "$NS_A")$(links "$NS_B")$(links "")"
ktap_print_msg "$NS_A: rdma link delete uetA: rc $rca${ra:+ $ra}; $NS_B: rc $rcb${rb:+ $rb}; devices left: ${left:-none}; links left: ${left_links:-none}"
[ $rca -eq 0 ] && [ $rcb -eq 0 ] && [[ "$left" != *uet* ]] &&
	[[ "$left_links" != *"link uet"* ]] &&
	! sysfs_has "$NS_A" uetA && ! sysfs_has "$NS_B" uetA
ktap_test_result "rdma link delete in each namespace leaves no uet device" [ $? -eq 0 ]

# uetA again in NS_A, left there when the namespace goes (case 12)
readd_rc=0
add_in "$NS_A" uetA vethA || readd_rc=1

# 11: without the namespaces, shared mode comes back (set_mode waits for
# ib_core's exit handlers of the namespaces to have run)
"$IP" netns delete "$NS_A"
"$IP" netns delete "$NS_B"
set_mode shared
rc=$?
mode=$(netns_mode)
ktap_print_msg "rdma system set netns shared: rc $rc${out:+ $out}; now ${mode:-unknown}"
[ $rc -eq 0 ] && [ "$mode" = shared ]
ktap_test_result "rdma system set netns shared" [ $? -eq 0 ]

# 12: the device of a deleted namespace goes away with its veth (ib_core's
# exit handler would move a device still there to init_net: in shared mode
# init_net lists every device, so one left anywhere is seen)
uet_wait_for uet_rdma_dev_gone uetA
ktap_print_msg "after deleting $NS_A with uetA in it: rdma dev: $(devs "")"
[ $readd_rc -eq 0 ] && uet_rdma_dev_gone uetA && [[ " $(devs "") " != *" uetA "* ]]
ktap_test_result "deleting $NS_A with uetA in it leaves no uetA" [ $? -eq 0 ]

ktap_finished
