/* tests/firmware/rv32_startup.c — the least an RV32IMAFC hart needs to run
 * the firmware driver under qemu-system-riscv32 (-M virt -bios none): the
 * stack pointer, the FPU switched on (mstatus.FS), a trap vector that ends
 * the run, .bss cleared and the stack painted so the driver can report how
 * deep the model's entry point went (as startup.c does on Cortex-M).  The
 * object under test never sees any of this: it only needs its buffers. */
#include <stdint.h>

extern uint32_t __bss_start__, __bss_end__, __stack_limit, __stack_top;
int main(void);
void fw_exit(int code);
void rv_reset(void);

__asm__(".section .text.start, \"ax\"\n"
        ".globl _start\n"
        "_start:\n"
        "    la sp, __stack_top\n"
        "    li t0, 0x2000\n"          /* mstatus.FS = Initial: F instructions allowed */
        "    csrs mstatus, t0\n"
        "    fscsr x0\n"
        "    la t0, rv_trap\n"
        "    csrw mtvec, t0\n"
        "    call rv_reset\n"
        "1:  j 1b\n"
        ".balign 4\n"
        "rv_trap:\n"
        "    li a0, 99\n"
        "    call fw_exit\n"
        ".text\n");

void rv_reset(void)
{
    for (uint32_t *p = &__bss_start__; p < &__bss_end__; p++) *p = 0;
    uint32_t *sp;
    __asm volatile("mv %0, sp" : "=r"(sp));
    for (uint32_t *p = &__stack_limit; p < sp - 16; p++) *p = 0xDEADBEEFu; /* painted: see fw_stack_used */
    fw_exit(main());
}

/* Bytes of stack ever written below the painted limit's end. */
uint32_t fw_stack_used(void)
{
    uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == 0xDEADBEEFu) p++;
    return (uint32_t)((char *)&__stack_top - (char *)p);
}
