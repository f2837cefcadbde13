#!/usr/bin/python3
"""Turn bench/run.sh's results.jsonl into the table (stdout), RESULTS.md and
results.png.  Every number is a median over repeats with its spread
(min..max); a ratio is computed per repeat from measurements taken side by
side in that repeat, then summarised the same way.

    report.py RESULTS.jsonl OUTDIR"""
import collections, json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
outdir = sys.argv[2]
meta = {}
for r in rows:
    if r.get("work") in ("versions", "env"):
        meta.update(r)

# the n-th occurrence of a configuration belongs to repeat n
seen = collections.Counter()
for r in rows:
    key = tuple(sorted((k, str(v)) for k, v in r.items()
                       if k in ("impl", "work", "prec", "opt", "threads", "batch", "width",
                                "rows", "product", "layer", "M", "N", "K")))
    r["rep"] = seen[key]
    seen[key] += 1


def sel(**kw):
    return [r for r in rows if all(str(r.get(k)) == str(v) for k, v in kw.items())]


def by_rep(rs, f):
    return {r["rep"]: f(r) for r in rs}


def summ(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def fmt(s, nd=2, pct=False):
    if s is None:
        return "n/a"
    m, lo, hi = s
    if pct:
        return f"{100*m:.1f}% [{100*lo:.1f}..{100*hi:.1f}]"
    if abs(m) >= 1000:
        return f"{m:,.0f} [{lo:,.0f}..{hi:,.0f}]"
    return f"{m:.{nd}f} [{lo:.{nd}f}..{hi:.{nd}f}]"


def ratio(a, b):
    """per-repeat a/b for two {rep: value} maps"""
    return summ([a[k] / b[k] for k in a if k in b and b[k]])


def mom_fits(rs):
    """momentum fits that timed the momentum sequence next to them"""
    return [r for r in rs if r.get("mseq_epoch_s")]


def mom_ceiling(lib):
    """floor ÷ the momentum sequence, next to each momentum fit"""
    return summ([r["floor_epoch_s"] / r["mseq_epoch_s"] for r in mom_fits(lib)])


def epoch_rel(fits):
    """{rep: a fit's epoch ÷ its adjacent GEMM floor}"""
    return by_rep([r for r in fits if r.get("floor_epoch_s")],
                  lambda r: r["train_s"] / (r["floor_epoch_s"] * r["epochs"]))


def mom_least_cost(lib, sgd=None):
    """the momentum sequence ÷ SGD's, next to each momentum fit; with sgd
    (libann's SGD fits), the least momentum ÷ SGD epoch ratio at libann's
    SGD speed instead: 1 + (momentum sequence − SGD's) ÷ libann's SGD
    epoch, each against its adjacent floor, per repeat"""
    v = [r for r in mom_fits(lib) if r.get("mseq_sgd_s")]
    if sgd is None:
        return summ([r["mseq_epoch_s"] / r["mseq_sgd_s"] for r in v])
    s_rel = epoch_rel(sgd)
    # the median of paired (same round) differences where recorded
    diff = lambda r: r.get("mseq_diff_s", r["mseq_epoch_s"] - r["mseq_sgd_s"])
    return summ([1 + diff(r) / r["floor_epoch_s"] / s_rel[r["rep"]]
                 for r in v if r["rep"] in s_rel])


def out_of_reach(bound, need, what, upper=True):
    """a verdict when the bound's median misses the target: the bound is a
    ceiling (upper=True: the ratio cannot exceed it) or a least ratio.  A
    target is met on the median of the repeats, and a bound that holds in
    each repeat bounds the median too (the median of values each below
    their repeat's ceiling is below the ceilings' median), so the
    ceiling's median missing the target proves the target's median
    cannot meet it.  The spread is printed with it: a bound whose range
    straddles the target is out of reach in that run by a margin the
    machine's noise can reverse."""
    if bound is None:
        return None
    if upper and round(bound[0], 3) < need:
        return f"out of reach: {what} {fmt(bound, 3)} < {need}"
    if not upper and round(bound[0], 3) > need:
        return f"out of reach: {what} {fmt(bound, 3)} > {need}"
    return None


lines = []
P = lines.append
checks = []  # (target, measured, ok)
chart = []   # (label, median, lo, hi)

P(f"Machine: {meta.get('cpu','?')}, {meta.get('cores','?')} cores, OPENBLAS_CORETYPE="
  f"{meta.get('coretype','?')}; OpenBLAS {meta.get('openblas','?')}, FANN {meta.get('fann','?')}, "
  f"PyTorch {meta.get('pytorch','?')}, scikit-learn {meta.get('sklearn','?')}, "
  f"NumPy {meta.get('numpy','?')}, Python {meta.get('python','?')}; libann {meta.get('libann','?')}.")
P(f"Fashion-MNIST: {meta.get('rows','?')} training rows, {meta.get('epochs','?')} epochs per run, "
  f"{meta.get('reps','?')} interleaved repeats{' (QUICK MODE)' if meta.get('quick') else ''}. "
  "Cells: median [min..max] over repeats; ratios are per-repeat ratios of side-by-side runs.")
P("")

# ---- Fashion-MNIST ------------------------------------------------------
P("## Fashion-MNIST 784-256-128-10, batch 128")
P("")
P("Two floors: **adjacent** is the GEMM floor `bench_ann` measures in its own process right "
  "before and after each epoch (each epoch against the mean of the two; "
  "bench_floor.h), **roofline run** is `bench_roofline`'s, measured minutes away in the same "
  "repeat.  The machine's speed drifts by up to 2× over minutes, so the targets are checked "
  "against the adjacent floor; both are shown.")
P("")
P("| prec | thr | optimizer | impl | train samples/s | test acc | GEMM share | libann ÷ impl (train) | ÷ adjacent floor | ÷ floor (roofline run) |")
P("|---|---|---|---|---|---|---|---|---|---|")
fm = sel(work="fmnist")
configs = sorted({(r["prec"], r["threads"], r["opt"]) for r in fm if r["impl"] == "libann"},
                 key=lambda c: (c[0], c[1], ["sgd", "momentum", "adam"].index(c[2])))
floors = {}
for r in sel(work="roofline"):
    floors.setdefault((r["prec"], r["threads"]), []).append(r)
for prec, thr, opt in configs:
    lib = sel(work="fmnist", impl="libann", prec=prec, threads=thr, opt=opt)
    lib_sps = by_rep(lib, lambda r: r["train_sps"])
    fl = floors.get((prec, thr), [])
    fl_sps = by_rep(fl, lambda r: r["rows"] / r["epoch_s"])
    rf_run = ratio(lib_sps, fl_sps)
    # adjacent: floor_epoch_s × epochs ÷ train_s, within one record
    rf = summ([r["floor_epoch_s"] * r["epochs"] / r["train_s"] for r in lib if r.get("floor_epoch_s")])
    if rf is None:  # results from before bench_ann measured its own floor
        rf = rf_run
    P(f"| {prec} | {thr} | {opt} | **libann** | {fmt(summ(lib_sps.values()))} | "
      f"{fmt(summ([r['acc'] for r in lib]), 4)} | {fmt(summ([r['train_gemm_frac'] for r in lib]), pct=True)} | "
      f"1 | {fmt(rf)} | {fmt(rf_run)} |")
    chart.append((f"train {prec} {thr}t {opt} ÷ floor", rf))
    if opt in ("sgd", "momentum"):
        need = 0.9 if thr == "1" else 0.85
        ceil = mom_ceiling(lib) if opt == "momentum" else None
        # against the floor with each product in its faster order (the
        # roofline run's factor, same repeat): where libann uses the other
        # order for layer 0, what its ratio would be without that gain
        orf = by_rep([r for r in fl if r.get("epoch_orient_s")],
                     lambda r: r["epoch_orient_s"] / r["epoch_s"])
        ro = summ([r["floor_epoch_s"] * r["epochs"] / r["train_s"] * orf[r["rep"]]
                   for r in lib if r.get("floor_epoch_s") and r["rep"] in orf])
        checks.append((f"train {prec} {thr} thread(s) {opt} ≥ {need} × GEMM floor (no layer-0 input grad; adjacent floor)"
                       + (f"; against the floor with each product in its faster order: {fmt(ro)}" if ro else "")
                       + (f"; ceiling, floor ÷ momentum sequence: {fmt(ceil)}" if ceil else ""),
                       fmt(rf), rf is not None and rf[0] >= need,
                       out_of_reach(ceil, need, "ceiling")))
    for impl in ("pytorch", "sklearn"):
        pr = sel(work="fmnist", impl=impl, prec=prec, threads=thr, opt=opt)
        if not pr:
            continue
        p_sps = by_rep(pr, lambda r: r["train_sps"])
        rp = ratio(lib_sps, p_sps)
        P(f"| | | | {impl} | {fmt(summ(p_sps.values()))} | {fmt(summ([r['acc'] for r in pr]), 4)} | | "
          f"{fmt(rp)} | | |")
        chart.append((f"train {prec} {thr}t {opt} ÷ {impl}", rp))
fa = sel(work="fmnist", impl="fann")
if fa:
    P(f"| f32 | 1 | per-sample SGD | FANN (tanh/sigmoid) | {fmt(summ([r['train_sps'] for r in fa]))} | "
      f"{fmt(summ([r['acc'] for r in fa]), 4)} | | | | |")
P("")

# ---- accuracy over seeds -----------------------------------------------------
# Repeat r ran seed r; run.sh's extra seeds (work fmnist-acc) add accuracy-only
# runs.  Peers are compared with libann initialised the same way: PyTorch's
# nn.Linear default is U(±1/sqrt(fan_in)) for weights and biases, libann's
# default (ANN_INIT_SMALL_UNIFORM); scikit-learn's is Glorot's uniform,
# libann's ANN_INIT_XAVIER ("libann-xavier").
acc_rows = [r for r in rows if r.get("work") in ("fmnist", "fmnist-acc") and str(r.get("threads")) == "1"]
acc_cfg = sorted({(r["prec"], r["opt"]) for r in acc_rows if r["impl"] == "libann-xavier"},
                 key=lambda c: (c[0], ["sgd", "momentum", "adam"].index(c[1])))
if acc_cfg:
    P("### Test accuracy over seeds (1 thread; seed s = the same seed for every implementation)")
    P("")
    P("| prec | optimizer | libann (PyTorch's init) | pytorch | libann-xavier (Glorot, as scikit-learn) | sklearn | seeds |")
    P("|---|---|---|---|---|---|---|")

    def accs(impl, prec, opt):
        return [r["acc"] for r in acc_rows if r["impl"] == impl and r["prec"] == prec and r["opt"] == opt]
    for prec, opt in acc_cfg:
        a = {i: accs(i, prec, opt) for i in ("libann", "pytorch", "libann-xavier", "sklearn")}
        P(f"| {prec} | {opt} | " + " | ".join(fmt(summ(a[i]), 4) for i in
                                              ("libann", "pytorch", "libann-xavier", "sklearn"))
          + f" | {min(len(v) for v in a.values())} |")
        for lib_i, peer in (("libann", "pytorch"), ("libann-xavier", "sklearn")):
            if a[lib_i] and a[peer]:
                d = 100 * (statistics.median(a[lib_i]) - statistics.median(a[peer]))
                checks.append((f"accuracy {prec} 1t {opt}: median over seeds, {lib_i} − {peer} ≥ −0.5 points "
                               "(same initialisation)", f"{d:+.2f} points", d >= -0.5))
    P("")
    P("Single-seed accuracies move by about 2 points between seeds for every implementation "
      "(2 epochs), so the comparison is between medians over seeds.")
    P("")

# optimizer overhead
P("### Optimizer cost (per-epoch time ÷ plain SGD's, same repeat)")
P("")
P("The floor columns come from `bench_roofline`: the GEMM floor of an epoch plus one "
  "update pass per step over the 235,146 parameters, timed alone (momentum, and Adam with "
  "its correctly rounded square root and division per parameter; one thread, cache-warm "
  "gradient).  Plain SGD needs no pass: its step is the weight-gradient GEMM itself "
  "(W ← W − lr·Dᵀ·A, libann's fused step), so (floor + optimizer pass) ÷ floor is the least "
  "ratio an implementation whose GEMMs run at the floor and whose momentum or Adam update is "
  "one exact single-threaded pass can reach; above 1.05 the target is out of reach that way.  "
  "The last column is what one such pass costs an epoch (SGD's own pass, for comparison: "
  "`upd_sgd_s` in the raw results).  *carried*: the same with the pass of libann's "
  "one-thread momentum instead (w ← w − lr·v, v ← mu·v on a velocity the GEMM has just "
  "accumulated onto: 4 streams, no gradient; `upd_momentum_carried_s`), what libann's "
  "bit-exact momentum step adds to SGD's GEMMs, timed the same way.")
P("")
P("Drift-corrected: each run's epoch time divided by its own adjacent GEMM floor, then "
  "optimizer ÷ SGD (the two runs are minutes apart; this takes the machine's speed at the "
  "time of each out).  The check uses the drift-corrected ratio.")
P("")
P("| prec | threads | momentum ÷ SGD | Adam ÷ SGD | drift-corrected momentum ÷ SGD | drift-corrected Adam ÷ SGD | floor: momentum ÷ SGD | floor: Adam ÷ SGD | floor: carried momentum ÷ SGD | Adam pass ms/epoch |")
P("|---|---|---|---|---|---|---|---|---|---|")
for prec, thr in sorted({(c[0], c[1]) for c in configs}):
    sgd_r = sel(work="fmnist", impl="libann", prec=prec, threads=thr, opt="sgd")
    sgd = by_rep(sgd_r, lambda r: r["train_s"])
    sgd_n = epoch_rel(sgd_r)
    cells, corr_cells, floor_cells = [], [], []
    fl = [r for r in floors.get((prec, thr), []) if "min_adam_ratio" in r]
    for opt in ("momentum", "adam"):
        o_r = sel(work="fmnist", impl="libann", prec=prec, threads=thr, opt=opt)
        o = by_rep(o_r, lambda r: r["train_s"])
        o_n = epoch_rel(o_r)
        rr = ratio(o, sgd)
        rc = ratio(o_n, sgd_n) if o_n and sgd_n else None
        cells.append(fmt(rr, 3))
        corr_cells.append(fmt(rc, 3))
        lo = fmt(summ([r[f"min_{opt}_ratio"] for r in fl]), 3)
        floor_cells.append(lo)
        chk = rc if rc is not None else rr
        if opt == "momentum":
            # libann's carried pass beats the one-pass update: only the
            # momentum sequence bounds it
            least = mom_least_cost(o_r, sgd_r)
            why = out_of_reach(least, 1.05, "least at libann's SGD speed", upper=False)
        else:
            # the exact pass alone on top of libann's SGD epoch (same
            # repeat), at 2 threads split perfectly over both
            half = 0.5 if thr == "2" else 1.0
            least = None
            why = out_of_reach(summ([1 + (r["min_adam_ratio"] - 1) * half / sgd_n[r["rep"]]
                                     for r in fl if r["rep"] in sgd_n]), 1.05,
                               "least at libann's SGD speed with the pass alone"
                               + (", split over both threads" if half < 1 else ""), upper=False)
        checks.append((f"{opt} epoch ≤ 1.05 × SGD epoch ({prec}, {thr}t, drift-corrected; least possible "
                       f"with an exact one-pass update {lo}"
                       + (f"; least at libann's SGD speed, from the momentum sequence, {fmt(least, 3)}"
                          if least else "") + ")",
                       f"{fmt(chk, 3)} (raw {fmt(rr, 3)})", chk is not None and chk[0] <= 1.05, why))
    cells += corr_cells + floor_cells
    carried = [r for r in fl if "upd_momentum_carried_s" in r]
    cells.append(fmt(summ([(r["epoch_s"] + r["upd_momentum_carried_s"]) / r["epoch_s"]
                           for r in carried]), 3))
    cells.append(fmt(summ([1e3 * r["upd_adam_s"] for r in fl]), 1))
    P("| " + " | ".join([prec, thr] + cells) + " |")
P("")

# 1 vs 2 threads
for prec in sorted({c[0] for c in configs}):
    for opt in ("sgd", "momentum", "adam"):
        one = by_rep(sel(work="fmnist", impl="libann", prec=prec, threads="1", opt=opt), lambda r: r["train_sps"])
        two = by_rep(sel(work="fmnist", impl="libann", prec=prec, threads="2", opt=opt), lambda r: r["train_sps"])
        if one and two:
            rr = ratio(two, one)
            checks.append((f"2 threads never slower than 1 ({prec} {opt}): 2t ÷ 1t ≥ 1", fmt(rr),
                           rr is not None and rr[0] >= 1.0))

# inference
P_after = []
P("## Fashion-MNIST inference")
P("")
P("| prec | thr | impl | samples/s at batch 1024 | GEMM share | ÷ adjacent floor | ÷ floor on the same rows | ÷ floor (roofline run) | libann ÷ impl | batch-1 latency µs | impl latency ÷ libann's |")
P("|---|---|---|---|---|---|---|---|---|---|---|")
for prec, thr in sorted({(c[0], c[1]) for c in configs}):
    lib = sel(work="fmnist", impl="libann", prec=prec, threads=thr)
    li = by_rep(lib, lambda r: r["infer_sps"])  # 3 optimizers per repeat: use all
    li_all = [r["infer_sps"] for r in lib]
    ll = [r["lat1_us"] for r in lib]
    fl = floors.get((prec, thr), [])
    fsps = by_rep(fl, lambda r: 1000.0 / r["infer_1000_s"])
    rf_run = ratio(li, fsps)
    # adjacent: every libann record (3 optimizers per repeat) against its own floor
    rf = summ([r["infer_sps"] / r["floor_infer_sps"] for r in lib if r.get("floor_infer_sps")])
    if rf is None:
        rf = rf_run
    # the same products over the test set's own rows (bench_floor.h:
    # floor_infer_stream_1000), measured next to each run like rf
    rs = summ([r["infer_sps"] / r["floor_infer_stream_sps"] for r in lib if r.get("floor_infer_stream_sps")])
    P(f"| {prec} | {thr} | **libann** | {fmt(summ(li_all))} | "
      f"{fmt(summ([r['infer_gemm_frac'] for r in lib]), pct=True)} | {fmt(rf)} | {fmt(rs)} | {fmt(rf_run)} | 1 | {fmt(summ(ll), 1)} | 1 |")
    chart.append((f"infer {prec} {thr}t ÷ floor", rf))
    ew = [r for r in lib if r.get("floor_infer_ew_sps")]
    # in-cache floor ÷ the products with bias and ReLU over the same rows;
    # at 2 threads also with the ReLU passes split perfectly over both
    # paired (floor_infer_ceiling: each ew pass next to an in-cache
    # measurement) where recorded, else the two measured apart
    if all(r.get("infer_ceiling") for r in ew):
        ceil = summ([r["infer_ceiling"] for r in ew])
        ceil2 = summ([r["infer_ceiling_split"] for r in ew]) if thr == "2" else None
    else:
        ceil = summ([r["floor_infer_ew_sps"] / r["floor_infer_sps"] for r in ew])
        ceil2 = summ([r["floor_infer_ew_sps"] / r["floor_infer_sps"] / (1 - r["infer_ew_relu_frac"] / 2)
                      for r in ew]) if thr == "2" else None
    bound = ceil2 or ceil
    checks.append((f"inference {prec} {thr}t batch 1024 ≥ 0.95 × GEMM floor (adjacent)", fmt(rf),
                   rf is not None and rf[0] >= 0.95, out_of_reach(bound, 0.95, "ceiling with bias and ReLU")))
    if rs is not None:
        sf = summ([r["floor_infer_stream_sps"] / r["floor_infer_sps"] for r in lib if r.get("floor_infer_stream_sps")])
        P_after.append(f"- {prec} {thr}t: OpenBLAS alone on the test set's rows runs at {fmt(sf)} of its in-cache floor; "
                       f"libann ÷ that floor {fmt(rs)}.")
        checks.append((f"inference {prec} {thr}t batch 1024 ≥ 0.95 × GEMM floor on the same rows (adjacent; this benchmark's own check, against OpenBLAS reading the rows as a prediction must; the issue's target is the row above)", fmt(rs), rs[0] >= 0.95))
    if ceil is not None:
        P_after.append(f"- {prec} {thr}t: with bias rows and ReLU on the calling thread, {fmt(ceil)} of the "
                       f"in-cache floor (ReLU {fmt(summ([r['infer_ew_relu_frac'] for r in ew]), pct=True)} "
                       "of that time)" + (f"; with the ReLU passes split perfectly over both threads "
                                          f"{fmt(ceil2)}" if ceil2 else "") +
                       f"; libann ÷ it {fmt(summ([r['infer_sps'] / r['floor_infer_ew_sps'] for r in ew]))}.")
    peers = [("pytorch", sel(work="fmnist", impl="pytorch", prec=prec, threads=thr)),
             ("sklearn", sel(work="fmnist", impl="sklearn", prec=prec, threads=thr))]
    if prec == "f32" and thr == "1":
        peers.append(("fann", sel(work="fmnist", impl="fann")))
    lmed = summ(ll)
    for impl, pr in peers:
        if not pr:
            continue
        rp = ratio(li, by_rep(pr, lambda r: r["infer_sps"]))
        rl = ratio(by_rep(pr, lambda r: r["lat1_us"]), by_rep(lib, lambda r: r["lat1_us"]))
        P(f"| | | {impl} | {fmt(summ([r['infer_sps'] for r in pr]))} | | | | {fmt(rp)} | "
          f"{fmt(summ([r['lat1_us'] for r in pr]), 1)} | {fmt(rl)} |")
        if impl in ("pytorch", "fann"):
            checks.append((f"one-row predict (Fashion-MNIST net, {prec} {thr}t) faster than {impl}", fmt(rl),
                           rl is not None and rl[0] > 1.0))
P("")
if P_after:
    P("The adjacent floor times each forward product on one 1024-row slice that stays in cache; "
      "a prediction over the test set reads every slice afresh, as any implementation must. "
      "The floor on the same rows runs OpenBLAS's three products over the same slices in the same order"
      + (":" if not any(r.get("floor_infer_ew_sps") for r in fm) else ". "
      "*With bias rows and ReLU*: the same products, each starting from its layer's bias rows (beta 1), "
      "and a ReLU pass over each hidden output on the calling thread, the least element-wise work "
      "of the net (no softmax, no check); in-cache floor ÷ it is the ceiling for the target, "
      "each pass paired with an in-cache measurement seconds apart (`floor_infer_ceiling`; "
      "at 2 threads also with the ReLU passes split perfectly over both threads, which the "
      "verdict uses):"))
    P("")
    for line in P_after:
        P(line)
    P("")

# memory
mem = [r for r in fm if r["impl"] == "libann" and "fit_extra_mib" in r]
if mem:
    P("Peak memory of `ann_fit` beyond the caller's data (VmHWM after the fit − VmRSS before; "
      f"data = {mem[0]['train_data_mib']:.0f} MiB): " + fmt(summ([r['fit_extra_mib'] for r in mem]), 1) + " MiB.")
    P("")
    mx = max(r["fit_extra_mib"] for r in mem)
    checks.append(("peak memory of ann_fit ≤ data + 64 MiB", f"+{mx:.1f} MiB (worst run)", mx <= 64))

# roofline
P("## GEMM floor (OpenBLAS alone at libann's shapes)")
P("")
orient = all(r.get("epoch_orient_s") for fl in floors.values() for r in fl)
P("| prec | thr | epoch, all products s | epoch, no layer-0 input grad s | best per-product threads s | "
  + ("each product in its faster order s | that ÷ the floor | " if orient else "")
  + "samples/s | 1000 predictions ms |")
P("|---|---|---|---|---|" + ("---|---|" if orient else "") + "---|---|")
for (prec, thr), fl in sorted(floors.items()):
    P(f"| {prec} | {thr} | {fmt(summ([r['epoch_all_s'] for r in fl]), 3)} | {fmt(summ([r['epoch_s'] for r in fl]), 3)} | "
      f"{fmt(summ([r['epoch_best_s'] for r in fl]), 3)} | "
      + (f"{fmt(summ([r['epoch_orient_s'] for r in fl]), 3)} | "
         f"{fmt(summ([r['epoch_orient_s'] / r['epoch_s'] for r in fl]), 3)} | " if orient else "")
      + f"{fmt(summ([r['rows']/r['epoch_s'] for r in fl]))} | "
      f"{fmt(summ([1000*r['infer_1000_s'] for r in fl]), 3)} |")
P("")
if orient:
    P("The floor times each product as a step writes it (Z = X·Wᵀ, dW = Dᵀ·A, P = D·W, row-major), "
      "which is the floor the targets use. OpenBLAS can also compute each one as its transpose "
      "(Zᵀ = W·Xᵀ and so on: the same sums, with the other operand packed first), and for some "
      "shapes that is faster; *each product in its faster order* is the floor with every product "
      "free to take the faster of the two (a lower bound: not every combination is a consistent "
      "layout). libann computes layer 0 in feature-major order (Z0ᵀ = W0·Xᵀ, its activations and "
      "deltas u0 × B) in float32 on one thread with OpenBLAS's SkylakeX kernels, where that was "
      "faster in place (lib/engine_tmpl.h `t0_use`), so there its ratio to the floor includes "
      "that gain; libann ÷ this lower floor is in the Targets notes. The step and momentum "
      "sequences below take the same order wherever libann does (`seq_t0` in the records).")
    P("")
seqr = [r for r in rows if r.get("work") == "roofline" and r.get("seq_epoch_s")]
if seqr:
    P("### The step sequence: the floor's products in a step's order, with the gather")
    P("")
    P("The floor above times each product alone, hot in cache. A step must also copy its "
      "shuffled rows out of the data (GEMM takes no row index) and meets each operand where the "
      "product before left it. The **sequence** is an epoch of exactly that and nothing else: "
      "the gather (a memcpy per row, prefetching 8 rows ahead) and SGD's products in libann's "
      "order and betas, with no bias, activation, loss, derivative or check (bench_floor.h "
      "`floor_seq_epoch`). So floor ÷ sequence is the highest floor ratio an implementation "
      "built on these products can reach, and libann ÷ sequence is what libann's own work costs. "
      "At 2 threads the sequence gathers on the calling thread (libann splits the gather with its "
      "helper), so there the ceiling is an estimate, not a bound. *roofline run*: measured in "
      "`bench_roofline` (synthetic rows); *next to the fit*: in `bench_ann` on the real rows, "
      "before and after each SGD fit (the floor there is the adjacent one).")
    P("")
    P("| prec | thr | sequence s (roofline run) | its gather s | floor ÷ sequence (roofline run) | "
      "sequence s (next to the fit) | floor ÷ sequence (next to the fit) | libann SGD ÷ sequence (next to the fit) |")
    P("|---|---|---|---|---|---|---|---|")
    def seq_fits(prec, thr):
        """libann's SGD fits that timed the step sequence next to them"""
        return [r for r in sel(work="fmnist", impl="libann", prec=prec, opt="sgd", threads=thr)
                if r.get("seq_epoch_s")]

    for (prec, thr), fl in sorted(floors.items()):
        fs = [r for r in fl if r.get("seq_epoch_s")]
        lib = seq_fits(prec, thr)
        P(f"| {prec} | {thr} | {fmt(summ([r['seq_epoch_s'] for r in fs]), 3)} | "
          f"{fmt(summ([r['seq_gather_s'] for r in fs]), 3)} | {fmt(summ([r['seq_ceiling'] for r in fs]))} | "
          f"{fmt(summ([r['seq_epoch_s'] for r in lib]), 3)} | "
          f"{fmt(summ([r['floor_epoch_s'] / r['seq_epoch_s'] for r in lib]))} | "
          f"{fmt(summ([r['seq_epoch_s'] * r['epochs'] / r['train_s'] for r in lib]))} |")
    P("")
    P("Where libann's SGD epoch goes, against the adjacent floor (bench_ann's GEMM interposer "
      "times every product the fit makes): the fit's products ÷ the floor (1 = as fast as each "
      "product alone, hot in cache), its time outside GEMM (the gather, bias, activations, "
      "softmax, loss, derivatives, checks; the first epoch also pays the fit's setup) next to the "
      "sequence's gather, and that time ÷ the floor. floor ÷ epoch = 1 / (products ÷ floor + "
      "outside ÷ floor). *THP*: MiB of the process in transparent huge pages before the fit "
      "(the training rows are 180 MiB in float32, 359 in float64; a gather from 4 KiB pages "
      "misses the TLB on most rows).")
    P("")
    P("| prec | thr | products ÷ floor | outside GEMM s/epoch | the sequence's gather s | "
      "outside GEMM ÷ floor | floor ÷ epoch | THP MiB |")
    P("|---|---|---|---|---|---|---|---|")
    for prec, thr in sorted(floors):
        lib = seq_fits(prec, thr)
        ep = lambda r: r["train_s"] / r["epochs"]
        P(f"| {prec} | {thr} | "
          f"{fmt(summ([ep(r) * r['train_gemm_frac'] / r['floor_epoch_s'] for r in lib]))} | "
          f"{fmt(summ([ep(r) * (1 - r['train_gemm_frac']) for r in lib]), 3)} | "
          f"{fmt(summ([r['seq_gather_s'] for r in lib]), 3)} | "
          f"{fmt(summ([ep(r) * (1 - r['train_gemm_frac']) / r['floor_epoch_s'] for r in lib]))} | "
          f"{fmt(summ([r['floor_epoch_s'] / ep(r) for r in lib]))} | "
          f"{fmt(summ([r.get('thp_mib') for r in lib]), 0)} |")
    P("")
mseq = mom_fits(sel(work="fmnist", impl="libann", opt="momentum"))
if mseq:
    P("### Momentum's exact step on OpenBLAS: the momentum sequence")
    P("")
    P("Heavy-ball momentum (v ← mu·v + g, w ← w − lr·v, rounded as written) changes v and w at "
      "every step, and a GEMM writes only one of them, so an exact step on OpenBLAS's products "
      "is the weight-gradient GEMM onto v plus at least one pass over w. The **momentum "
      "sequence** is the step sequence above with the weight step made one of three such ways, "
      "timed in the same place of the step, on the fit's rows, before and after each momentum "
      "fit, next to SGD's sequence: *carried* (GEMM onto v with beta 1, then w −= lr·v, v ← mu·v "
      "in one pass: libann's way on one thread), *beta* (GEMM with beta mu, OpenBLAS's own "
      "scaling pass, then w −= lr·v) and *axpy* (the same with the step as OpenBLAS's ?axpy, on "
      "its threads: libann's way at 2 threads). At 2 threads each sequence's gather and one-thread "
      "pass count half (split perfectly with a helper thread, which costs nothing here: the least "
      "an implementation with one can take). Both sequences here also do the least element-wise "
      "work of this net on the calling thread: bias rows, ReLU, the output delta (z − y)/B, the "
      "ReLU mask on the hidden deltas, the bias gradients and steps; still no softmax, loss or "
      "check. The table gives the fastest way per run (by the median "
      "of its epochs: 3 rounds before the fit and 3 after, each round one epoch of every way and "
      "of SGD's). floor ÷ momentum sequence is the highest floor ratio such an "
      "implementation can reach. The "
      "sequences' difference (median over rounds of the way's epoch − SGD's in the same round) is "
      "what momentum's exact step adds to SGD's fused one in place; "
      "added to libann's SGD epoch (same repeat, against its own adjacent floor) it gives the "
      "least momentum ÷ SGD ratio at libann's SGD speed.")
    P("")
    P("| prec | thr | fastest way (runs) | SGD sequence s | momentum sequence s | floor ÷ momentum sequence (target 0.9 / 0.85) | "
      "momentum sequence ÷ SGD's | least momentum ÷ SGD at libann's SGD speed (target ≤ 1.05) | libann momentum ÷ momentum sequence |")
    P("|---|---|---|---|---|---|---|---|---|")
    for prec, thr in sorted({(r["prec"], r["threads"]) for r in mseq}):
        v = [r for r in mseq if r["prec"] == prec and r["threads"] == thr]
        ways = collections.Counter(r.get("mseq_way", "?") for r in v)
        P(f"| {prec} | {thr} | {', '.join(f'{w} ({n})' for w, n in ways.most_common())} | "
          f"{fmt(summ([r['mseq_sgd_s'] for r in v]), 3)} | {fmt(summ([r['mseq_epoch_s'] for r in v]), 3)} | "
          f"{fmt(mom_ceiling(v))} | {fmt(mom_least_cost(v), 3)} | "
          f"{fmt(mom_least_cost(v, sel(work='fmnist', impl='libann', opt='sgd', prec=prec, threads=thr)), 3)} | "
          f"{fmt(summ([r['mseq_epoch_s'] * r['epochs'] / r['train_s'] for r in v]))} |")
    P("")
shp = [r for r in rows if r.get("work") == "roofline-shape" and str(r["threads"]) == "2" and r["M"] * r["N"] > 0]
if shp:
    P("Per product at 2 threads (µs, median; ‘1t’ is the same product on 1 thread):")
    P("")
    P("| prec | layer | product | M×N×K | 2 threads | 1 thread |")
    P("|---|---|---|---|---|---|")
    g = collections.defaultdict(list)
    for r in shp:
        g[(r["prec"], r["layer"], r["product"], r["M"], r["N"], r["K"])].append(r)
    for k, v in sorted(g.items()):
        P(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]}×{k[4]}×{k[5]} | {statistics.median(x['us'] for x in v):.1f} | "
          f"{statistics.median(x['us_1thread'] for x in v):.1f} |")
    P("")

