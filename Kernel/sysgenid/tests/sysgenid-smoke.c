// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace smoke test of /dev/sysgenid against the contract
 * (Documentation/sysgenid-abi.md in the genid project): every row of it,
 * from the outside.
 *
 *   gcc -static -O2 -Wall -Wextra -Werror -pthread \
 *       -o sysgenid-smoke sysgenid-smoke.c
 *
 *   sysgenid-smoke [--fresh] [--saturate] [--dev PATH]
 *	Runs the suite as root (it needs TRIGGER; it drops privileges in
 *	child processes for the permission checks). --fresh also checks that
 *	the counter is 0, i.e. that nothing bumped it since the module loaded.
 *	--saturate ends with the counter at 2^32-1, where it then stays until
 *	the module is reloaded.
 *
 *   sysgenid-smoke --watch SECONDS [--expect-bumps N] [--dev PATH]
 *	For the hardware-driven path: prints the counter every 0.5 s, keeps a
 *	reader blocked in read() and listens for uevents, and checks at the
 *	end that the counter moved up by exactly N (default 1: one VM
 *	generation change; 0 for a migration that keeps the VMGENID value).
 *
 * The last line is "N passed, M failed"; the exit status is 1 if any failed.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../include/uapi/linux/sysgenid.h"

#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

#define SYSFS_GENERATION "/sys/class/misc/sysgenid/generation"
#define STRESS_THREADS 16
#define STRESS_GENERATIONS 200

static const char *dev_path = "/dev/sysgenid";
static long page_size;
static int passed, failed;

/* ---------------------------------------------------------------- helpers */

static void expect(bool ok, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void expect(bool ok, int line, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	printf("%s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		printf("   [line %d, errno %d: %s]", line, saved, strerror(saved));
	printf("\n");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
	errno = saved;
}

#define EXPECT(cond, ...) expect(!!(cond), __LINE__, __VA_ARGS__)

/* A call that must fail with errno @err. */
#define EXPECT_ERR(call, err, what)						\
	do {									\
		long r_;							\
		errno = 0;							\
		r_ = (long)(call);						\
		expect(r_ == -1 && errno == (err), __LINE__,			\
		       "%s fails %s (got %ld, %s)", what, #err, r_,		\
		       r_ == -1 ? strerror(errno) : "no error");		\
	} while (0)

static void section(const char *name)
{
	printf("\n== %s\n", name);
	fflush(stdout);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int dev_open(int flags)
{
	return open(dev_path, flags | O_CLOEXEC);
}

static long sysfs_generation(void)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(SYSFS_GENERATION, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || buf[n - 1] != '\n')
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

static int trigger(int fd, unsigned long min)
{
	return ioctl(fd, SYSGENID_TRIGGER_GEN_UPDATE, min);
}

static int set_tracking(int fd, unsigned long on)
{
	return ioctl(fd, SYSGENID_SET_WATCHER_TRACKING, on);
}

static int wait_watchers(int fd, unsigned long ms)
{
	return ioctl(fd, SYSGENID_WAIT_WATCHERS, ms);
}

/* The shared read-only page; word 0 is the counter. */
static const volatile uint32_t *page;

static uint32_t current_gen(void)
{
	return *page;
}

static int ack_value(int fd, uint32_t v)
{
	return write(fd, &v, sizeof(v)) == sizeof(v) ? 0 : -1;
}

static int ack(int fd)
{
	return ack_value(fd, current_gen());
}

/* Readable now? (0 ms poll) */
static short poll_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDNORM | POLLOUT };

	if (poll(&p, 1, 0) < 0)
		return -1;
	return p.revents;
}

static void on_signal(int sig)
{
	(void)sig;
}

/* SIGUSR1 interrupts syscalls; SIGUSR2 restarts them (SA_RESTART). */
static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
}

/* ------------------------------------------------ one blocking call aside */

enum bg_op { BG_READ, BG_POLL, BG_EPOLL, BG_WAIT };

struct bg {
	pthread_t thread;
	enum bg_op op;
	int fd;
	unsigned long arg;
	atomic_int done;
	long ret;
	int err;
	uint32_t value;
	long elapsed_ms;
};

static void *bg_main(void *p)
{
	struct bg *b = p;
	long start = now_ms();

	errno = 0;
	switch (b->op) {
	case BG_READ:
		b->ret = read(b->fd, &b->value, sizeof(b->value));
		break;
	case BG_POLL: {
		struct pollfd pf = { .fd = b->fd, .events = POLLIN };

		b->ret = poll(&pf, 1, -1);
		b->value = pf.revents;
		break;
	}
	case BG_EPOLL: {
		struct epoll_event ev;

		b->ret = epoll_wait(b->fd, &ev, 1, -1);
		b->value = ev.events;
		break;
	}
	case BG_WAIT:
		b->ret = wait_watchers(b->fd, b->arg);
		break;
	}
	b->err = errno;
	b->elapsed_ms = now_ms() - start;
	atomic_store(&b->done, 1);
	return NULL;
}

static void bg_start(struct bg *b, enum bg_op op, int fd, unsigned long arg)
{
	memset(b, 0, sizeof(*b));
	b->op = op;
	b->fd = fd;
	b->arg = arg;
	atomic_init(&b->done, 0);
	pthread_create(&b->thread, NULL, bg_main, b);
}

static bool bg_blocked(struct bg *b)
{
	return !atomic_load(&b->done);
}

/*
 * Join within @ms; a call that is still blocked then is interrupted by
 * SIGUSR1 so that the suite goes on (and reports the failure).
 */
