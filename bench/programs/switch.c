/* A 64-way switch in a loop over an array (bpf-benchmark's switch): the bytecode encodes the
 * switch as a compare tree, native code uses a jump table.  Returns the accumulator's low bits.
 * Input: struct switch_in.  (The cases were generated once; each does a different operation so
 * that no compiler can turn the switch into a lookup table.) */
#include "shim.h"

#define SWITCH_MAX 4096

struct switch_in {
    u64 count;
    u64 values[SWITCH_MAX];
};

BENCH(big_switch)(struct switch_in *in) {
    u64 n = in->count, acc = 0;
    if (n > SWITCH_MAX)
        n = SWITCH_MAX;
    for (u64 i = 0; i < n; i++) {
        u64 v = in->values[i];
        switch (v & 63) {
        case 0:
            acc += v + 1;
            break;
        case 1:
            acc ^= v * 2136;
            break;
        case 2:
            acc = (acc << 3) | (acc >> 61);
            break;
        case 3:
            acc -= v >> 4;
            break;
        case 4:
            acc += v + 8541;
            break;
        case 5:
            acc ^= v * 703;
            break;
        case 6:
            acc = (acc << 7) | (acc >> 57);
            break;
        case 7:
            acc -= v >> 8;
            break;
        case 8:
            acc += v + 7108;
            break;
        case 9:
            acc ^= v * 9243;
            break;
        case 10:
            acc = (acc << 11) | (acc >> 53);
            break;
        case 11:
            acc -= v >> 12;
            break;
        case 12:
            acc += v + 5675;
            break;
        case 13:
            acc ^= v * 7810;
            break;
        case 14:
            acc = (acc << 2) | (acc >> 62);
            break;
        case 15:
            acc -= v >> 3;
            break;
        case 16:
            acc += v + 4242;
            break;
        case 17:
            acc ^= v * 6377;
            break;
        case 18:
            acc = (acc << 6) | (acc >> 58);
            break;
        case 19:
            acc -= v >> 7;
            break;
        case 20:
            acc += v + 2809;
            break;
        case 21:
            acc ^= v * 4944;
            break;
        case 22:
            acc = (acc << 10) | (acc >> 54);
            break;
        case 23:
            acc -= v >> 11;
            break;
        case 24:
            acc += v + 1376;
            break;
        case 25:
            acc ^= v * 3511;
            break;
        case 26:
            acc = (acc << 1) | (acc >> 63);
            break;
        case 27:
            acc -= v >> 2;
            break;
        case 28:
            acc += v + 9916;
            break;
        case 29:
            acc ^= v * 2078;
            break;
        case 30:
            acc = (acc << 5) | (acc >> 59);
            break;
        case 31:
            acc -= v >> 6;
            break;
        case 32:
            acc += v + 8483;
            break;
        case 33:
            acc ^= v * 645;
            break;
        case 34:
            acc = (acc << 9) | (acc >> 55);
            break;
        case 35:
            acc -= v >> 10;
            break;
        case 36:
            acc += v + 7050;
            break;
        case 37:
            acc ^= v * 9185;
            break;
        case 38:
            acc = (acc << 13) | (acc >> 51);
            break;
        case 39:
            acc -= v >> 1;
            break;
        case 40:
            acc += v + 5617;
            break;
        case 41:
            acc ^= v * 7752;
            break;
        case 42:
            acc = (acc << 4) | (acc >> 60);
            break;
        case 43:
            acc -= v >> 5;
            break;
        case 44:
            acc += v + 4184;
            break;
        case 45:
            acc ^= v * 6319;
            break;
        case 46:
            acc = (acc << 8) | (acc >> 56);
            break;
        case 47:
            acc -= v >> 9;
            break;
        case 48:
            acc += v + 2751;
            break;
        case 49:
            acc ^= v * 4886;
            break;
        case 50:
            acc = (acc << 12) | (acc >> 52);
            break;
        case 51:
            acc -= v >> 13;
            break;
        case 52:
            acc += v + 1318;
            break;
        case 53:
            acc ^= v * 3453;
            break;
        case 54:
            acc = (acc << 3) | (acc >> 61);
            break;
        case 55:
            acc -= v >> 4;
            break;
        case 56:
            acc += v + 9858;
            break;
        case 57:
            acc ^= v * 2020;
            break;
        case 58:
            acc = (acc << 7) | (acc >> 57);
            break;
        case 59:
            acc -= v >> 8;
            break;
        case 60:
            acc += v + 8425;
            break;
        case 61:
            acc ^= v * 587;
            break;
        case 62:
            acc = (acc << 11) | (acc >> 53);
            break;
        case 63:
            acc -= v >> 12;
            break;
        }
    }
    return (int)(acc ^ (acc >> 32));
}