# tiny
P("## Tiny regression 4-8(tanh)-1, 20000 rows")
P("")
P("| prec | batch | impl | train samples/s | test MSE | one-row predict ns | libann ÷ impl (train) | impl ns ÷ libann ns |")
P("|---|---|---|---|---|---|---|---|")
ti = sel(work="tiny")
for prec in sorted({r["prec"] for r in ti if r["impl"] == "libann"}):
    for bs in (1, 32):
        lib = sel(work="tiny", impl="libann", prec=prec, batch=bs)
        if not lib:
            continue
        ls = by_rep(lib, lambda r: r["train_sps"])
        ln = by_rep(lib, lambda r: r["lat1_ns"])
        P(f"| {prec} | {bs} | **libann** | {fmt(summ(ls.values()))} | {fmt(summ([r['mse'] for r in lib]), 4)} | "
          f"{fmt(summ(ln.values()), 0)} | 1 | 1 |")
        for impl in ("fann", "pytorch", "sklearn"):
            pr = sel(work="tiny", impl=impl, prec=prec, batch=bs)
            if not pr:
                continue
            rs = ratio(ls, by_rep(pr, lambda r: r["train_sps"]))
            rl = ratio(by_rep(pr, lambda r: r["lat1_ns"]), ln)
            P(f"| | | {impl} | {fmt(summ([r['train_sps'] for r in pr]))} | {fmt(summ([r['mse'] for r in pr]), 4)} | "
              f"{fmt(summ([r['lat1_ns'] for r in pr]), 0)} | {fmt(rs)} | {fmt(rl)} |")
            if impl == "fann":
                pair = sel(work="tiny-pair", prec=prec)
                if bs != 1 or not pair:  # separate processes: only when no paired run exists
                    chart.append((f"tiny {prec} SGD ÷ FANN", rs))
                    chart.append((f"tiny {prec} predict ÷ FANN", rl))
                    checks.append((f"tiny per-sample SGD ≥ 1.5 × FANN ({prec})", fmt(rs), rs is not None and rs[0] >= 1.5))
                    checks.append((f"tiny one-row predict ≥ 1.5 × FANN ({prec})", fmt(rl), rl is not None and rl[0] >= 1.5))
