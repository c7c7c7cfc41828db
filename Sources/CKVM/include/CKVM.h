#ifndef CKVM_H
#define CKVM_H

/* No _GNU_SOURCE here: it would give this module a different view of glibc's types than the
 * Glibc module Swift imports. The GNU-only calls below go through syscall(2) instead. */
#include <linux/kvm.h>
#include <linux/memfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/signalfd.h>

/* The ioctl request numbers are function-like macros, which Swift cannot import. */
static const unsigned long CKVM_GET_API_VERSION = KVM_GET_API_VERSION;
static const unsigned long CKVM_CREATE_VM = KVM_CREATE_VM;
static const unsigned long CKVM_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
static const unsigned long CKVM_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
static const unsigned long CKVM_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;
static const unsigned long CKVM_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
static const unsigned long CKVM_CREATE_VCPU = KVM_CREATE_VCPU;
static const unsigned long CKVM_RUN = KVM_RUN;
static const unsigned long CKVM_GET_REGS = KVM_GET_REGS;
static const unsigned long CKVM_SET_REGS = KVM_SET_REGS;
static const unsigned long CKVM_GET_SREGS = KVM_GET_SREGS;
static const unsigned long CKVM_SET_SREGS = KVM_SET_SREGS;
static const unsigned long CKVM_GET_FPU = KVM_GET_FPU;
static const unsigned long CKVM_SET_FPU = KVM_SET_FPU;
static const unsigned long CKVM_GET_MSRS = KVM_GET_MSRS;
static const unsigned long CKVM_SET_MSRS = KVM_SET_MSRS;
static const unsigned long CKVM_GET_VCPU_EVENTS = KVM_GET_VCPU_EVENTS;
static const unsigned long CKVM_SET_VCPU_EVENTS = KVM_SET_VCPU_EVENTS;
static const unsigned long CKVM_GET_MP_STATE = KVM_GET_MP_STATE;
static const unsigned long CKVM_SET_MP_STATE = KVM_SET_MP_STATE;
static const unsigned long CKVM_SET_CPUID2 = KVM_SET_CPUID2;
static const unsigned long CKVM_GET_CPUID2 = KVM_GET_CPUID2;
static const unsigned long CKVM_SET_TSS_ADDR = KVM_SET_TSS_ADDR;
static const unsigned long CKVM_SET_IDENTITY_MAP_ADDR = KVM_SET_IDENTITY_MAP_ADDR;
static const unsigned long CKVM_INTERRUPT = KVM_INTERRUPT;
static const unsigned long CKVM_NMI = KVM_NMI;
static const unsigned long CKVM_ENABLE_CAP = KVM_ENABLE_CAP;
static const unsigned long CKVM_SIGNAL_MSI = KVM_SIGNAL_MSI;
static const unsigned long CKVM_SET_GSI_ROUTING = KVM_SET_GSI_ROUTING;
static const unsigned long CKVM_GET_DEBUGREGS = KVM_GET_DEBUGREGS;
static const unsigned long CKVM_SET_DEBUGREGS = KVM_SET_DEBUGREGS;
static const unsigned long CKVM_X86_SET_MSR_FILTER = KVM_X86_SET_MSR_FILTER;
static const unsigned long CKVM_GET_LAPIC = KVM_GET_LAPIC;
static const unsigned long CKVM_GET_XSAVE = KVM_GET_XSAVE;
static const unsigned long CKVM_GET_XSAVE2 = KVM_GET_XSAVE2;
static const unsigned long CKVM_SET_XSAVE = KVM_SET_XSAVE;
static const unsigned long CKVM_GET_XCRS = KVM_GET_XCRS;
static const unsigned long CKVM_SET_XCRS = KVM_SET_XCRS;

/* ioctl(2) is variadic; Swift calls these fixed-arity forms instead. */
static inline int ckvm_ioctl_ptr(int fd, unsigned long request, void *arg) {
    return ioctl(fd, request, arg);
}

static inline int ckvm_ioctl_val(int fd, unsigned long request, unsigned long arg) {
    return ioctl(fd, request, arg);
}

static inline int ckvm_memfd_create(const char *name, unsigned int flags) {
    return (int)syscall(SYS_memfd_create, name, flags);
}

/* Pins the calling thread to one host CPU; returns 0 or an errno value. */
static inline int ckvm_pin_current_thread(int cpu) {
    unsigned long mask[16] = {0};
    if (cpu < 0 || cpu >= (int)(sizeof(mask) * 8)) return EINVAL;
    mask[cpu / 64] |= 1UL << (cpu % 64);
    return syscall(SYS_sched_setaffinity, 0, sizeof(mask), mask) == 0 ? 0 : errno;
}

/* kvm_run's exit payloads live in an anonymous union, which Swift imports as copies;
 * these give the vCPU loop pointers into the shared page instead. */
static inline struct kvm_run *ckvm_run(void *page) { return (struct kvm_run *)page; }
static inline typeof(((struct kvm_run *)0)->io) *ckvm_run_io(struct kvm_run *run) { return &run->io; }
static inline typeof(((struct kvm_run *)0)->mmio) *ckvm_run_mmio(struct kvm_run *run) { return &run->mmio; }
static inline typeof(((struct kvm_run *)0)->internal) *ckvm_run_internal(struct kvm_run *run) { return &run->internal; }
static inline typeof(((struct kvm_run *)0)->fail_entry) *ckvm_run_fail_entry(struct kvm_run *run) { return &run->fail_entry; }
static inline typeof(((struct kvm_run *)0)->system_event) *ckvm_run_system_event(struct kvm_run *run) { return &run->system_event; }
static inline typeof(((struct kvm_run *)0)->hw) *ckvm_run_hw(struct kvm_run *run) { return &run->hw; }
static inline typeof(((struct kvm_run *)0)->ex) *ckvm_run_ex(struct kvm_run *run) { return &run->ex; }
static inline typeof(((struct kvm_run *)0)->msr) *ckvm_run_msr(struct kvm_run *run) { return &run->msr; }

/* kvm_cpuid2 and kvm_msrs end in flexible arrays; these have the same layout with room reserved. */
#define CKVM_MAX_CPUID_ENTRIES 256
struct ckvm_cpuid {
    __u32 nent;
    __u32 padding;
    struct kvm_cpuid_entry2 entries[CKVM_MAX_CPUID_ENTRIES];
};

#define CKVM_MAX_MSR_ENTRIES 64
struct ckvm_msrs {
    __u32 nmsrs;
    __u32 pad;
    struct kvm_msr_entry entries[CKVM_MAX_MSR_ENTRIES];
};

/* kvm_irq_routing ends in a flexible array too. */
#define CKVM_MAX_ROUTES 64
struct ckvm_irq_routing {
    __u32 nr;
    __u32 flags;
    struct kvm_irq_routing_entry entries[CKVM_MAX_ROUTES];
};

#endif