static bool bg_join(struct bg *b, long ms)
{
	long end = now_ms() + ms;

	while (!atomic_load(&b->done) && now_ms() < end)
		sleep_ms(5);
	if (atomic_load(&b->done)) {
		pthread_join(b->thread, NULL);
		return true;
	}
	while (!atomic_load(&b->done)) {
		pthread_kill(b->thread, SIGUSR1);
		sleep_ms(50);
	}
	pthread_join(b->thread, NULL);
	return false;
}

/* ------------------------------------------------------------- uevents */

static int uevent_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	int size = 4 << 20;
	int s;

	s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa))) {
		close(s);
		return -1;
	}
	return s;
}

/*
 * The SYSGENID value of the next change uevent of our device, -1 on
 * timeout. Other devices' events are skipped.
 */
static long uevent_next(int s, long timeout_ms)
{
	long end = now_ms() + timeout_ms;
	char buf[8192];

	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		bool change = false, ours = false;
		long value = -1;
		long left = end - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			return -1;
		n = recv(s, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n <= 0)
			continue;
		buf[n] = 0;
		for (char *k = buf; k < buf + n; k += strlen(k) + 1) {
			if (!strcmp(k, "ACTION=change"))
				change = true;
			else if (!strcmp(k, "DEVNAME=sysgenid"))
				ours = true;
			else if (!strncmp(k, "SYSGENID=", 9))
				value = strtol(k + 9, NULL, 10);
		}
		if (change && ours && value >= 0)
			return value;
	}
}

/* ----------------------------------------------------------- the suite */

static void test_open_and_counter(int fd, bool fresh)
{
	struct stat st;

	section("open, node, counter");
	EXPECT(fd >= 0, "open %s O_RDWR", dev_path);
	EXPECT(stat(dev_path, &st) == 0 && S_ISCHR(st.st_mode),
	       "%s is a character device", dev_path);
	EXPECT((st.st_mode & 07777) == 0666, "%s has mode 0666 (got %04o)",
	       dev_path, st.st_mode & 07777);
	EXPECT(sysfs_generation() == (long)current_gen(),
	       "sysfs generation (%ld) matches the mmap page (%u)",
	       sysfs_generation(), current_gen());
	if (fresh)
		EXPECT(current_gen() == 0 && sysfs_generation() == 0,
		       "counter starts at 0 (got %u)", current_gen());
}

static void test_read(int fd)
{
	char buf[16];
	int nb;

	section("read on an up-to-date fd");
	EXPECT(read(fd, buf, 0) == 0, "read(n=0) returns 0");
	EXPECT_ERR(read(fd, buf, 3), EINVAL, "read(n=3)");
	EXPECT_ERR(read(fd, buf, 1), EINVAL, "read(n=1)");

	nb = dev_open(O_RDWR | O_NONBLOCK);
	EXPECT(nb >= 0, "open O_NONBLOCK");
	EXPECT_ERR(read(nb, buf, 4), EAGAIN, "O_NONBLOCK read with nothing new");
	EXPECT(read(nb, buf, 0) == 0, "O_NONBLOCK read(n=0) returns 0");
	EXPECT_ERR(read(nb, buf, 2), EINVAL, "O_NONBLOCK read(n=2)");
	close(nb);

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	EXPECT_ERR(read(fd, buf, 4), EAGAIN, "read after fcntl(O_NONBLOCK)");
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	EXPECT(poll_now(fd) == 0, "poll: not readable while up to date (revents %#x)",
	       poll_now(fd));
}

static void test_write(int fd)
{
	uint32_t g = current_gen();
	uint64_t big = g;
	char small[3] = { 0 };

	section("write (acknowledge)");
	EXPECT_ERR(write(fd, small, 3), ENOBUFS, "write(n=3)");
	EXPECT_ERR(write(fd, &big, 8), ENOBUFS, "write(n=8)");
	EXPECT_ERR(write(fd, small, 0), ENOBUFS, "write(n=0)");
	EXPECT_ERR(ack_value(fd, g + 1), EINVAL, "write(a future value)");
	if (g)
		EXPECT_ERR(ack_value(fd, g - 1), EINVAL, "write(an old value)");
	EXPECT(write(fd, &g, 4) == 4, "write(current value) returns 4 while up to date");
	EXPECT_ERR(syscall(SYS_write, fd, NULL, 4), EFAULT, "write(NULL buffer)");
}

/* mmap() that is expected to fail: -1 and errno, or 0 (and unmapped). */
static int try_mmap(int fd, size_t len, int prot, int flags, off_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	if (p == MAP_FAILED)
		return -1;
	munmap(p, len);
	return 0;
}

