/*
 * emulate: the instructions a Linux guest kernel meets that this kind of
 * host's KVM does not emulate at CPL 0, each checked for its architectural
 * result.  Hyve emulates them in user space; the program cannot tell.
 *
 * Vectors 3 (#BP), 6 (#UD) and 16 (#MF) get handlers of their own that
 * record the return RIP and, for the faults, step over the instruction by
 * the length the test gives; INT 0x80 goes through irq64's irq_handler.
 *
 * Every test prints "<name>: ok" or "<name>: FAIL <what>".  The last line
 * is "emulate: <passed>/<total> ok"; the exit code is 0x50 (status 161)
 * when all passed, 0x01 otherwise.  MOVBE is special: where KVM raises #UD
 * for it itself (no exit reaches the VMM), the test prints
 * "movbe: #UD from KVM" and counts as passed.
 */
#include "hyve-guest.h"

#define EXIT_OK 0x50

volatile uint64_t trap_rip[32];
volatile uint32_t trap_count[32];
volatile uint64_t fault_skip;
static volatile uint64_t irq_vector_seen;
static volatile uint32_t irq_count;
static unsigned passed, total;

/* Trap and fault entries: record the frame's RIP; faults step over fault_skip bytes. */
__asm__(
    ".text\n"
    "bp_entry:\n"
    "    push %rax\n"
    "    mov 8(%rsp), %rax\n"
    "    mov %rax, trap_rip+3*8(%rip)\n"
    "    incl trap_count+3*4(%rip)\n"
    "    pop %rax\n"
    "    iretq\n"
    "ud_entry:\n"
    "    push %rax\n"
    "    mov 8(%rsp), %rax\n"
    "    mov %rax, trap_rip+6*8(%rip)\n"
    "    incl trap_count+6*4(%rip)\n"
    "    mov fault_skip(%rip), %rax\n"
    "    add %rax, 8(%rsp)\n"
    "    pop %rax\n"
    "    iretq\n"
    "mf_entry:\n"
    "    push %rax\n"
    "    mov 8(%rsp), %rax\n"
    "    mov %rax, trap_rip+16*8(%rip)\n"
    "    incl trap_count+16*4(%rip)\n"
    "    mov fault_skip(%rip), %rax\n"
    "    add %rax, 8(%rsp)\n"
    "    pop %rax\n"
    "    iretq\n");

extern char bp_entry[], ud_entry[], mf_entry[];

void irq_handler(uint64_t vector)
{
    irq_vector_seen = vector;
    irq_count++;
}

static void set_gate(unsigned vector, void *entry)
{
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr;
    uint64_t offset = (uint64_t)entry;
    volatile uint32_t *gate;

    __asm__ volatile("sidt %0" : "=m"(idtr));
    gate = (volatile uint32_t *)(idtr.base + 16 * vector);
    gate[0] = (uint32_t)(offset & 0xFFFF) | (0x18u << 16);
    gate[1] = (uint32_t)(offset & 0xFFFF0000) | 0x8E00;
    gate[2] = (uint32_t)(offset >> 32);
    gate[3] = 0;
}

static void result(const char *name, int ok, const char *what, uint64_t got, uint64_t want)
{
    total++;
    puts(name);
    if (ok) {
        passed++;
        puts(": ok\n");
        return;
    }
    puts(": FAIL ");
    puts(what);
    puts(" got ");
    put_hex(got, 16);
    puts(" want ");
    put_hex(want, 16);
    putc('\n');
}

static uint64_t rflags(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; pop %0" : "=r"(f));
    return f;
}

#define RFLAGS_ZF (1u << 6)
#define RFLAGS_AC (1u << 18)

static void test_int3(void)
{
    uint64_t after;
    uint32_t before = trap_count[3];

    __asm__ volatile("lea 1f(%%rip), %0\n\tint3\n1:" : "=r"(after) : : "memory");
    if (trap_count[3] != before + 1)
        result("int3", 0, "#BP count", trap_count[3] - before, 1);
    else
        result("int3", trap_rip[3] == after, "return rip", trap_rip[3], after);
}

