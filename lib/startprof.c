#include "lib/startprof.h"

#include <stdio.h>
#include <time.h>

#include "lib/log.h"

struct phase {
	const char *name;
	long long cpu_us;  /* since process start */
	long long wall_us; /* since the first mark's CLOCK_MONOTONIC origin */
};

static struct phase phases[STARTPROF_MAX];
static int nphases;
static long long wall0_us = -1;

/* clock_gettime, not getrusage: every seccomp allowlist has the former. */
static long long
cpu_now_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == -1)
		return 0;
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static long long
wall_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

void
startprof_mark(const char *phase)
{
	/*
	 * The wall origin is the first mark: a process cannot read when it
	 * was exec'd cheaply, and what came before its first line (exec,
	 * ld.so) is in the CPU figure, which starts at 0.
	 */
	if (wall0_us == -1)
		wall0_us = wall_now_us();
	if (nphases == STARTPROF_MAX)
		return;
	phases[nphases].name = phase;
	phases[nphases].cpu_us = cpu_now_us();
	phases[nphases].wall_us = wall_now_us() - wall0_us;
	nphases++;
}

void
startprof_report(const char *who)
{
	char cpu[512], wall[512];
	size_t lc = 0, lw = 0;
	long long pc = 0, pw = 0;
	int i;

	cpu[0] = wall[0] = '\0';
	for (i = 0; i < nphases; i++) {
		lc += (size_t)snprintf(cpu + lc,
		    lc < sizeof(cpu) ? sizeof(cpu) - lc : 0, " %s=%lld",
		    phases[i].name, phases[i].cpu_us - pc);
		lw += (size_t)snprintf(wall + lw,
		    lw < sizeof(wall) ? sizeof(wall) - lw : 0, " %s=%lld",
		    phases[i].name, phases[i].wall_us - pw);
		if (lc >= sizeof(cpu) || lw >= sizeof(wall))
			break;
		pc = phases[i].cpu_us;
		pw = phases[i].wall_us;
	}
	log_info("%s: start profile cpu_us%s total=%lld wall_us%s total=%lld",
	    who, cpu, pc, wall, pw);
}