P("")
tp = sel(work="tiny-pair")
if tp:
    P("### Tiny net against FANN in one process (`bench_fann_X tiny-pair`)")
    P("")
    P("libann and FANN alternate in one process: 7 fits each (per-sample SGD, the table's data and "
      "epochs) and 9 blocks of 20000 one-row predictions each; a run's ratio is the median of its "
      "pairs, and the cells are median [min..max] over the repeats. These ratios are the ones the "
      "targets use: the separate-process ratios above swing with the machine's speed between processes.")
    P("")
    P("| prec | libann samples/s | FANN samples/s | libann ÷ FANN (SGD) | libann ns | FANN ns | FANN ns ÷ libann ns |")
    P("|---|---|---|---|---|---|---|")
    for prec in sorted({r["prec"] for r in tp}):
        v = sel(work="tiny-pair", prec=prec)
        rs, rl = summ([r["train_ratio"] for r in v]), summ([r["lat_ratio"] for r in v])
        P(f"| {prec} | {fmt(summ([r['libann_sps'] for r in v]))} | {fmt(summ([r['fann_sps'] for r in v]))} | "
          f"{fmt(rs)} | {fmt(summ([r['libann_ns'] for r in v]), 0)} | {fmt(summ([r['fann_ns'] for r in v]), 0)} | "
          f"{fmt(rl)} |")
        chart.append((f"tiny {prec} SGD ÷ FANN", rs))
        chart.append((f"tiny {prec} predict ÷ FANN", rl))
        checks.append((f"tiny per-sample SGD ≥ 1.5 × FANN ({prec}, paired)", fmt(rs), rs is not None and rs[0] >= 1.5))
        checks.append((f"tiny one-row predict ≥ 1.5 × FANN ({prec}, paired)", fmt(rl), rl is not None and rl[0] >= 1.5))
    P("")