static void test_ud(const char *name, unsigned which)
{
    uint64_t at;
    uint32_t before = trap_count[6];

    fault_skip = which == 2 ? 2 : 3;
    if (which == 0)
        __asm__ volatile("lea 1f(%%rip), %0\n1:\t.byte 0x0f, 0xff, 0xc0" : "=r"(at) : : "memory");
    else if (which == 1)
        __asm__ volatile("lea 1f(%%rip), %0\n1:\t.byte 0x0f, 0xb9, 0xc0" : "=r"(at) : : "memory");
    else
        __asm__ volatile("lea 1f(%%rip), %0\n1:\tud2" : "=r"(at) : : "memory");
    if (trap_count[6] != before + 1)
        result(name, 0, "#UD count", trap_count[6] - before, 1);
    else
        result(name, trap_rip[6] == at, "fault rip", trap_rip[6], at);
}

static void test_int_n(void)
{
    uint32_t before = irq_count;

    __asm__ volatile("int $0x80" : : : "memory");
    if (irq_count != before + 1)
        result("int 0x80", 0, "handler runs", irq_count - before, 1);
    else
        result("int 0x80", irq_vector_seen == 0x80, "vector", irq_vector_seen, 0x80);
}

static void test_popcnt(void)
{
    uint64_t value = 0xF0F0F0F0F0F0F0F1ull, count, flags;
    uint32_t word = 0x80000001u, count32;

    __asm__ volatile("popcnt %2, %0\n\tpushfq\n\tpop %1" : "=r"(count), "=r"(flags) : "r"(value) : "cc");
    if (count != 33 || (flags & RFLAGS_ZF)) {
        result("popcnt", 0, "count of 0xf0f0f0f0f0f0f0f1", count, 33);
        return;
    }
    value = 0;
    __asm__ volatile("popcnt %2, %0\n\tpushfq\n\tpop %1" : "=r"(count), "=r"(flags) : "r"(value) : "cc");
    if (count != 0 || !(flags & RFLAGS_ZF)) {
        result("popcnt", 0, "ZF for 0", flags, RFLAGS_ZF);
        return;
    }
    __asm__ volatile("popcntl %1, %0" : "=r"(count32) : "m"(word) : "cc");
    result("popcnt", count32 == 2, "memory operand count", count32, 2);
}

static void test_cmpxchg16b(void)
{
    static volatile uint64_t pair[2] __attribute__((aligned(16))) = { 1, 2 };
    uint64_t lo = 1, hi = 2;
    uint8_t equal;

    __asm__ volatile("lock cmpxchg16b %1\n\tsetz %0"
                     : "=q"(equal), "+m"(*pair), "+a"(lo), "+d"(hi) : "b"(3ull), "c"(4ull) : "memory", "cc");
    if (!equal || pair[0] != 3 || pair[1] != 4) {
        result("cmpxchg16b", 0, "exchange when equal", pair[0], 3);
        return;
    }
    lo = 1;
    hi = 2;
    __asm__ volatile("lock cmpxchg16b %1\n\tsetz %0"
                     : "=q"(equal), "+m"(*pair), "+a"(lo), "+d"(hi) : "b"(5ull), "c"(6ull) : "memory", "cc");
    if (equal || lo != 3 || hi != 4 || pair[0] != 3)
        result("cmpxchg16b", 0, "load when different", lo, 3);
    else
        result("cmpxchg16b", 1, "", 0, 0);
}

static uint64_t xgetbv(uint32_t index)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(index));
    return ((uint64_t)hi << 32) | lo;
}

static void enable_xsave(void)
{
    uint64_t cr4;

    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    cr4 |= (1u << 9) | (1u << 10) | (1u << 18);    /* OSFXSR, OSXMMEXCPT, OSXSAVE */
    __asm__ volatile("mov %0, %%cr4" : : "r"(cr4) : "memory");
    __asm__ volatile("xsetbv" : : "a"(7), "d"(0), "c"(0) : "memory");
}

