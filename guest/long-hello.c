/* long-hello: 64-bit guest in C; prints a line, exits with 0x23 (status 71). */
#include "hyve-guest.h"

int main(unsigned long vcpu)
{
    if (vcpu != 0)
        halt_forever();
    puts("hello from long mode\n");
    debug_exit(0x23);
}