static void test_mmap(int fd)
{
	void *p;
	int ro;

	section("mmap");
	EXPECT(page != MAP_FAILED && page != NULL, "mmap(PROT_READ, MAP_SHARED, one page)");
	EXPECT_ERR(try_mmap(fd, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, 0), EPERM,
		   "mmap(PROT_READ|PROT_WRITE, MAP_SHARED)");
	EXPECT_ERR(try_mmap(fd, page_size, PROT_WRITE, MAP_SHARED, 0), EPERM,
		   "mmap(PROT_WRITE, MAP_SHARED)");
	EXPECT_ERR(try_mmap(fd, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0), EPERM,
		   "mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE)");
	EXPECT_ERR(try_mmap(fd, 2 * page_size, PROT_READ, MAP_SHARED, 0), EINVAL,
		   "mmap(two pages)");
	EXPECT_ERR(try_mmap(fd, page_size, PROT_READ, MAP_SHARED, page_size), EINVAL,
		   "mmap(offset one page)");
	EXPECT_ERR(try_mmap(fd, 2 * page_size, PROT_READ | PROT_WRITE, MAP_SHARED, 0), EINVAL,
		   "mmap(two pages, writable): size is checked first");
	EXPECT_ERR(mprotect((void *)page, page_size, PROT_READ | PROT_WRITE), EACCES,
		   "mprotect(PROT_WRITE) of the read-only mapping");

	/* Module choice: a read-only private mapping behaves like a shared one. */
	p = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE, fd, 0);
	EXPECT(p != MAP_FAILED && *(uint32_t *)p == current_gen(),
	       "mmap(PROT_READ, MAP_PRIVATE) shows the counter");
	if (p != MAP_FAILED) {
		EXPECT_ERR(mprotect(p, page_size, PROT_READ | PROT_WRITE), EACCES,
			   "mprotect(PROT_WRITE) of the private mapping");
		munmap(p, page_size);
	}

	ro = dev_open(O_RDONLY);
	p = ro >= 0 ? mmap(NULL, page_size, PROT_READ, MAP_SHARED, ro, 0) : MAP_FAILED;
	EXPECT(p != MAP_FAILED && *(uint32_t *)p == current_gen(),
	       "mmap of an O_RDONLY fd shows the counter");
	if (p != MAP_FAILED)
		munmap(p, page_size);
	if (ro >= 0)
		close(ro);
}

static void test_generation_change(int fd)
{
	uint32_t g0 = current_gen(), g1, v = 0, big[8];
	int nb, fresh_fd, ep;
	struct epoll_event ev = { .events = EPOLLIN };
	uint32_t *priv;
	ssize_t n;

	section("a generation change");
	nb = dev_open(O_RDWR | O_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	EXPECT(epoll_wait(ep, &ev, 1, 0) == 0, "epoll: nothing while up to date");
	priv = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE, fd, 0);

	EXPECT(trigger(fd, 0) == 0, "TRIGGER(0) succeeds as root");
	g1 = current_gen();
	EXPECT(g1 == g0 + 1, "TRIGGER(0) moves the counter up by one (%u -> %u)", g0, g1);
	EXPECT(sysfs_generation() == g1, "sysfs generation follows (%ld)", sysfs_generation());
	EXPECT(priv != MAP_FAILED && *priv == g1, "the private mapping follows too");
	EXPECT(poll_now(fd) == (POLLIN | POLLRDNORM),
	       "poll: exactly POLLIN|POLLRDNORM while outdated (revents %#x)", poll_now(fd));
	EXPECT(epoll_wait(ep, &ev, 1, 0) == 1 && (ev.events & EPOLLIN), "epoll: EPOLLIN");

	n = read(fd, &v, 4);
	EXPECT(n == 4 && v == g1, "read returns 4 and the current counter (%zd, %u)", n, v);
	v = 0;
	EXPECT(read(fd, &v, 4) == 4 && v == g1, "read keeps returning it until acknowledged");
	v = 0;
	EXPECT(read(fd, big, sizeof(big)) == 4 && big[0] == g1, "read(n=32) returns 4 bytes");
	EXPECT(read(nb, &v, 4) == 4 && v == g1, "O_NONBLOCK read returns it too");

	fresh_fd = dev_open(O_RDWR | O_NONBLOCK);
	EXPECT_ERR(read(fresh_fd, &v, 4), EAGAIN, "an fd opened after the change is up to date");
	close(fresh_fd);

	EXPECT_ERR(ack_value(fd, g0), EINVAL, "acknowledging the old value");
	EXPECT(poll_now(fd) == (POLLIN | POLLRDNORM), "still outdated after a failed ack");
	EXPECT(ack_value(fd, g1) == 0, "acknowledging the current value");
	EXPECT(poll_now(fd) == 0, "poll: not readable once acknowledged");
	EXPECT(epoll_wait(ep, &ev, 1, 0) == 0, "epoll: nothing once acknowledged");
	EXPECT(read(nb, &v, 4) == 4 && v == g1, "each fd is separate: the other one is still outdated");
	EXPECT(ack(nb) == 0, "ack the other one");
	EXPECT_ERR(read(nb, &v, 4), EAGAIN, "O_NONBLOCK read once acknowledged");
	close(ep);
	if (priv != MAP_FAILED)
		munmap(priv, page_size);
	close(nb);
}

static void test_trigger_min(int fd)
{
	uint32_t g = current_gen();
	int r;

	section("TRIGGER with a minimum");
	r = trigger(fd, g + 100);
	EXPECT(r == 0 && current_gen() == g + 100,
	       "TRIGGER(counter+100) sets it to counter+100 (%u -> %u)", g, current_gen());
	r = trigger(fd, 5);
	EXPECT(r == 0 && current_gen() == g + 101,
	       "TRIGGER(5) below the counter adds one (-> %u)", current_gen());
	g = current_gen();
	r = trigger(fd, g);
	EXPECT(r == 0 && current_gen() == g + 1,
	       "TRIGGER(counter) adds one (%u -> %u)", g, current_gen());
	g = current_gen();
	r = trigger(fd, g + 1);
	EXPECT(r == 0 && current_gen() == g + 1,
	       "TRIGGER(counter+1) adds one (%u -> %u)", g, current_gen());
	g = current_gen();
	EXPECT_ERR(trigger(fd, 1UL << 32), EINVAL, "TRIGGER(2^32) (module choice)");
	EXPECT_ERR(trigger(fd, (unsigned long)g + SYSGENID_TRIGGER_MAX_STEP + 1), EINVAL,
		   "TRIGGER(counter + 2^20 + 1): one call may not jump that far");
	EXPECT_ERR(trigger(fd, 0xffffffffUL), EINVAL, "TRIGGER(2^32-1): one call may not saturate");
	EXPECT(current_gen() == g, "a rejected TRIGGER leaves the counter alone");
	EXPECT(sysfs_generation() == g, "sysfs agrees (%ld)", sysfs_generation());
	EXPECT(ack(fd) == 0, "ack");
}

