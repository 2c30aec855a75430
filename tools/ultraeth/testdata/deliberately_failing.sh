#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# A kselftest that always fails: harness-test.sh injects it to prove that a
# failing test fails the check. Never part of the real collection.
echo "TAP version 13"
echo "1..2"
echo "ok 1 harmless case"
echo "not ok 2 deliberate failure"
exit 1
