/*
 * Host-side reader for the stdio throughput benchmark: reads stdin (the
 * container's stdout as ctr relays it, or a FIFO) to EOF and reports the
 * rate from the first byte to EOF, so the container's start-up is not
 * counted.
 *
 *   ctr run ... dd if=/dev/zero bs=1M count=256 | stdio_sink
 *
 * Prints "bytes B seconds S mbps M" (MB/s, 10^6 bytes).
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int
main(void)
{
	static char buf[1 << 17];
	struct timespec a = {0, 0}, b;
	uint64_t total = 0;
	ssize_t n;
	double s;

	while ((n = read(0, buf, sizeof(buf))) > 0) {
		if (total == 0)
			clock_gettime(CLOCK_MONOTONIC, &a);
		total += (uint64_t)n;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (n < 0 || total == 0) {
		fprintf(stderr, "stdio_sink: %s\n",
		    n < 0 ? "read error" : "no data");
		return 1;
	}
	s = (double)(b.tv_sec - a.tv_sec) +
	    (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("bytes %llu seconds %.3f mbps %.1f\n", (unsigned long long)total,
	    s, s > 0 ? (double)total / 1e6 / s : 0.0);
	return 0;
}
