; bpf_skb_store_bytes may reallocate the packet: the old data pointer is stale.
; type: sched_cls
; expect: reject "invalid mem access 'scalar'"
r6 = r1
r7 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r7
r4 += 14
if r4 > r3 goto out
r1 = 0
*(u32 *)(r10 - 4) = r1
r1 = r6
r2 = 0
r3 = r10
r3 += -4
r4 = 4
r5 = 0
call bpf_skb_store_bytes
r0 = *(u8 *)(r7 + 0)
out:
r0 = 0
exit
