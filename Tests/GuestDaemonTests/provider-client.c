/*
 * provider-client: a local client of sysgenidd's provider socket that does
 * what a hostile user would, for GuestDaemonTests (compiled by the tests
 * with cc, run under setpriv as an unprivileged uid).
 *
 *   provider-client hold SOCKET N
 *	Connects N times and sends "hello" on each; prints each reply line
 *	("<i> <reply>"), closes standard output, then keeps every connection
 *	until standard input ends.
 *
 *   provider-client request SOCKET LINE
 *	Connects, sends LINE, prints the reply.
 *
 *   provider-client track SOCKET
 *	Connects, becomes a tracked watcher ("track 1"), prints the reply,
 *	closes standard output, then holds the connection, never acknowledging
 *	anything, until standard input ends.
 *
 *   provider-client inherited-trigger SOCKET SETUID_PROGRAM
 *	The TRIGGER race: connects, then forks. The connecting process execs
 *	SETUID_PROGRAM (a setuid-root program that waits, as su does for a
 *	password), so it becomes root; the child, unprivileged, waits until it
 *	sees that, sends "trigger 4294967295" over the inherited connection,
 *	prints the reply, and ends the waiting program.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int connect_to(const char *path)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	strncpy(address.sun_path, path, sizeof(address.sun_path) - 1);
	if (connect(fd, (struct sockaddr *)&address, sizeof(address))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One line from fd (without the newline); "" at the end of the stream. */
static void read_line(int fd, char *line, size_t size)
{
	size_t used = 0;

	while (used + 1 < size && read(fd, line + used, 1) == 1 && line[used] != '\n')
		used++;
	line[used] = 0;
}

static int hold(const char *path, int count)
{
	char line[512];
	int i;

	for (i = 0; i < count; i++) {
		int fd = connect_to(path);

		if (fd < 0) {
			printf("%d connect failed: %m\n", i);
			continue;
		}
		/* A refused connection is closed at once: its one line is still there to read. */
		send(fd, "hello\n", 6, MSG_NOSIGNAL);
		read_line(fd, line, sizeof(line));
		printf("%d %s\n", i, line[0] ? line : "(closed)");
	}
	fflush(stdout);
	fclose(stdout);
	while (read(0, line, sizeof(line)) > 0)
		;
	return 0;
}

/* The effective uid of pid, from /proc (-1 if unreadable). */
static long effective_uid(pid_t pid)
{
	char path[64], line[256];
	long real, effective = -1;
	FILE *status;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	status = fopen(path, "r");
	if (!status)
		return -1;
	while (fgets(line, sizeof(line), status))
		if (sscanf(line, "Uid: %ld %ld", &real, &effective) == 2)
			break;
	fclose(status);
	return effective;
}

static int inherited_trigger(const char *path, const char *program)
{
	char line[512];
	int fd = connect_to(path);
	pid_t connector = getpid();
	int tries;

	if (fd < 0) {
		printf("setup: connect failed: %m\n");
		return 1;
	}
	if (fork() != 0) {
		/* The connector: become root by exec, and wait. */
		execl(program, program, "30", (char *)NULL);
		printf("setup: exec %s failed: %m\n", program);
		return 1;
	}
	for (tries = 0; tries < 500 && effective_uid(connector) != 0; tries++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	if (effective_uid(connector) != 0) {
		printf("setup: the connector never became root\n");
		kill(connector, SIGKILL);
		return 1;
	}
	if (write(fd, "trigger 4294967295\n", 19) != 19)
		line[0] = 0;
	else
		read_line(fd, line, sizeof(line));
	printf("%s\n", line[0] ? line : "(closed)");
	fflush(stdout);
	kill(connector, SIGKILL);
	return 0;
}

static int request(const char *path, const char *text)
{
	char line[512];
	int fd = connect_to(path);

	if (fd < 0) {
		printf("connect failed: %m\n");
		return 1;
	}
	if (dprintf(fd, "%s\n", text) < 0)
		line[0] = 0;
	else
		read_line(fd, line, sizeof(line));
	printf("%s\n", line[0] ? line : "(closed)");
	return 0;
}

static int track(const char *path)
{
	char line[512];
	int fd = connect_to(path);

	if (fd < 0) {
		printf("connect failed: %m\n");
		return 1;
	}
	if (write(fd, "track 1\n", 8) != 8)
		line[0] = 0;
	else
		read_line(fd, line, sizeof(line));
	printf("%s\n", line[0] ? line : "(closed)");
	fflush(stdout);
	fclose(stdout);
	while (read(0, line, sizeof(line)) > 0)
		;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return hold(argv[2], atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "request"))
		return request(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "track"))
		return track(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "inherited-trigger"))
		return inherited_trigger(argv[2], argv[3]);
	fprintf(stderr, "usage: provider-client hold SOCKET N | request SOCKET LINE | track SOCKET | inherited-trigger SOCKET SETUID_PROGRAM\n");
	return 64;
}