static void test_unknown_ioctl(int fd)
{
	section("unknown ioctls");
	EXPECT_ERR(ioctl(fd, _IO(SYSGENID_IOCTL, 0), 0), EINVAL, "_IO(0xE4, 0)");
	EXPECT_ERR(ioctl(fd, _IO(SYSGENID_IOCTL, 4), 0), EINVAL, "_IO(0xE4, 4)");
	EXPECT_ERR(ioctl(fd, _IOW(SYSGENID_IOCTL, 1, int), 0), EINVAL, "_IOW(0xE4, 1, int)");
	EXPECT_ERR(ioctl(fd, _IO(0x42, 0x42), 0), EINVAL, "_IO(0x42, 0x42)");
	EXPECT(SYSGENID_IOC_WAIT_WATCHERS == SYSGENID_WAIT_WATCHERS &&
	       SYSGENID_SET_WATCHER_TRACKING == 0xE401 && SYSGENID_WAIT_WATCHERS == 0xE402 &&
	       SYSGENID_TRIGGER_GEN_UPDATE == 0xE403, "request numbers are _IO(0xE4, 1..3)");
}

static void test_tracking(void)
{
	int a = dev_open(O_RDWR), b = dev_open(O_RDWR), c = dev_open(O_RDWR);
	long t;

	section("watcher tracking and SYSGENID_WAIT_WATCHERS");
	t = now_ms();
	EXPECT(wait_watchers(c, 1000) == 0 && now_ms() - t < 500,
	       "WAIT returns 0 at once when nothing is outdated");
	EXPECT(wait_watchers(c, 0) == 0, "WAIT(no timeout) returns 0 at once too");

	EXPECT(set_tracking(a, 1) == 0 && set_tracking(a, 1) == 0, "track a (twice: idempotent)");
	EXPECT(trigger(c, 0) == 0, "trigger");
	t = now_ms();
	EXPECT_ERR(wait_watchers(c, 1000), EINTR, "WAIT by an outdated caller");
	EXPECT(now_ms() - t < 500, "... at once");
	EXPECT(ack(c) == 0, "ack the caller");

	t = now_ms();
	EXPECT_ERR(wait_watchers(c, 300), ETIME, "WAIT(300 ms) with an outdated tracked watcher");
	t = now_ms() - t;
	EXPECT(t >= 250 && t < 3000, "... after about 300 ms (%ld ms)", t);

	EXPECT(ack(a) == 0, "ack a");
	EXPECT(wait_watchers(c, 300) == 0,
	       "WAIT returns 0: the outdated untracked fd b does not count");

	EXPECT(trigger(c, 0) == 0 && ack(c) == 0, "trigger, ack the caller");
	EXPECT_ERR(wait_watchers(c, 100), ETIME, "a (tracked) is outdated again");
	EXPECT(set_tracking(a, 0) == 0, "untrack a while outdated");
	EXPECT(wait_watchers(c, 300) == 0, "WAIT returns 0 after untracking the outdated fd");
	EXPECT(set_tracking(a, 0) == 0 && wait_watchers(c, 300) == 0, "untrack again: idempotent");
	EXPECT(set_tracking(a, 1) == 0, "track a again while it is outdated");
	EXPECT_ERR(wait_watchers(c, 100), ETIME, "it is counted as outdated");
	EXPECT(set_tracking(a, 7) == 0 && set_tracking(a, 1) == 0, "track(7), track(1): still tracked once");
	EXPECT(ack(a) == 0 && wait_watchers(c, 300) == 0, "one ack of a releases WAIT");

	EXPECT(set_tracking(b, 42) == 0, "any nonzero arg tracks: track(b, 42) while b outdated");
	EXPECT_ERR(wait_watchers(c, 100), ETIME, "b now counts");
	EXPECT(set_tracking(b, 0) == 0 && wait_watchers(c, 300) == 0, "untrack b");
	EXPECT(ack(b) == 0, "ack b");

	/* An untracked fd acking must not disturb the count. */
	EXPECT(trigger(c, 0) == 0 && ack(c) == 0, "trigger, ack the caller");
	EXPECT(set_tracking(a, 0) == 0 && ack(a) == 0 && ack(b) == 0, "untrack a, ack a and b");
	EXPECT(wait_watchers(c, 300) == 0, "WAIT returns 0");
	EXPECT(set_tracking(a, 1) == 0 && wait_watchers(c, 300) == 0,
	       "tracking an up-to-date fd adds nothing outdated");
	EXPECT(set_tracking(a, 0) == 0, "untrack a");
	close(a);
	close(b);
	close(c);
}

