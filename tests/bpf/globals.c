// Global data in every section kind, string literals, static and global sub-programs, and several
// programs in one section.  Programs are of type "syscall": r1 points at a caller-chosen buffer.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int counter = 40;                               /* .data */
const volatile int scale = 3;                   /* .rodata, settable by the host before load */
const volatile char greeting[8] = "hi";         /* .rodata */
int zeroed_total;                               /* .bss */
static int hidden_table[4] = {1, 2, 3, 4};      /* .data, static */
int custom_value SEC(".data.custom") = 1000;    /* a custom data section */
__u64 big_bss[8];                               /* .bss, larger */

static __attribute__((noinline)) int add_static(int a, int b) { return a + b + hidden_table[a & 3]; }
__attribute__((noinline)) int mul_global(int a, int b) { return a * b; }

static __attribute__((noinline)) int str_len(const char *s) {
    int n = 0;
    for (int i = 0; i < 16 && s[i]; i++)
        n++;
    return n;
}

SEC("syscall")
int data_sum(__u32 *in) {
    int v = counter + scale;             /* 43 */
    counter += 1;                        /* writable global */
    zeroed_total += v;
    big_bss[in[0] & 7] += 1;
    return add_static(v, custom_value);  /* 43 + 1000 + hidden_table[43 & 3] = 1047 */
}

SEC("syscall")
int strings(void *in) {
    const char *lit = "abcdefg";        /* .rodata.str1.1 */
    return str_len(lit) * 100 + str_len((const char *)greeting) + mul_global(scale, 2) * 1000;
}

SEC("syscall")
int read_input(__u32 *in) {
    return mul_global(in[0], in[1]) + add_static(1, 1);
}

char _license[] SEC("license") = "GPL";
