// SPDX-License-Identifier: GPL-2.0
/*
 * mmap-counter: what a consumer such as AWS-LC does with /dev/sysgenid. It
 * opens the device (or the userspace provider's page file) read-only, maps
 * its page read-only and shared, and from then on only loads the counter
 * from memory: no system call tells it of a change. It prints one line at
 * start and one at each change it sees:
 *
 *   mmap-counter uid=65534 counter=3
 *
 * Built statically (gcc -static), as such a consumer usually is, and run as
 * an unprivileged user, it shows that the page needs neither a library nor
 * privileges. Usage: mmap-counter [PATH] (default /dev/sysgenid).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/sysgenid";
	const struct timespec period = { .tv_sec = 0, .tv_nsec = 10 * 1000 * 1000 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "mmap-counter: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	const volatile uint32_t *counter = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fd, 0);
	if (counter == MAP_FAILED) {
		fprintf(stderr, "mmap-counter: mmap %s: %s\n", path, strerror(errno));
		return 1;
	}
	close(fd);
	setvbuf(stdout, NULL, _IOLBF, 0);

	uint32_t seen = __atomic_load_n(counter, __ATOMIC_ACQUIRE);
	printf("mmap-counter uid=%u counter=%u\n", (unsigned)getuid(), seen);
	for (;;) {
		uint32_t now = __atomic_load_n(counter, __ATOMIC_ACQUIRE);

		if (now != seen) {
			seen = now;
			printf("mmap-counter uid=%u counter=%u\n", (unsigned)getuid(), seen);
		}
		nanosleep(&period, NULL);
	}
}