static void test_xgetbv(void)
{
    uint64_t xcr0 = xgetbv(0), in_use = xgetbv(1);

    if (xcr0 != 7)
        result("xgetbv", 0, "XCR0", xcr0, 7);
    else
        result("xgetbv", (in_use & ~xcr0) == 0, "XINUSE outside XCR0", in_use, xcr0);
}

static uint8_t area_a[4096] __attribute__((aligned(64)));
static uint8_t area_b[4096] __attribute__((aligned(64)));

static void fill(uint8_t *p, unsigned n, uint8_t v)
{
    while (n--)
        *p++ = v;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void store64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A legacy region: FCW 0x37F, MXCSR 0x1F80, XMM2 = pattern, the rest zero. */
static void legacy_area(uint8_t *area, uint64_t pattern)
{
    fill(area, 4096, 0);
    area[0] = 0x7F;
    area[1] = 0x03;
    store64(area + 24, 0x1F80);
    store64(area + 160 + 2 * 16, pattern);
    store64(area + 160 + 2 * 16 + 8, ~pattern);
}

static void test_fxsave(void)
{
    const uint64_t pattern = 0x0123456789ABCDEFull;

    legacy_area(area_a, pattern);
    fill(area_b, 512, 0xEE);
    __asm__ volatile("fxrstor64 %0" : : "m"(area_a) : "memory");
    __asm__ volatile("fxsave64 %0" : "=m"(area_b) : : "memory");
    if (load64(area_b + 192) != pattern || load64(area_b + 200) != ~pattern)
        result("fxsave/fxrstor", 0, "XMM2", load64(area_b + 192), pattern);
    else if ((load64(area_b + 24) & 0xFFFFFFFF) != 0x1F80)
        result("fxsave/fxrstor", 0, "MXCSR", load64(area_b + 24), 0x1F80);
    else
        result("fxsave/fxrstor", (load64(area_b) & 0xFFFF) == 0x37F, "FCW", load64(area_b), 0x37F);
}

static void test_xsave(void)
{
    const uint64_t pattern = 0xFEDCBA9876543210ull;

    legacy_area(area_a, pattern);
    store64(area_a + 512, 3);                        /* XSTATE_BV: x87, SSE */
    __asm__ volatile("xrstor64 %0" : : "m"(area_a), "a"(3), "d"(0) : "memory");
    fill(area_b, 4096, 0xEE);
    __asm__ volatile("xsave64 %0" : "=m"(area_b) : "a"(3), "d"(0) : "memory");
    if (load64(area_b + 192) != pattern) {
        result("xsave/xrstor", 0, "XMM2 after xrstor", load64(area_b + 192), pattern);
        return;
    }
    if ((load64(area_b + 512) & 2) == 0) {
        result("xsave/xrstor", 0, "XSTATE_BV.SSE", load64(area_b + 512), 3);
        return;
    }
    if (area_b[576] != 0xEE) {
        result("xsave/xrstor", 0, "bytes beyond RFBM's components written", area_b[576], 0xEE);
        return;
    }
    /* XSTATE_BV.SSE clear: xrstor puts SSE in its initial state. */
    store64(area_a + 512, 1);
    __asm__ volatile("xrstor64 %0" : : "m"(area_a), "a"(3), "d"(0) : "memory");
    fill(area_b, 4096, 0xEE);
    __asm__ volatile("xsaveopt64 %0" : "=m"(area_b) : "a"(3), "d"(0) : "memory");
    result("xsave/xrstor", load64(area_b + 192) == 0 || (load64(area_b + 512) & 2) == 0,
           "XMM2 after init", load64(area_b + 192), 0);
}

static void test_xsavec(void)
{
    const uint64_t pattern = 0x1122334455667788ull;

    legacy_area(area_a, pattern);
    store64(area_a + 512, 3);
    __asm__ volatile("xrstor64 %0" : : "m"(area_a), "a"(3), "d"(0) : "memory");
    fill(area_b, 4096, 0xEE);
    __asm__ volatile("xsavec64 %0" : "=m"(area_b) : "a"(3), "d"(0) : "memory");
    if (load64(area_b + 520) != (3ull | (1ull << 63))) {
        result("xsavec", 0, "XCOMP_BV", load64(area_b + 520), 3ull | (1ull << 63));
        return;
    }
    if (load64(area_b + 192) != pattern) {
        result("xsavec", 0, "XMM2", load64(area_b + 192), pattern);
        return;
    }
    /* A compacted image restores too. */
    store64(area_b + 192, ~pattern);
    __asm__ volatile("xrstor64 %0" : : "m"(area_b), "a"(3), "d"(0) : "memory");
    fill(area_a, 4096, 0);
    __asm__ volatile("xsave64 %0" : "=m"(area_a) : "a"(3), "d"(0) : "memory");
    result("xsavec", load64(area_a + 192) == ~pattern, "XMM2 after compacted xrstor", load64(area_a + 192), ~pattern);
}

static void test_clac_stac(void)
{
    uint64_t set, clear;

    __asm__ volatile("stac" : : : "cc");
    set = rflags();
    __asm__ volatile("clac" : : : "cc");
    clear = rflags();
    if (!(set & RFLAGS_AC))
        result("clac/stac", 0, "AC after stac", set, set | RFLAGS_AC);
    else
        result("clac/stac", !(clear & RFLAGS_AC), "AC after clac", clear, clear & ~RFLAGS_AC);
}

static void test_movbe(void)
{
    static volatile uint32_t word = 0x11223344u;
    static volatile uint64_t quad;
    uint32_t loaded = 0;
    uint32_t before = trap_count[6];

    fault_skip = 4;
    __asm__ volatile("movbe (%1), %0" : "=a"(loaded) : "S"(&word) : "memory");
    if (trap_count[6] != before) {
        total++;
        passed++;
        puts("movbe: #UD from KVM\n");
        return;
    }
    if (loaded != 0x44332211u) {
        result("movbe", 0, "load", loaded, 0x44332211u);
        return;
    }
    __asm__ volatile("movbe %1, (%0)" : : "D"(&quad), "a"(0x0102030405060708ull) : "memory");
    result("movbe", quad == 0x0807060504030201ull, "store", quad, 0x0807060504030201ull);
}

static void test_fwait(void)
{
    uint32_t before = trap_count[16];
    uint64_t at;

    __asm__ volatile("fwait" : : : "memory");
    if (trap_count[16] != before) {
        result("fwait", 0, "#MF without a pending exception", trap_count[16] - before, 0);
        return;
    }
    /* FSW with IE and ES set, IE unmasked in FCW: the next fwait raises #MF. */
    legacy_area(area_a, 0);
    area_a[0] = 0x7E;
    area_a[2] = 0x81;
    __asm__ volatile("fxrstor64 %0" : : "m"(area_a) : "memory");
    fault_skip = 1;
    __asm__ volatile("lea 1f(%%rip), %0\n1:\tfwait" : "=r"(at) : : "memory");
    legacy_area(area_a, 0);
    __asm__ volatile("fxrstor64 %0" : : "m"(area_a) : "memory");
    if (trap_count[16] != before + 1)
        result("fwait", 0, "#MF count with ES set", trap_count[16] - before, 1);
    else
        result("fwait", trap_rip[16] == at, "#MF rip", trap_rip[16], at);
}

/* Page directory of the first GiB (Hyve's long-mode tables: 2 MiB pages). */
#define PD ((volatile uint64_t *)0x4000)
#define REMAP_VA 0x1000000ull
#define PT_VA 0x1400000ull

static volatile uint64_t page_table[512] __attribute__((aligned(4096)));
static volatile uint64_t individual[2] __attribute__((aligned(16)));

static void test_invpcid(void)
{
    static const uint64_t descriptor[2] __attribute__((aligned(16)));
    volatile uint64_t *va = (volatile uint64_t *)REMAP_VA;
    volatile uint64_t *other = (volatile uint64_t *)(REMAP_VA + 0x200000);
    uint64_t seen;

    *va = 0xAAAA;
    *other = 0xBBBB;
    PD[REMAP_VA >> 21] = (REMAP_VA + 0x200000) | 0x83;
    __asm__ volatile("invpcid %0, %1" : : "m"(descriptor), "r"(2ull) : "memory");
    seen = *va;
    PD[REMAP_VA >> 21] = REMAP_VA | 0x83;
    __asm__ volatile("invpcid %0, %1" : : "m"(descriptor), "r"(2ull) : "memory");
    if (seen != 0xBBBB) {
        result("invpcid", 0, "remapped 2 MiB page after invpcid", seen, 0xBBBB);
        return;
    }
    if (*va != 0xAAAA) {
        result("invpcid", 0, "2 MiB page mapped back", *va, 0xAAAA);
        return;
    }
    /* The same with a 4 KiB page: its page table may be out of sync in a shadow MMU until a flush. */
    for (unsigned i = 0; i < 512; i++)
        page_table[i] = (PT_VA + 0x1000 * i) | 0x3;
    PD[PT_VA >> 21] = (uint64_t)page_table | 0x3;
    __asm__ volatile("invpcid %0, %1" : : "m"(descriptor), "r"(2ull) : "memory");
    *(volatile uint64_t *)PT_VA = 0xCCCC;
    *(volatile uint64_t *)(PT_VA + 0x1000) = 0xDDDD;
    seen = *(volatile uint64_t *)PT_VA;
    page_table[0] = (PT_VA + 0x1000) | 0x3;
    individual[1] = PT_VA;
    __asm__ volatile("invpcid %0, %1" : : "m"(individual), "r"(0ull) : "memory");
    seen = *(volatile uint64_t *)PT_VA;
    page_table[0] = PT_VA | 0x3;
    __asm__ volatile("invpcid %0, %1" : : "m"(individual), "r"(0ull) : "memory");
    if (seen != 0xDDDD)
        result("invpcid", 0, "remapped 4 KiB page after invpcid", seen, 0xDDDD);
    else
        result("invpcid", *(volatile uint64_t *)PT_VA == 0xCCCC, "4 KiB page mapped back",
               *(volatile uint64_t *)PT_VA, 0xCCCC);
}

static void test_cache_lines(void)
{
    static volatile uint64_t line[8] __attribute__((aligned(64)));

    line[0] = 42;
    __asm__ volatile("clwb %0" : "+m"(line[0]));
    __asm__ volatile("clflushopt %0" : "+m"(line[0]));
    __asm__ volatile("clflush %0" : "+m"(line[0]));
    __asm__ volatile("sfence" : : : "memory");
    result("clwb/clflushopt", line[0] == 42, "data", line[0], 42);
}

int main(unsigned long vcpu)
{
    if (vcpu != 0)
        halt_forever();
    idt_init();
    set_gate(3, bp_entry);
    set_gate(6, ud_entry);
    set_gate(16, mf_entry);

    test_int3();
    test_ud("ud0", 0);
    test_ud("ud1", 1);
    test_ud("ud2", 2);
    test_int_n();
    test_popcnt();
    test_cmpxchg16b();
    enable_xsave();
    test_xgetbv();
    test_fxsave();
    test_xsave();
    test_xsavec();
    test_clac_stac();
    test_movbe();
    test_fwait();
    test_invpcid();
    test_cache_lines();

    puts("emulate: ");
    put_dec(passed, 0);
    putc('/');
    put_dec(total, 0);
    puts(" ok\n");
    debug_exit(passed == total ? EXIT_OK : 0x01);
}