# sweeps
sw = sel(work="sweep-width")
if sw:
    P("## Sweeps (float32, 256-W-W-10, 1 thread, 20000 rows, 1 epoch)")
    P("")
    P("| width | batch | samples/s | GFLOP/s | GEMM share |")
    P("|---|---|---|---|---|")
    g = collections.defaultdict(list)
    for r in sw:
        g[(r["width"], r["batch"])].append(r)
    for (w, b), v in sorted(g.items()):
        P(f"| {w} | {b} | {fmt(summ([x['train_sps'] for x in v]))} | {fmt(summ([x['gflops'] for x in v]))} | "
          f"{fmt(summ([x['train_gemm_frac'] for x in v]), pct=True)} |")
    P("")
sr = sel(work="sweep-rows")
if sr:
    P("Rows sweep (float64, 16-64-64-1, batch 64, 1 epoch; time should be linear in rows, "
      "max RSS from `/usr/bin/time -v` against the data size):")
    P("")
    P("| rows | epoch s | µs per row | data MiB | max RSS MiB | RSS − data MiB |")
    P("|---|---|---|---|---|---|")
    g = collections.defaultdict(list)
    for r in sr:
        g[r["rows"]].append(r)
    for n, v in sorted(g.items()):
        P(f"| {n:,} | {fmt(summ([x['train_s'] for x in v]), 4)} | {fmt(summ([1e6*x['train_s']/n for x in v]), 3)} | "
          f"{v[0]['data_mib']:.1f} | {fmt(summ([x.get('max_rss_mib') for x in v]), 1)} | "
          f"{fmt(summ([x.get('max_rss_mib', 0) - x['data_mib'] for x in v]), 1)} |")
    P("")