static void test_wait_wakeups(void)
{
	int a = dev_open(O_RDWR), c = dev_open(O_RDWR);
	struct bg w;

	section("SYSGENID_WAIT_WATCHERS wake-ups");

	/* Closing an outdated tracked fd releases the waiters. */
	EXPECT(set_tracking(a, 1) == 0 && trigger(c, 0) == 0 && ack(c) == 0,
	       "a tracked and outdated");
	bg_start(&w, BG_WAIT, c, 10000);
	sleep_ms(300);
	EXPECT(bg_blocked(&w), "WAIT blocks");
	close(a);
	EXPECT(bg_join(&w, 3000) && w.ret == 0 && w.elapsed_ms < 3000,
	       "closing the outdated tracked fd releases WAIT (ret %ld, %ld ms)", w.ret,
	       w.elapsed_ms);

	/* An ack from another thread releases it. */
	a = dev_open(O_RDWR);
	EXPECT(set_tracking(a, 1) == 0 && trigger(c, 0) == 0 && ack(c) == 0,
	       "a tracked and outdated");
	bg_start(&w, BG_WAIT, c, 0);
	sleep_ms(300);
	EXPECT(bg_blocked(&w), "WAIT(no timeout) blocks");
	EXPECT(ack(a) == 0, "ack a");
	EXPECT(bg_join(&w, 3000) && w.ret == 0, "the ack releases WAIT (ret %ld)", w.ret);

	/* A new generation while waiting makes the caller outdated: EINTR. */
	EXPECT(trigger(c, 0) == 0 && ack(c) == 0, "a outdated again");
	bg_start(&w, BG_WAIT, c, 10000);
	sleep_ms(300);
	EXPECT(bg_blocked(&w), "WAIT blocks");
	EXPECT(trigger(a, 0) == 0, "trigger while WAIT blocks");
	EXPECT(bg_join(&w, 3000) && w.ret == -1 && w.err == EINTR,
	       "WAIT fails EINTR once the caller becomes outdated (ret %ld, %s)", w.ret,
	       strerror(w.err));
	EXPECT(ack(c) == 0, "ack the caller");

	/* Signals. */
	bg_start(&w, BG_WAIT, c, 0);
	sleep_ms(200);
	pthread_kill(w.thread, SIGUSR1);
	EXPECT(bg_join(&w, 3000) && w.ret == -1 && w.err == EINTR,
	       "a signal without SA_RESTART interrupts WAIT (EINTR)");
	bg_start(&w, BG_WAIT, c, 0);
	sleep_ms(200);
	pthread_kill(w.thread, SIGUSR2);
	sleep_ms(300);
	EXPECT(bg_blocked(&w), "with SA_RESTART and no timeout, WAIT restarts");
	EXPECT(ack(a) == 0 && bg_join(&w, 3000) && w.ret == 0, "... and then returns 0");

	EXPECT(trigger(c, 0) == 0 && ack(c) == 0, "a outdated again");
	bg_start(&w, BG_WAIT, c, 10000);
	sleep_ms(200);
	pthread_kill(w.thread, SIGUSR2);
	EXPECT(bg_join(&w, 3000) && w.ret == -1 && w.err == EINTR,
	       "with a timeout, a signal ends WAIT with EINTR even with SA_RESTART (module choice)");
	EXPECT(ack(a) == 0 && set_tracking(a, 0) == 0, "ack and untrack a");
	close(a);
	close(c);
}

static void test_blocking_read(void)
{
	int r = dev_open(O_RDWR), p = dev_open(O_RDWR), e = dev_open(O_RDWR);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	struct bg br, bp, be;
	uint32_t g;

	section("blocking read, poll and epoll woken by another thread");
	ev.data.fd = e;
	epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev);
	bg_start(&br, BG_READ, r, 0);
	bg_start(&bp, BG_POLL, p, 0);
	bg_start(&be, BG_EPOLL, ep, 0);
	sleep_ms(300);
	EXPECT(bg_blocked(&br) && bg_blocked(&bp) && bg_blocked(&be),
	       "read, poll and epoll_wait block while up to date");
	EXPECT(trigger(r, 0) == 0, "trigger from the main thread");
	g = current_gen();
	EXPECT(bg_join(&br, 3000) && br.ret == 4 && br.value == g,
	       "the blocked read wakes with the new counter (ret %ld, %u)", br.ret, br.value);
	EXPECT(bg_join(&bp, 3000) && bp.ret == 1 && (bp.value & POLLIN),
	       "the blocked poll wakes with POLLIN (revents %#x)", bp.value);
	EXPECT(bg_join(&be, 3000) && be.ret == 1 && (be.value & EPOLLIN),
	       "the blocked epoll_wait wakes with EPOLLIN");
	EXPECT(ack(r) == 0 && ack(p) == 0 && ack(e) == 0, "ack all three");

	bg_start(&br, BG_READ, r, 0);
	sleep_ms(200);
	pthread_kill(br.thread, SIGUSR1);
	EXPECT(bg_join(&br, 3000) && br.ret == -1 && br.err == EINTR,
	       "a signal without SA_RESTART interrupts read (EINTR)");
	bg_start(&br, BG_READ, r, 0);
	sleep_ms(200);
	pthread_kill(br.thread, SIGUSR2);
	sleep_ms(300);
	EXPECT(bg_blocked(&br), "with SA_RESTART the read restarts");
	EXPECT(trigger(p, 0) == 0 && bg_join(&br, 3000) && br.ret == 4 &&
	       br.value == current_gen(), "... and returns the next generation");
	close(ep);
	close(r);
	close(p);
	close(e);
}

/* Run @fn in a child process; its exit status is the result. */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		fflush(stdout);
		_exit(fn());
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Keep only the capabilities in @caps (a bit mask over caps 0..63). */
static int keep_caps(uint64_t caps)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)caps;
	data[1].effective = data[1].permitted = (uint32_t)(caps >> 32);
	return syscall(SYS_capset, &hdr, data);
}

/* Exit status: 0 = TRIGGER worked, else its errno (100 = setup failed). */
static int trigger_status(void)
{
	int fd = dev_open(O_RDWR);

	if (fd < 0)
		return 100;
	return trigger(fd, 0) ? errno : 0;
}

static int child_only_checkpoint_restore(void)
{
	return keep_caps(1ULL << CAP_CHECKPOINT_RESTORE) ? 100 : trigger_status();
}

