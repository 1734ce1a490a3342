/*
 * Start-up profile of a helper process: CPU (CLOCK_PROCESS_CPUTIME_ID: utime +
 * stime of this process) and wall time spent in each named phase, reported as
 * one log line that `make bench` (scripts/bench) reads from containerd's log:
 *
 *   startprof_mark("jail");      ... ends the phase that began at the
 *                                    previous mark (or the process start)
 *   startprof_report(__func__);  ... "<func>: start profile cpu_us a=N b=N
 * total=N wall_us a=N b=N total=N"
 *
 * At most STARTPROF_MAX phases; later marks are ignored. Not thread-safe
 * (helpers are single-threaded).
 */
#ifndef QEMUBOX_STARTPROF_H
#define QEMUBOX_STARTPROF_H

#define STARTPROF_MAX 16

void startprof_mark(const char *phase);
void startprof_report(const char *who);

#endif
