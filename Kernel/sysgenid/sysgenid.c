// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/sysgenid: a system generation counter for userspace.
 *
 * One u32 counter, 0 at load, that moves up each time the VM generation
 * changes: the vmgenid driver saw a new VMGENID value (the vmfork notifier),
 * a privileged process asked for it (ioctl), or other kernel code called
 * sysgenid_bump_generation(). Every open file remembers the value it last
 * acknowledged and is "outdated" until it acknowledges the current one.
 * The userspace contract is Documentation/sysgenid-abi.md in the genid
 * project.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/kobject.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/sysgenid.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

/* Per open file. */
struct sysgenid_file {
	u32 acked;		/* counter as of this file's last acknowledgement */
	bool tracked;		/* counted by SYSGENID_WAIT_WATCHERS */
};

struct sysgenid_state {
	/*
	 * Protects the counter, the watcher counts and every sysgenid_file.
	 * Taken with interrupts off: sysgenid_bump_generation() may be called
	 * from any context.
	 */
	spinlock_t lock;
	u32 generation;
	unsigned int tracked;		/* tracked files */
	unsigned int outdated;		/* tracked files with acked != generation */
	u32 *page;			/* mapped by userspace; word 0 is the counter */
	wait_queue_head_t outdated_wait;	/* read() and poll() */
	wait_queue_head_t watchers_wait;	/* SYSGENID_WAIT_WATCHERS */
	struct work_struct uevent_work;
	u32 announced;			/* last value sent as a uevent; work only */
};

static struct sysgenid_state sg;

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
/* Before 6.3 there were no vm_flags helpers and vm_flags was written directly. */
static void vm_flags_mod(struct vm_area_struct *vma, vm_flags_t set, vm_flags_t clear)
{
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
}
#endif

/*
 * Wait conditions read the state under the lock, and every change is made
 * under it before the wake-up, so a waiter cannot miss one.
 */
static bool sysgenid_file_outdated(const struct sysgenid_file *f)
{
	bool outdated;

	spin_lock_irq(&sg.lock);
	outdated = f->acked != sg.generation;
	spin_unlock_irq(&sg.lock);
	return outdated;
}

/* SYSGENID_WAIT_WATCHERS ends once nothing is outdated, or the caller is. */
static bool sysgenid_wait_over(const struct sysgenid_file *f)
{
	bool over;

	spin_lock_irq(&sg.lock);
	over = !sg.outdated || f->acked != sg.generation;
	spin_unlock_irq(&sg.lock);
	return over;
}

/*
 * Raise the counter to max(@min, counter + 1). It stops at U32_MAX instead
 * of wrapping: a wrap would move it down and could make an outdated file
 * look current again, which would break the watcher count.
 */
static int sysgenid_raise(u32 min)
{
	unsigned long flags;
	u32 next;

	spin_lock_irqsave(&sg.lock, flags);
	if (sg.generation == U32_MAX) {
		spin_unlock_irqrestore(&sg.lock, flags);
		return -EOVERFLOW;
	}
	/*
	 * A minimum far above the counter is refused: one call must not be
	 * able to saturate it, after which no restore would move it again.
	 */
	if ((u64)min > (u64)sg.generation + SYSGENID_TRIGGER_MAX_STEP) {
		spin_unlock_irqrestore(&sg.lock, flags);
		return -EINVAL;
	}
	next = max(min, sg.generation + 1);
	WRITE_ONCE(sg.generation, next);
	WRITE_ONCE(*sg.page, next);
	/* Every file acknowledged an older value, so every tracked one is outdated. */
	sg.outdated = sg.tracked;
	spin_unlock_irqrestore(&sg.lock, flags);

	wake_up_interruptible_poll(&sg.outdated_wait, EPOLLIN | EPOLLRDNORM);
	/* Waiters must see that their own file has just become outdated. */
	wake_up_interruptible_all(&sg.watchers_wait);
	/* kobject_uevent() may sleep, and our caller may not. */
	schedule_work(&sg.uevent_work);
	return 0;
}

void sysgenid_bump_generation(void)
{
	if (sysgenid_raise(0))
		pr_warn_once("counter stays at %u, it does not wrap\n", U32_MAX);
}
EXPORT_SYMBOL_GPL(sysgenid_bump_generation);