static int child_only_sys_admin(void)
{
	return keep_caps(1ULL << CAP_SYS_ADMIN) ? 100 : trigger_status();
}

static int child_no_caps(void)
{
	return keep_caps(0) ? 100 : trigger_status();
}

/* As nobody: bit 0 open, 1 TRIGGER not EACCES, 2 nonblocking read, 3 mmap, 4 ack. */
static int child_nobody(void)
{
	int fd, bad = 0;
	uint32_t v;
	void *p;

	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 100;
	fd = dev_open(O_RDWR | O_NONBLOCK);
	if (fd < 0)
		return 1;
	if (!(trigger(fd, 0) == -1 && errno == EACCES))
		bad |= 2;
	if (!(read(fd, &v, 4) == -1 && errno == EAGAIN))
		bad |= 4;
	p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || *(uint32_t *)p != current_gen())
		bad |= 8;
	if (ack(fd))
		bad |= 16;
	return bad;
}

static void test_privileges(int fd)
{
	uint32_t g = current_gen();
	int r;

	section("TRIGGER needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN");
	r = in_child(child_only_checkpoint_restore);
	EXPECT(r == 0, "with only CAP_CHECKPOINT_RESTORE, TRIGGER works (status %d)", r);
	r = in_child(child_only_sys_admin);
	EXPECT(r == 0, "with only CAP_SYS_ADMIN, TRIGGER works (status %d)", r);
	EXPECT(current_gen() == g + 2, "both moved the counter (%u -> %u)", g, current_gen());
	g = current_gen();
	r = in_child(child_no_caps);
	EXPECT(r == EACCES, "uid 0 without capabilities: TRIGGER fails EACCES (status %d)", r);
	r = in_child(child_nobody);
	EXPECT(r == 0, "as uid 65534: open, read, mmap and ack work, TRIGGER fails EACCES "
	       "(failure bits %#x)", r);
	EXPECT(current_gen() == g, "the refused TRIGGERs left the counter alone");
	EXPECT(ack(fd) == 0, "ack");
}

static void test_uevents(int fd)
{
	int s = uevent_open();
	long v, last = -1;
	bool increasing = true, seen_final = false;
	uint32_t g;

	section("uevents");
	EXPECT(s >= 0, "uevent netlink socket");
	if (s < 0)
		return;
	EXPECT(trigger(fd, 0) == 0, "trigger");
	g = current_gen();
	v = uevent_next(s, 3000);
	EXPECT(v == g, "a change uevent with SYSGENID=%u (got %ld)", g, v);

	/* A burst: the events may be coalesced, but never out of order or stale. */
	for (int i = 0; i < 5; i++)
		trigger(fd, 0);
	g = current_gen();
	while ((v = uevent_next(s, 2000)) >= 0) {
		if (v <= last || v > g)
			increasing = false;
		last = v;
		if (v == g) {
			seen_final = true;
			break;
		}
	}
	EXPECT(seen_final, "after a burst of 5, a uevent carries the final value %u", g);
	EXPECT(increasing, "uevent values only move up");
	close(s);
	EXPECT(ack(fd) == 0, "ack");
}

/*
 * Many threads doing everything at once on their own fds: open, close,
 * track, untrack, read, ack, poll, wait, trigger. Afterwards, with every
 * fd closed, the watcher counts must be exact: nothing left outdated, and
 * one new tracked watcher counts as exactly one.
 */
#define CHAOS_THREADS 8
#define CHAOS_OPS 3000

struct chaos {
	pthread_t thread;
	unsigned int seed;
	int unexpected;
	int last_errno;
};

static void *chaos_main(void *p)
{
	struct chaos *c = p;
	int fds[4];
	uint32_t v;

	for (int i = 0; i < 4; i++)
		fds[i] = dev_open(O_RDWR | O_NONBLOCK);
	for (int n = 0; n < CHAOS_OPS; n++) {
		int r = rand_r(&c->seed), i = r % 4, ok = 1;

		switch ((r >> 2) % 7) {
		case 0:
			close(fds[i]);
			fds[i] = dev_open(O_RDWR | O_NONBLOCK);
			ok = fds[i] >= 0;
			break;
		case 1:
		case 2:
			ok = set_tracking(fds[i], (r >> 5) & 1) == 0;
			break;
		case 3:
			if (read(fds[i], &v, 4) == 4)
				ok = ack_value(fds[i], v) == 0 || errno == EINVAL;
			else
				ok = errno == EAGAIN;
			break;
		case 4:
			ok = poll_now(fds[i]) >= 0;
			break;
		case 5:
			ok = wait_watchers(fds[i], 1) == 0 || errno == ETIME || errno == EINTR;
			break;
		case 6:
			if ((r >> 5) % 8 == 0)
				ok = trigger(fds[i], 0) == 0;
			break;
		}
		if (!ok) {
			c->unexpected++;
			c->last_errno = errno;
		}
	}
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	return NULL;
}

