/* SPDX-License-Identifier: GPL-2.0 */
/* In-kernel interface of the sysgenid module. */
#ifndef _LINUX_SYSGENID_H
#define _LINUX_SYSGENID_H

#include <uapi/linux/sysgenid.h>

/*
 * Move the system generation counter up by one. Safe in any context,
 * including atomic and hard interrupt context.
 */
void sysgenid_bump_generation(void);

#endif /* _LINUX_SYSGENID_H */