static long sysgenid_set_tracking(struct sysgenid_file *f, bool track)
{
	bool settled = false;

	spin_lock_irq(&sg.lock);
	if (f->tracked != track) {
		f->tracked = track;
		if (track)
			sg.tracked++;
		else
			sg.tracked--;
		if (f->acked != sg.generation) {
			if (track)
				sg.outdated++;
			else
				settled = !--sg.outdated;
		}
	}
	spin_unlock_irq(&sg.lock);

	if (settled)
		wake_up_interruptible_all(&sg.watchers_wait);
	return 0;
}

static long sysgenid_wait_watchers(const struct sysgenid_file *f, unsigned long msecs)
{
	long timeout = MAX_SCHEDULE_TIMEOUT;
	long ret;

	if (msecs)
		timeout = msecs_to_jiffies(min_t(unsigned long, msecs, UINT_MAX));
	ret = wait_event_interruptible_timeout(sg.watchers_wait, sysgenid_wait_over(f), timeout);
	/* A signal. A restart would begin the timeout anew, so only restart without one. */
	if (ret < 0)
		return msecs ? -EINTR : ret;
	/* The caller has a new generation to handle first; it retries after that. */
	if (sysgenid_file_outdated(f))
		return -EINTR;
	if (!ret)
		return -ETIME;
	return 0;
}

static int sysgenid_open(struct inode *inode, struct file *file)
{
	struct sysgenid_file *f;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;

	spin_lock_irq(&sg.lock);
	f->acked = sg.generation;
	spin_unlock_irq(&sg.lock);

	file->private_data = f;
	return stream_open(inode, file);
}

static int sysgenid_release(struct inode *inode, struct file *file)
{
	struct sysgenid_file *f = file->private_data;

	/* An outdated watcher that goes away must not hold up the waiters. */
	sysgenid_set_tracking(f, false);
	kfree(f);
	return 0;
}

static ssize_t sysgenid_read(struct file *file, char __user *buf, size_t len, loff_t *pos)
{
	struct sysgenid_file *f = file->private_data;
	u32 generation;
	int ret;

	if (!len)
		return 0;
	/* The counter is never handed out in pieces. */
	if (len < sizeof(generation))
		return -EINVAL;

	if (file->f_flags & O_NONBLOCK) {
		if (!sysgenid_file_outdated(f))
			return -EAGAIN;
	} else {
		ret = wait_event_interruptible(sg.outdated_wait, sysgenid_file_outdated(f));
		if (ret)
			return ret;
	}

	/* The current value, which may be newer than the one that woke us. */
	generation = READ_ONCE(sg.generation);
	if (copy_to_user(buf, &generation, sizeof(generation)))
		return -EFAULT;
	return sizeof(generation);
}

static ssize_t sysgenid_write(struct file *file, const char __user *buf, size_t len, loff_t *pos)
{
	struct sysgenid_file *f = file->private_data;
	bool settled = false;
	u32 value;

	/* An acknowledgement is exactly one counter value. */
	if (len != sizeof(value))
		return -ENOBUFS;
	if (copy_from_user(&value, buf, sizeof(value)))
		return -EFAULT;

	spin_lock_irq(&sg.lock);
	/* Only the current value acknowledges: a stale one means a change was missed. */
	if (value != sg.generation) {
		spin_unlock_irq(&sg.lock);
		return -EINVAL;
	}
	if (f->tracked && f->acked != value)
		settled = !--sg.outdated;
	f->acked = value;
	spin_unlock_irq(&sg.lock);

	if (settled)
		wake_up_interruptible_all(&sg.watchers_wait);
	return sizeof(value);
}

static __poll_t sysgenid_poll(struct file *file, poll_table *wait)
{
	struct sysgenid_file *f = file->private_data;

	poll_wait(file, &sg.outdated_wait, wait);
	return sysgenid_file_outdated(f) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int sysgenid_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* There is exactly one page, at offset 0. */
	if (vma->vm_pgoff || vma_pages(vma) != 1)
		return -EINVAL;
	/* The page is shared by every process: look, never touch. */
	if (vma->vm_flags & VM_WRITE)
		return -EPERM;

	/*
	 * Without VM_MAYWRITE, mprotect() cannot make the mapping writable
	 * later, and a private mapping can never get a copy-on-write copy
	 * that would stop following the counter.
	 */
	vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, VM_MAYWRITE);
	return vm_insert_page(vma, vma->vm_start, virt_to_page(sg.page));
}

