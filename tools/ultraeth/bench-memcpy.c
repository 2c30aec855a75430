// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The guest's memcpy rate, for make bench: copies a 64 MiB buffer into
 * another for about a second, three times, and prints one line per run,
 * "<bytes>,<run>,ok,<MiB/s>,0" (perftest's unit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEN (64UL << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	char *a = malloc(LEN), *b = malloc(LEN);
	int run;

	if (!a || !b) {
		perror("malloc");
		return 1;
	}
	memset(a, 1, LEN);
	memset(b, 2, LEN);
	for (run = 1; run <= 3; run++) {
		double t0 = now(), t;
		unsigned long n = 0;

		do {
			memcpy(n & 1 ? a : b, n & 1 ? b : a, LEN);
			/* the copy is observable: the compiler keeps it */
			__asm__ volatile("" : : "r"(a), "r"(b) : "memory");
			n++;
			t = now() - t0;
		} while (t < 1.0);
		printf("%lu,%d,ok,%.1f,0\n", LEN, run, n * (double)LEN / t / 1048576);
	}
	free(a);
	free(b);
	return 0;
}
