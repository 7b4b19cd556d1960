/* tests/firmware/startup.c — the least a Cortex-M needs to run the firmware
 * driver under qemu-system-arm: a vector table (initial stack, reset), the
 * FPU switched on, .bss cleared, the stack painted so the driver can report
 * how deep the model's entry point went.  The object under test never sees
 * any of this: it only needs its buffers. */
#include <stdint.h>

extern uint32_t __bss_start__, __bss_end__, __stack_limit, __stack_top;
int main(void);
void fw_exit(int code);

void Reset_Handler(void)
{
    volatile uint32_t *cpacr = (uint32_t *)0xE000ED88;
    *cpacr |= 0xFu << 20; /* CP10, CP11: full access (the FPU) */
    __asm volatile("dsb\n isb");
    for (uint32_t *p = &__bss_start__; p < &__bss_end__; p++) *p = 0;
    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &__stack_limit; p < sp - 16; p++) *p = 0xDEADBEEFu; /* painted: see fw_stack_used */
    fw_exit(main());
}

static void Default_Handler(void) { fw_exit(99); }

__attribute__((section(".vectors"), used)) const void *const vectors[16] = {
    &__stack_top, (void *)Reset_Handler, (void *)Default_Handler, (void *)Default_Handler,
    (void *)Default_Handler, (void *)Default_Handler, (void *)Default_Handler,
};

/* Bytes of stack ever written below the painted limit's end. */
uint32_t fw_stack_used(void)
{
    uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == 0xDEADBEEFu) p++;
    return (uint32_t)((char *)&__stack_top - (char *)p);
}
