/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * /dev/sysgenid: the system generation counter.
 *
 * The device holds one system-wide u32 counter that moves up each time the
 * VM generation changes. The full contract is Documentation/sysgenid-abi.md
 * in the genid project; in short:
 * read() blocks until the fd is outdated and then returns the counter,
 * write() acknowledges it, poll() is readable while outdated, and mmap()
 * gives a read-only page whose first four bytes hold the counter.
 *
 * Every ioctl takes its argument by value, not through a pointer.
 */
#ifndef _UAPI_LINUX_SYSGENID_H
#define _UAPI_LINUX_SYSGENID_H

#include <linux/ioctl.h>

#define SYSGENID_IOCTL			0xE4

/* arg != 0: count this fd as a tracked watcher; arg == 0: stop. */
#define SYSGENID_SET_WATCHER_TRACKING	_IO(SYSGENID_IOCTL, 1)
/* Wait until no tracked watcher is outdated; arg = timeout in ms, 0 = none. */
#define SYSGENID_WAIT_WATCHERS		_IO(SYSGENID_IOCTL, 2)
/* Raise the counter to max(arg, counter + 1); needs CAP_CHECKPOINT_RESTORE. */
#define SYSGENID_TRIGGER_GEN_UPDATE	_IO(SYSGENID_IOCTL, 3)
/*
 * TRIGGER fails EINVAL when arg is more than this above the counter: one
 * call cannot saturate it (a saturated counter stays put until reboot).
 */
#define SYSGENID_TRIGGER_MAX_STEP	(1U << 20)

/*
 * The same request numbers as enum constants: Swift does not import
 * function-like macros such as _IO(), but it does import these.
 */
enum sysgenid_ioctl_request {
	SYSGENID_IOC_SET_WATCHER_TRACKING = SYSGENID_SET_WATCHER_TRACKING,
	SYSGENID_IOC_WAIT_WATCHERS = SYSGENID_WAIT_WATCHERS,
	SYSGENID_IOC_TRIGGER_GEN_UPDATE = SYSGENID_TRIGGER_GEN_UPDATE,
};

#endif /* _UAPI_LINUX_SYSGENID_H */