static void test_chaos(void)
{
	struct chaos c[CHAOS_THREADS];
	int unexpected = 0, last_errno = 0, t, fd;
	uint32_t g = current_gen();
	long start = now_ms();

	section("chaos: 8 threads, every operation at once");
	for (int i = 0; i < CHAOS_THREADS; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].seed = 1234 + i;
		pthread_create(&c[i].thread, NULL, chaos_main, &c[i]);
	}
	for (int i = 0; i < CHAOS_THREADS; i++) {
		pthread_join(c[i].thread, NULL);
		unexpected += c[i].unexpected;
		if (c[i].unexpected)
			last_errno = c[i].last_errno;
	}
	printf("     %d x %d operations in %ld ms, counter %u -> %u\n", CHAOS_THREADS, CHAOS_OPS,
	       now_ms() - start, g, current_gen());
	EXPECT(unexpected == 0, "no operation failed unexpectedly (%d, last errno %d)",
	       unexpected, last_errno);
	EXPECT(current_gen() > g, "the counter moved");
	fd = dev_open(O_RDWR);
	EXPECT(wait_watchers(fd, 1000) == 0, "with every fd closed, nothing is outdated");
	t = dev_open(O_RDWR);
	EXPECT(set_tracking(t, 1) == 0 && trigger(fd, 0) == 0 && ack(fd) == 0,
	       "one new tracked watcher, outdated");
	EXPECT_ERR(wait_watchers(fd, 100), ETIME, "it counts");
	EXPECT(ack(t) == 0 && wait_watchers(fd, 1000) == 0, "and its ack brings the count to 0");
	close(t);
	close(fd);
}

/*
 * Module choice: the counter stops at U32_MAX instead of wrapping, and a
 * TRIGGER that cannot move it fails EOVERFLOW. Leaves the counter stuck,
 * so it only runs with --saturate (the guest test reloads the module after).
 */
static void test_saturation(int fd)
{
	int s = uevent_open(), t = dev_open(O_RDWR);
	uint32_t v = 0;
	long u;
	int r;

	section("saturation at 2^32-1 (module choice, --saturate)");
	EXPECT(set_tracking(t, 1) == 0, "a tracked watcher");
	r = trigger(fd, UINT32_MAX);
	EXPECT(r == 0 && current_gen() == UINT32_MAX, "TRIGGER(2^32-1) sets the counter to %u",
	       current_gen());
	u = uevent_next(s, 3000);
	EXPECT(u == UINT32_MAX, "uevent SYSGENID=4294967295 (got %ld)", u);
	EXPECT(sysfs_generation() == UINT32_MAX, "sysfs shows 4294967295");
	EXPECT(read(fd, &v, 4) == 4 && v == UINT32_MAX, "read returns 4294967295");
	EXPECT(ack(fd) == 0, "ack it");
	EXPECT_ERR(trigger(fd, 0), EOVERFLOW, "TRIGGER(0) at the top");
	EXPECT_ERR(trigger(fd, UINT32_MAX), EOVERFLOW, "TRIGGER(2^32-1) at the top");
	EXPECT(current_gen() == UINT32_MAX, "the counter stays at the top, it does not wrap");
	EXPECT(poll_now(fd) == 0, "the acknowledged fd stays up to date");
	EXPECT_ERR(wait_watchers(fd, 100), ETIME, "the tracked watcher is still counted");
	EXPECT(ack(t) == 0 && wait_watchers(fd, 1000) == 0, "its ack releases WAIT");
	close(t);
	if (s >= 0)
		close(s);
}

/* --------------------------------------------------------------- stress */

struct worker {
	pthread_t thread;
	int fd;
	int stop_fd;
	uint32_t last;
	unsigned int acks;
	int err;
	bool backwards;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	uint32_t v;

	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = w->fd, .events = POLLIN },
			{ .fd = w->stop_fd, .events = POLLIN },
		};
		int n = poll(pf, 2, 20000);

		if (n <= 0) {
			w->err = n ? errno : ETIMEDOUT;
			break;
		}
		if (pf[0].revents & POLLIN) {
			if (read(w->fd, &v, 4) != 4) {
				w->err = errno;
				break;
			}
			if (ack_value(w->fd, v)) {
				/* Moved on again since the read: read the newer one. */
				if (errno == EINVAL)
					continue;
				w->err = errno;
				break;
			}
			if (w->acks && v <= w->last)
				w->backwards = true;
			w->last = v;
			w->acks++;
			continue;
		}
		if (pf[1].revents)
			break;
	}
	return NULL;
}

static atomic_int mmap_stop;
static atomic_int mmap_backwards;

static void *mmap_watcher(void *p)
{
	uint32_t last = current_gen();

	(void)p;
	while (!atomic_load(&mmap_stop)) {
		uint32_t v = current_gen();

		if (v < last)
			atomic_store(&mmap_backwards, 1);
		last = v;
	}
	return NULL;
}

static void test_stress(void)
{
	struct worker w[STRESS_THREADS];
	int stop[2], m = dev_open(O_RDWR), wait_ok = 0, all_final = 1, all_acks = 1, errs = 0;
	pthread_t mw;
	uint32_t final;
	long t = now_ms();
	bool backwards = false;

	section("stress: 16 tracked readers, 200 generations");
	EXPECT(pipe2(stop, O_CLOEXEC) == 0, "stop pipe");
	pthread_create(&mw, NULL, mmap_watcher, NULL);
	for (int i = 0; i < STRESS_THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].fd = dev_open(O_RDWR);
		w[i].stop_fd = stop[0];
		set_tracking(w[i].fd, 1);
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < STRESS_GENERATIONS; i++) {
		if (trigger(m, 0) || ack(m))
			break;
		if (wait_watchers(m, 20000) == 0)
			wait_ok++;
		else
			printf("     WAIT failed in round %d: %s\n", i, strerror(errno));
	}
	final = current_gen();
	EXPECT(wait_ok == STRESS_GENERATIONS, "WAIT_WATCHERS succeeded after every trigger (%d/%d)",
	       wait_ok, STRESS_GENERATIONS);
	EXPECT(wait_watchers(m, 5000) == 0, "the outdated count is back to 0");
	if (write(stop[1], "x", 1) != 1)
		errs++;
	for (int i = 0; i < STRESS_THREADS; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].last != final)
			all_final = 0;
		if (w[i].acks != STRESS_GENERATIONS)
			all_acks = 0;
		if (w[i].err)
			errs++;
		if (w[i].backwards)
			backwards = true;
		close(w[i].fd);
	}
	atomic_store(&mmap_stop, 1);
	pthread_join(mw, NULL);
	EXPECT(all_final, "every thread saw and acknowledged the final generation %u", final);
	EXPECT(all_acks, "every thread acknowledged each of the %d generations", STRESS_GENERATIONS);
	EXPECT(errs == 0, "no thread hit an error or a 20 s stall");
	EXPECT(!backwards && !atomic_load(&mmap_backwards),
	       "no reader ever saw the counter move down");
	EXPECT(sysfs_generation() == final, "sysfs shows %u", final);
	EXPECT(wait_watchers(m, 1000) == 0, "WAIT returns 0 after the tracked fds closed");
	printf("     stress took %ld ms\n", now_ms() - t);
	close(stop[0]);
	close(stop[1]);
	close(m);
}

