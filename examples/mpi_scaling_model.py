#!/usr/bin/env python3
"""Paper model of ann_mpi_fit throughput on N nodes (docs/SCALING.md).

  mpi_scaling_model.py R1_NARROW R1_WIDE [per_node_batch=256]

R1_* are measured single-node samples/s (examples/mpi_scaling, one rank) of
784-256-128-10 and of the 10x wider 784-2560-1280-10, float64.  Per step:
  compute = per_node_batch / R1            (the node's share of the batch)
  comm    = 2(N-1) * alpha + 2(N-1)/N * P * 8 bytes / bandwidth   (ring)
no overlap (ann_mpi_fit reduces after the backward pass).  Weak scaling:
the global batch is per_node_batch * N.
"""
import sys

NETS = {"784-256-128-10": 235146, "784-2560-1280-10": 5300490}
LINKS = {"10 Gbit/s": (10e9 / 8, 25e-6), "100 Gbit/s": (100e9 / 8, 2e-6)}


def main():
    r1 = dict(zip(NETS, map(float, sys.argv[1:3])))
    b = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    for net, p in NETS.items():
        print(f"\n{net}: P = {p} parameters, gradient {p * 8 / 1e6:.2f} MB (f64), "
              f"1 node {r1[net]:.0f} samples/s, per-node batch {b}")
        print("| nodes | link | comm/step (MB per node) | comm ms | compute ms "
              "| samples/s | speed-up | efficiency |")
        print("|---|---|---|---|---|---|---|---|")
        for link, (bw, alpha) in LINKS.items():
            for n in (8, 16, 32, 64):
                vol = 2 * (n - 1) / n * p * 8
                tc = 2 * (n - 1) * alpha + vol / bw
                tp = b / r1[net]
                thr = b * n / (tp + tc)
                print(f"| {n} | {link} | {vol / 1e6:.2f} | {tc * 1e3:.2f} | "
                      f"{tp * 1e3:.2f} | {thr:,.0f} | {thr / r1[net]:.1f} | "
                      f"{thr / (n * r1[net]) * 100:.0f}% |")


if __name__ == "__main__":
    main()