static long sysgenid_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct sysgenid_file *f = file->private_data;

	switch (cmd) {
	case SYSGENID_SET_WATCHER_TRACKING:
		return sysgenid_set_tracking(f, arg != 0);
	case SYSGENID_WAIT_WATCHERS:
		return sysgenid_wait_watchers(f, arg);
	case SYSGENID_TRIGGER_GEN_UPDATE:
		/* The counter is system-wide, so only the initial namespace moves it. */
		if (!checkpoint_restore_ns_capable(&init_user_ns))
			return -EACCES;
		/* A minimum that a u32 counter cannot hold is a caller's mistake. */
		if (upper_32_bits(arg))
			return -EINVAL;
		return sysgenid_raise(arg);
	default:
		/* EINVAL rather than ENOTTY, as in the original proposal. */
		return -EINVAL;
	}
}

static ssize_t generation_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(sg.generation));
}
static DEVICE_ATTR_RO(generation);

static struct attribute *sysgenid_attrs[] = {
	&dev_attr_generation.attr,
	NULL
};
ATTRIBUTE_GROUPS(sysgenid);

static const struct file_operations sysgenid_fops = {
	.owner = THIS_MODULE,
	.open = sysgenid_open,
	.release = sysgenid_release,
	.read = sysgenid_read,
	.write = sysgenid_write,
	.poll = sysgenid_poll,
	.mmap = sysgenid_mmap,
	.unlocked_ioctl = sysgenid_ioctl,
	/* Arguments are values, not pointers: no translation needed. */
	.compat_ioctl = sysgenid_ioctl,
};

static struct miscdevice sysgenid_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "sysgenid",
	.fops = &sysgenid_fops,
	.groups = sysgenid_groups,
	/*
	 * Everyone: read, write and mmap touch only the caller's own file,
	 * and the one global action, TRIGGER, checks capabilities.
	 */
	.mode = 0666,
};

static void sysgenid_uevent(struct work_struct *work)
{
	char env[sizeof("SYSGENID=4294967295")];
	char *envp[] = { env, NULL };
	u32 generation = READ_ONCE(sg.generation);

	/*
	 * Changes that came in before this ran are announced once, with the
	 * newest value; a second run for the same value has nothing to say.
	 */
	if (generation == sg.announced)
		return;
	sg.announced = generation;

	snprintf(env, sizeof(env), "SYSGENID=%u", generation);
	kobject_uevent_env(&sysgenid_misc.this_device->kobj, KOBJ_CHANGE, envp);
}

/* The vmgenid driver saw a new VMGENID value: one change, one bump. */
static int sysgenid_vmfork(struct notifier_block *nb, unsigned long action, void *data)
{
	sysgenid_bump_generation();
	return NOTIFY_DONE;
}

static struct notifier_block sysgenid_vmfork_nb = {
	.notifier_call = sysgenid_vmfork,
};

static int __init sysgenid_init(void)
{
	int ret;

	spin_lock_init(&sg.lock);
	init_waitqueue_head(&sg.outdated_wait);
	init_waitqueue_head(&sg.watchers_wait);
	INIT_WORK(&sg.uevent_work, sysgenid_uevent);

	sg.page = (u32 *)get_zeroed_page(GFP_KERNEL);
	if (!sg.page)
		return -ENOMEM;

	ret = misc_register(&sysgenid_misc);
	if (ret)
		goto free_page;

	/* Only fails for a notifier that is already registered. */
	ret = register_random_vmfork_notifier(&sysgenid_vmfork_nb);
	if (ret)
		goto deregister;
	return 0;

deregister:
	cancel_work_sync(&sg.uevent_work);
	misc_deregister(&sysgenid_misc);
free_page:
	free_page((unsigned long)sg.page);
	return ret;
}

static void __exit sysgenid_exit(void)
{
	unregister_random_vmfork_notifier(&sysgenid_vmfork_nb);
	/*
	 * Nothing else can bump now: open files and mappings hold the module,
	 * and so does any module that uses sysgenid_bump_generation().
	 */
	cancel_work_sync(&sg.uevent_work);
	misc_deregister(&sysgenid_misc);
	free_page((unsigned long)sg.page);
}

module_init(sysgenid_init);
module_exit(sysgenid_exit);

MODULE_DESCRIPTION("System generation counter (/dev/sysgenid)");
MODULE_LICENSE("GPL");
MODULE_VERSION("0.1.0");