P("## Targets")
P("")
P("| target | measured (median [min..max]) | met |")
P("|---|---|---|")
for t, m, ok, *why in checks:
    verdict = "yes" if ok else "**no**"
    if not ok and why and why[0]:
        verdict += f" ({why[0]})"
    P(f"| {t} | {m} | {verdict} |")
P("")

text = "\n".join(lines)
print(text)

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ch = [(l, s) for l, s in chart if s is not None]
    fig, axes = plt.subplots(1, 2 if sw else 1, figsize=(15, max(4, 0.28 * len(ch) + 1)),
                             gridspec_kw={"width_ratios": [2, 1]} if sw else None)
    ax = axes[0] if sw else axes
    ys = range(len(ch))
    med = [s[0] for _, s in ch]
    err = [[s[0] - s[1] for _, s in ch], [s[2] - s[0] for _, s in ch]]
    ax.barh(list(ys), med, xerr=err, color=["tab:green" if m >= 1 else "tab:orange" for m in med])
    ax.set_yticks(list(ys))
    ax.set_yticklabels([l for l, _ in ch], fontsize=7)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("libann ÷ peer or floor (median, min..max), > 1 is better for libann")
    ax.invert_yaxis()
    if sw:
        ax2 = axes[1]
        for b0 in sorted({r["batch"] for r in sw}):
            pts = collections.defaultdict(list)
            for r in sw:
                if r["batch"] == b0:
                    pts[r["width"]].append(r["gflops"])
            if len(pts) > 1:
                xs = sorted(pts)
                ax2.plot(xs, [statistics.median(pts[x]) for x in xs], "o-", label=f"batch {b0}")
        pts = collections.defaultdict(list)
        for r in sw:
            if r["width"] == 256:
                pts[r["batch"]].append(r["gflops"])
        xs = sorted(pts)
        ax2.plot(xs, [statistics.median(pts[x]) for x in xs], "s--", label="width 256, by batch")
        ax2.set_xscale("log", base=2)
        ax2.set_xlabel("width (or batch for the dashed line)")
        ax2.set_ylabel("training GFLOP/s, float32, 1 thread")
        ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{outdir}/results.png", dpi=110)
    png = "![libann against peers and the GEMM floor](results.png)\n\n"
except Exception as e:  # the table matters more than the chart
    print(f"chart skipped: {e}", file=sys.stderr)
    png = ""

with open(f"{outdir}/RESULTS.md", "w") as f:
    f.write("# libann benchmark results\n\nRegenerated by `bench/run.sh`; see README.md for the "
            "workloads and how to read the table.\n\n" + png + text + "\n")
