/*
 * kvm-exit-loop: the smallest useful KVM run loop, as a yardstick for Hyve.
 *
 *   kvm-exit-loop PROGRAM.bin
 *
 * Loads a flat long-mode binary at 0x100000 with the same machine layout
 * Hyve uses (GDT at 0x1000, identity page tables for the first 4 GiB with
 * 2 MiB pages at 0x2000-0x7FFF, CS=0x18, RSP=RIP=0x100000, RDI=0), runs one
 * vCPU and handles exits:
 *   OUT 0xE9        byte to stdout
 *   OUT 0xF4        stop; exit status (v<<1)|1
 *   OUT 0xCF9 = 6   reset: reload image, restart at the entry (RAM kept)
 *   other OUT       ignored;  IN of any port returns all ones
 *   MMIO            reads return all ones, writes ignored
 *   HLT             stop; exit status 0
 *   SHUTDOWN        (triple fault) stop; exit status 2
 * Everything else, and any setup failure, exits with status 4.
 *
 * On stderr it reports "exits=<n> seconds=<s>", the number of KVM_RUN
 * returns and the wall time of the run loop alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE   (64UL << 20)
#define LOAD_ADDR  0x100000UL
#define GDT_ADDR   0x1000UL
#define PML4_ADDR  0x2000UL
#define PDPT_ADDR  0x3000UL
#define PD_ADDR    0x4000UL     /* four page directories, 0x4000-0x7FFF */

#define EXIT_FAIL     4
#define EXIT_HALT     0
#define EXIT_SHUTDOWN 2

