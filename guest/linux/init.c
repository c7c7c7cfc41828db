/*
 * /init of Hyve's Linux test guest (busybox initramfs).
 *
 * Freestanding C with raw system calls instead of a shell script: on the
 * hosts Hyve is tested on every fork/exec costs ~0.5-1 s of emulated kernel
 * work, so this program mounts, prints and hands PID 1 to busybox sh with a
 * single exec. Its first act is the boot marker, BOOT_MARKER written to I/O
 * port 0x80 through /dev/port: a VMM that sees it knows that user space runs
 * and that system calls work, without parsing the console.
 *
 * Build: gcc -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie
 *        -no-pie -O2 -o init init.c   (scripts/build-linux-guest.sh does it)
 */
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/syscall.h>

#define BOOT_MARKER 0x48 /* 'H' */
#define BOOT_MARKER_PORT 0x80

static long syscall6(long nr, long a, long b, long c, long d, long e)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

#define SYS(nr, a, b, c, d, e) \
	syscall6(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e))

static unsigned long length(const char *s)
{
	unsigned long n = 0;

	while (s[n])
		n++;
	return n;
}

static void say(const char *s)
{
	SYS(SYS_write, 1, s, length(s), 0, 0);
}

static void mount_or_complain(const char *type, const char *dir,
			      unsigned long flags, const char *data)
{
	if (SYS(SYS_mount, type, dir, type, flags, data) < 0) {
		say("hyve-guest: cannot mount ");
		say(dir);
		say("\n");
	}
}

/*
 * /dev/console cannot be a controlling terminal, so the shell would run
 * without job control (no ^C). Open the console's real tty (the last name in
 * /sys/class/tty/console/active) as the controlling terminal of a new
 * session instead, as busybox's cttyhack would, but without its fork/exec.
 */
static void use_console_tty(void)
{
	char path[48] = "/dev/";
	char name[40];
	long fd, n, start;

	fd = SYS(SYS_open, "/sys/class/tty/console/active", O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return;
	n = SYS(SYS_read, fd, name, sizeof(name) - 1, 0, 0);
	SYS(SYS_close, fd, 0, 0, 0, 0);
	while (n > 0 && (name[n - 1] == '\n' || name[n - 1] == ' '))
		n--;
	if (n <= 0)
		return;
	for (start = n; start > 0 && name[start - 1] != ' '; start--)
		;
	for (long i = start; i < n; i++)
		path[5 + i - start] = name[i];
	path[5 + n - start] = 0;

	SYS(SYS_setsid, 0, 0, 0, 0, 0);
	fd = SYS(SYS_open, path, O_RDWR, 0, 0, 0);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		SYS(SYS_dup2, fd, i, 0, 0, 0);
	if (fd > 2)
		SYS(SYS_close, fd, 0, 0, 0, 0);
}

__attribute__((noreturn)) void init_main(void);

void init_main(void)
{
	static const char marker = BOOT_MARKER;
	static char *const argv[] = { "sh", 0 };
	static char *const envp[] = {
		"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/", "TERM=linux", 0
	};
	long fd;

	fd = SYS(SYS_open, "/dev/port", O_WRONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0 || SYS(SYS_pwrite64, fd, &marker, 1, BOOT_MARKER_PORT, 0) != 1)
		say("hyve-guest: cannot write the boot marker to /dev/port\n");
	if (fd >= 0)
		SYS(SYS_close, fd, 0, 0, 0, 0);

	mount_or_complain("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
	mount_or_complain("sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
	mount_or_complain("devtmpfs", "/dev", MS_NOSUID, "mode=0755");
	use_console_tty();

	say("hyve-guest: init ready\n");
	SYS(SYS_execve, "/bin/busybox", argv, envp, 0, 0);
	say("hyve-guest: cannot run /bin/busybox sh\n");
	for (;;)
		SYS(SYS_exit, 1, 0, 0, 0, 0);
}

/* The kernel enters with the stack 16-byte aligned; a call needs it so. */
__asm__(".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call init_main\n"
	"	hlt\n");
