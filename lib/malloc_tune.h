/*
 * A fixed mmap threshold for malloc in the per-sandbox host programs.
 * glibc raises the threshold to the size of any mmap'd chunk that is freed
 * (up to 32 MiB): one 1 MiB scratch buffer (the config file's read buffer,
 * /proc/self/mountinfo) made every later allocation below 1 MiB come from
 * the heap, where calloc clears it page by page, one first touch each
 * (15-20 us of CPU on this host), instead of fresh zero pages of which only
 * the used ones are ever touched (the shim's storage plan: 1 MiB of
 * calloc'd disk slots, a few used). Call first thing in main.
 */
#ifndef QEMUBOX_MALLOC_TUNE_H
#define QEMUBOX_MALLOC_TUNE_H

void qb_malloc_tune(void);

#endif