static void die(const char *fmt, ...)
{
    va_list ap;
    int err = errno;

    fputs("kvm-exit-loop: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (err != 0)
        fprintf(stderr, ": %s", strerror(err));
    fputc('\n', stderr);
    exit(EXIT_FAIL);
}

static int xioctl(int fd, unsigned long req, void *arg, const char *name)
{
    int r;

    errno = 0;
    r = ioctl(fd, req, arg);
    if (r < 0)
        die("%s failed", name);
    return r;
}

static uint8_t *mem;
static uint8_t *image;
static size_t image_size;

static void load_program(const char *path)
{
    struct stat st;
    FILE *f;

    errno = 0;
    f = fopen(path, "rb");
    if (f == NULL)
        die("cannot open %s", path);
    if (fstat(fileno(f), &st) < 0)
        die("cannot stat %s", path);
    if (st.st_size <= 0 || (uint64_t)st.st_size > MEM_SIZE - LOAD_ADDR) {
        errno = 0;
        die("%s: size %lld does not fit at 0x%lx in %lu MiB", path,
            (long long)st.st_size, LOAD_ADDR, MEM_SIZE >> 20);
    }
    image_size = (size_t)st.st_size;
    image = malloc(image_size);
    if (image == NULL)
        die("out of memory");
    if (fread(image, 1, image_size, f) != image_size)
        die("cannot read %s", path);
    fclose(f);
}

/* Builds GDT and page tables (done once: the layout survives a reset). */
static void setup_memory(void)
{
    uint64_t *gdt = (uint64_t *)(mem + GDT_ADDR);
    uint64_t *pml4 = (uint64_t *)(mem + PML4_ADDR);
    uint64_t *pdpt = (uint64_t *)(mem + PDPT_ADDR);
    uint64_t *pd = (uint64_t *)(mem + PD_ADDR);

    gdt[0] = 0;
    gdt[1] = 0x00CF9A000000FFFFULL;    /* 0x08: flat 32-bit code */
    gdt[2] = 0x00CF92000000FFFFULL;    /* 0x10: flat data */
    gdt[3] = 0x00AF9A000000FFFFULL;    /* 0x18: 64-bit code (L=1) */

    pml4[0] = PDPT_ADDR | 0x3;          /* present, writable */
    for (int i = 0; i < 4; i++)
        pdpt[i] = (PD_ADDR + i * 0x1000UL) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | 0x83;       /* present, writable, 2 MiB page */
}

static void setup_vcpu(int vcpu)
{
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    struct kvm_segment code = {
        .base = 0, .limit = 0xFFFFFFFF, .selector = 0x18, .type = 0xB,
        .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
    };
    struct kvm_segment data = {
        .base = 0, .limit = 0xFFFFFFFF, .selector = 0x10, .type = 0x3,
        .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
    };

    memcpy(mem + LOAD_ADDR, image, image_size);

    xioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.gdt.base = GDT_ADDR;
    sregs.gdt.limit = 4 * 8 - 1;
    sregs.cr0 = 0x80000031;             /* PG | NE | ET | PE */
    sregs.cr3 = PML4_ADDR;
    sregs.cr4 = 0x20;                   /* PAE */
    sregs.efer = 0x500;                 /* LMA | LME */
    xioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");

    memset(&regs, 0, sizeof(regs));
    regs.rip = LOAD_ADDR;
    regs.rsp = LOAD_ADDR;
    regs.rdi = 0;                       /* vCPU id */
    regs.rflags = 0x2;                  /* reserved bit; IF=0 */
    xioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

/* Gives the guest the host's supported CPUID (long mode must be visible). */
static void setup_cpuid(int kvm, int vcpu)
{
    int n = 256;
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));

    if (cpuid == NULL)
        die("out of memory");
    cpuid->nent = n;
    xioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid, "KVM_GET_SUPPORTED_CPUID");
    xioctl(vcpu, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");
    free(cpuid);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int kvm, vm, vcpu, status = -1, run_size;
    struct kvm_userspace_memory_region region;
    struct kvm_run *run;
    unsigned long exits = 0;
    double t0, t1;

    if (argc != 2) {
        fprintf(stderr, "usage: kvm-exit-loop PROGRAM.bin\n");
        return EXIT_FAIL;
    }
    load_program(argv[1]);

    errno = 0;
    kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("cannot open /dev/kvm");
    if (xioctl(kvm, KVM_GET_API_VERSION, NULL, "KVM_GET_API_VERSION") != KVM_API_VERSION) {
        errno = 0;
        die("unexpected KVM API version");
    }
    vm = xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");

    mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        die("cannot map %lu MiB of guest memory", MEM_SIZE >> 20);
    region = (struct kvm_userspace_memory_region){
        .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
        .userspace_addr = (uintptr_t)mem,
    };
    xioctl(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");

    vcpu = xioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
    run_size = xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, NULL, "KVM_GET_VCPU_MMAP_SIZE");
    run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("cannot map kvm_run");
    setup_cpuid(kvm, vcpu);
    setup_memory();
    setup_vcpu(vcpu);

    t0 = now();
    while (status < 0) {
        if (ioctl(vcpu, KVM_RUN, NULL) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            die("KVM_RUN failed");
        }
        exits++;
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            uint32_t len = run->io.size * run->io.count;

            if (run->io.direction == KVM_EXIT_IO_IN) {
                memset(data, 0xFF, len);
                break;
            }
            if (run->io.port == 0xE9) {
                for (uint32_t i = 0; i < run->io.count; i++)
                    putchar(data[i * run->io.size]);
            } else if (run->io.port == 0xF4) {
                status = (data[0] << 1) | 1;
            } else if (run->io.port == 0xCF9 && data[0] == 0x6) {
                fflush(stdout);
                setup_vcpu(vcpu);
            }
            break;
        }
        case KVM_EXIT_MMIO:
            if (!run->mmio.is_write)
                memset(run->mmio.data, 0xFF, sizeof(run->mmio.data));
            break;
        case KVM_EXIT_HLT:
            fprintf(stderr, "kvm-exit-loop: vCPU halted\n");
            status = EXIT_HALT;
            break;
        case KVM_EXIT_SHUTDOWN:
            fprintf(stderr, "kvm-exit-loop: shutdown (triple fault)\n");
            status = EXIT_SHUTDOWN;
            break;
        case KVM_EXIT_FAIL_ENTRY:
            errno = 0;
            die("entry failed, hardware reason 0x%llx",
                (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            errno = 0;
            die("internal error, suberror %u", run->internal.suberror);
            break;
        default:
            errno = 0;
            die("unexpected exit reason %u", run->exit_reason);
        }
    }
    t1 = now();

    fflush(stdout);
    fprintf(stderr, "exits=%lu seconds=%.6f\n", exits, t1 - t0);
    return status;
}