/* ------------------------------------------------------- vmfork watch */

static atomic_int watch_reader_woke;
static uint32_t watch_reader_value;

static void *watch_reader(void *p)
{
	int fd = *(int *)p;

	if (read(fd, &watch_reader_value, 4) == 4) {
		atomic_store(&watch_reader_woke, 1);
		printf("watch: blocked reader woke with generation %u\n", watch_reader_value);
		fflush(stdout);
	}
	return NULL;
}

static int watch(int seconds, unsigned int expect_bumps)
{
	int fd = dev_open(O_RDWR), s = uevent_open();
	uint32_t before, last, after;
	long start = now_ms(), settled_at = 0, uevent_value = -1, v;
	pthread_t reader;

	if (fd < 0) {
		perror(dev_path);
		return 1;
	}
	page = mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, 0);
	if (page == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	before = last = current_gen();
	pthread_create(&reader, NULL, watch_reader, &fd);
	printf("watch: start generation=%u sysfs=%ld, watching for %d s\n", before,
	       sysfs_generation(), seconds);
	fflush(stdout);

	while (now_ms() - start < seconds * 1000L) {
		long tick = now_ms() + 500;

		while (s >= 0 && (v = uevent_next(s, tick - now_ms())) >= 0) {
			printf("watch: uevent change SYSGENID=%ld\n", v);
			if (uevent_value < 0)
				uevent_value = v;
		}
		if (s < 0)
			sleep_ms(500);
		if (current_gen() != last) {
			last = current_gen();
			settled_at = now_ms();
		}
		printf("watch: t=%.1fs generation=%u sysfs=%ld\n", (now_ms() - start) / 1000.0,
		       current_gen(), sysfs_generation());
		fflush(stdout);
		/* Seen everything, and waited long enough to catch a second bump. */
		if (expect_bumps && settled_at && atomic_load(&watch_reader_woke) &&
		    uevent_value >= 0 &&
		    now_ms() - settled_at > 3000)
			break;
	}
	after = current_gen();
	printf("watch: before=%u after=%u reader=%s uevent=%ld\n", before, after,
	       atomic_load(&watch_reader_woke) ? "woken" : "blocked", uevent_value);
	EXPECT(after == before + expect_bumps, "the counter moved by exactly %u (%u -> %u)",
	       expect_bumps, before, after);
	EXPECT(sysfs_generation() == after, "sysfs shows %u", after);
	if (expect_bumps) {
		EXPECT(atomic_load(&watch_reader_woke) && watch_reader_value == after,
		       "the blocked reader woke with %u", after);
		EXPECT(uevent_value == after, "a change uevent with SYSGENID=%u (got %ld)",
		       after, uevent_value);
	} else {
		EXPECT(!atomic_load(&watch_reader_woke), "the blocked reader still blocks");
		EXPECT(uevent_value < 0, "no uevent");
	}
	printf("%d passed, %d failed\n", passed, failed);
	fflush(stdout);
	return failed ? 1 : 0;
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	bool fresh = false, saturate = false;
	int watch_seconds = 0, expect_bumps = 1;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fresh")) {
			fresh = true;
		} else if (!strcmp(argv[i], "--saturate")) {
			saturate = true;
		} else if (!strcmp(argv[i], "--dev") && i + 1 < argc) {
			dev_path = argv[++i];
		} else if (!strcmp(argv[i], "--watch") && i + 1 < argc) {
			watch_seconds = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--expect-bumps") && i + 1 < argc) {
			expect_bumps = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--fresh] [--saturate] [--dev PATH] "
				"[--watch SECONDS [--expect-bumps N]]\n", argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	install_signals();
	if (watch_seconds > 0)
		return watch(watch_seconds, expect_bumps);

	fd = dev_open(O_RDWR);
	page = fd >= 0 ? mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (fd < 0 || page == MAP_FAILED) {
		EXPECT(false, "open and mmap %s", dev_path);
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}

	test_open_and_counter(fd, fresh);
	test_read(fd);
	test_write(fd);
	test_mmap(fd);
	test_generation_change(fd);
	test_trigger_min(fd);
	test_unknown_ioctl(fd);
	test_tracking();
	test_wait_wakeups();
	test_blocking_read();
	test_privileges(fd);
	test_uevents(fd);
	test_stress();
	test_chaos();
	if (saturate)
		test_saturation(fd);

	section("end");
	EXPECT(ack(fd) == 0 && wait_watchers(fd, 1000) == 0, "no tracked watcher left outdated");
	EXPECT(sysfs_generation() == (long)current_gen(), "sysfs and mmap agree at the end (%u)",
	       current_gen());
	close(fd);
	printf("\n%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
