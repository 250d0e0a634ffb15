# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Markdown tables and the acceptance check of issue 11 from the benchmark's result dict."""

from __future__ import annotations

from typing import Any

from training.benchmark_real.runner import METHODS

__all__ = ["ACCEPTANCE", "acceptance", "markdown"]

#: Thresholds of issue 11's acceptance list that this benchmark measures (one place).
ACCEPTANCE = {
    "frl_mean_nme": 0.060,
    "pose_yaw_corr": 0.9,
    "pose_yaw_mae_deg": 6.0,
    "smiling_nme": 0.07,
    "smiling_mouth_fraction": 0.90,
    "drift_ratio": 1.1,
    "reanchors_per_100": 5.0,
}
_POSE_LABELS = {
    "net": "net under test",
    "c_rigid": "(c) rigid weak-perspective fit to the dlib landmarks",
    "frontal": "always frontal (all angles 0)",
}


def _f(x: Any, nd: int = 3) -> str:
    if x is None:
        return "—"
    return f"{x:.{nd}f}"


def _mm(s: dict[str, Any] | None) -> str:
    if not s or s.get("mean") is None:
        return "—"
    return f"{s['mean']:.3f} ({s['median']:.3f})"


def _frl_table(frl: dict[str, Any]) -> list[str]:
    subsets = [k for k in frl["subsets"]] + ["all"]
    head = (
        "| method | "
        + " | ".join(
            f"{k} (n={(frl['subsets'].get(k) or frl['all'])['detected']})" for k in subsets
        )
        + " |"
    )
    lines = [head, "|---|" + "---|" * len(subsets)]
    for m, label in METHODS.items():
        cells = []
        for k in subsets:
            s = frl["subsets"][k] if k != "all" else frl["all"]
            miss = s.get("missing", {}).get(m, 0)
            cells.append(_mm(s["nme"].get(m)) + (f", {miss} without output" if miss else ""))
        if all(c == "—" for c in cells):
            continue
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _pose_table(pose: dict[str, Any]) -> list[str]:
    lim = f"yaw<={pose['max_yaw_deg']:g}"
    lines = [
        "| method | subset | n | yaw corr | yaw MAE ° | yaw bias ° | pitch corr | pitch MAE ° "
        "| roll corr | roll MAE ° |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m, rows in pose.get("methods", {}).items():
        for sub in ("all", lim):
            y, p, r = rows[sub]["yaw"], rows[sub]["pitch"], rows[sub]["roll"]
            lines.append(
                f"| {_POSE_LABELS.get(m, m)} | {sub} | {y['n']} | {_f(y['corr'])} "
                f"| {_f(y['mae'], 1)} | {_f(y['bias'], 1)} | {_f(p['corr'])} "
                f"| {_f(p['mae'], 1)} | {_f(r['corr'])} | {_f(r['mae'], 1)} |"
            )
    return lines


def _yaw_bins_table(pose: dict[str, Any]) -> list[str]:
    """Yaw agreement per bin of the reference's |yaw| (net and the rigid fit)."""
    bins = pose.get("by_yaw") or {}
    if not bins:
        return []
    lines = [
        "| reference abs(yaw) ° | n | mean reference abs(yaw) ° | net: yaw MAE ° | net: mean "
        "abs(yaw) ° | (c) rigid: yaw MAE ° | (c) rigid: mean abs(yaw) ° |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in bins.items():
        net, rig = c.get("net", {}), c.get("c_rigid", {})
        lines.append(
            f"| {name} | {c['n']} | {_f(c['reference_abs_yaw'], 1)} | {_f(net.get('mae'), 1)} "
            f"| {_f(net.get('abs_yaw'), 1)} | {_f(rig.get('mae'), 1)} "
            f"| {_f(rig.get('abs_yaw'), 1)} |"
        )
    return lines


def _video_table(videos: dict[str, Any]) -> list[str]:
    names = list(videos)
    lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    s = {n: videos[n]["summary"] for n in names}

    def row(label: str, fn: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(s[n]) for n in names) + " |")

    row("frames (with a dlib reference)", lambda v: f"{v['frames']} ({v['frames_with_reference']})")
    row("NME tracker, every frame: mean (median)", lambda v: _mm(v["nme_tracker"]))
    row("NME single-image CoarseNet every frame", lambda v: _mm(v["nme_single"]))
    row("NME (a) mean face in the dlib box", lambda v: _mm(v["nme_a_box"]))
    row(
        "tracking-net frames: NME tracking net / single-image on the same frames (n)",
        lambda v: (
            f"{_f(v['tracking_net_frames']['nme_tracking_net'])} / "
            f"{_f(v['tracking_net_frames']['nme_single_same_frames'])} "
            f"({v['tracking_net_frames']['n']})"
        ),
    )
    row(
        "drift: NME frames 0-5 / 20-40 after (re-)init, ratio",
        lambda v: (
            f"{_f(v['drift']['early'])} / {_f(v['drift']['late'])}, "
            f"{_f(v['drift']['ratio'], 2)} (n {v['drift']['n_early']}/{v['drift']['n_late']})"
        ),
    )
    for k in v_curve_keys(s):
        row(
            f"NME {k} frames after (re-)init",
            lambda v, k=k: (
                f"{_f(v['nme_vs_frames_since_init'][k]['mean'])} "
                f"(n {v['nme_vs_frames_since_init'][k]['n']})"
            ),
        )
    row("re-anchors per 100 frames", lambda v: _f(v["reanchors_per_100"], 2))
    row(
        "initialisations (after a loss) per 100 frames",
        lambda v: _f(v["initialisations_per_100"], 2),
    )
    for key, label in (
        ("jitter_tracker", "tracker"),
        ("jitter_single", "single-image"),
        ("jitter_a_box", "(a) box"),
    ):
        row(
            f"jitter {label}: motion / reference motion, excess (eye dist.)",
            lambda v, key=key: (
                f"{_f(v[key]['predicted'], 4)} / {_f(v[key]['reference'], 4)}, "
                f"{_f(v[key]['excess'], 4)}"
            ),
        )
    row(
        "fraction TRACKING / LOST / INITIALISING",
        lambda v: (
            f"{_f(v['fraction_tracking'], 3)} / {_f(v['fraction_lost'], 3)} / "
            f"{_f(v['fraction_initialising'], 3)}"
        ),
    )
    row(
        "ms per frame: tracker / single-image",
        lambda v: f"{v['ms_per_frame_tracker']:.0f} / {v['ms_per_frame_single']:.0f}",
    )
    return lines


def v_curve_keys(summaries: dict[str, Any]) -> list[str]:
    """Bucket labels of the NME-vs-frames-since-init curve (first video's order)."""
    for v in summaries.values():
        return list(v["nme_vs_frames_since_init"])
    return []


def acceptance(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """``(criterion, measured, passed)`` for each acceptance item this benchmark measures.

    ``passed`` is None when the figure could not be measured (set not run, or no samples).
    """
    a = ACCEPTANCE
    out: list[tuple[str, str, bool | None]] = []
    frl = results.get("frl")
    if frl:
        nm = frl["all"]["nme"]
        net = (nm.get("net") or {}).get("mean")
        base = {m: s["mean"] for m, s in nm.items() if m not in ("net", "dlib") and s["mean"]}
        out.append(
            (
                f"FRL mean NME <= {a['frl_mean_nme']}",
                _f(net),
                None if net is None else net <= a["frl_mean_nme"],
            )
        )
        if base:
            best = min(base, key=base.get)
            out.append(
                (
                    "FRL mean NME below every no-network baseline",
                    f"{_f(net)} vs best baseline {best} {_f(base[best])}",
                    None if net is None else net < base[best],
                )
            )
    pose = results.get("pose")
    if pose and "methods" in pose and "net" in pose["methods"]:
        y = pose["methods"]["net"][f"yaw<={pose['max_yaw_deg']:g}"]["yaw"]
        out.append(
            (
                f"yaw corr >= {a['pose_yaw_corr']} (|yaw|<=45)",
                _f(y["corr"]),
                None if y["corr"] is None else y["corr"] >= a["pose_yaw_corr"],
            )
        )
        out.append(
            (
                f"yaw MAE <= {a['pose_yaw_mae_deg']} deg (|yaw|<=45)",
                _f(y["mae"], 2),
                None if y["mae"] is None else y["mae"] <= a["pose_yaw_mae_deg"],
            )
        )
    smi = results.get("smiling")
    if smi:
        net = (smi["summary"]["nme"].get("net") or {}).get("mean")
        out.append(
            (
                f"smiling NME <= {a['smiling_nme']}",
                _f(net),
                None if net is None else net <= a["smiling_nme"],
            )
        )
        mc = smi.get("mouth_check", {}).get("methods", {}).get("net")
        frac = None if mc is None else mc["fraction_wider"]
        out.append(
            (
                f"mouth wider smiling for >= {a['smiling_mouth_fraction']:.0%} of people",
                _f(frac),
                None if frac is None else frac >= a["smiling_mouth_fraction"],
            )
        )
    for name, v in (results.get("video") or {}).items():
        s = v["summary"]
        tn = s["tracking_net_frames"]
        ok = None
        if tn["nme_tracking_net"] is not None and tn["nme_single_same_frames"] is not None:
            ok = tn["nme_tracking_net"] <= tn["nme_single_same_frames"]
        out.append(
            (
                f"{name}: tracking-net frames at least as accurate as single-image",
                f"{_f(tn['nme_tracking_net'])} vs {_f(tn['nme_single_same_frames'])}",
                ok,
            )
        )
        r = s["drift"]["ratio"]
        out.append(
            (
                f"{name}: drift ratio (20-40 vs 0-5) <= {a['drift_ratio']}",
                _f(r, 2),
                None if r is None else r <= a["drift_ratio"],
            )
        )
        j = s["jitter_tracker"]
        out.append(
            (
                f"{name}: jitter <= the reference's",
                f"{_f(j['predicted'], 4)} vs {_f(j['reference'], 4)}",
                None if j["excess"] is None else j["excess"] <= 0,
            )
        )
        out.append(
            (
                f"{name}: re-anchors < {a['reanchors_per_100']:g} per 100 frames",
                _f(s["reanchors_per_100"], 2),
                s["reanchors_per_100"] < a["reanchors_per_100"],
            )
        )
    return out


def _precisions(meta: dict[str, Any]) -> str:
    """``"fp32"``, or e.g. ``"int8 (FineNet fp32)"``, from the recorded Tracker settings."""
    cfg = meta.get("tracker_config") or {}
    main = cfg.get("precision", "fp32")
    fine = cfg.get("fine_precision")
    return main if fine in (None, main) else f"{main} (FineNet {fine})"


def _changed(meta: dict[str, Any]) -> str:
    """``"none"`` or ``"keyframe_interval 0 -> 1, ..."`` from the recorded Tracker settings."""
    diff = meta.get("tracker_config_vs_default") or {}
    return ", ".join(f"{k} {a} -> {b}" for k, (a, b) in diff.items()) or "none"


def markdown(results: dict[str, Any]) -> str:
    """The whole report as markdown."""
    meta = results["meta"]
    lines = [
        "# Real-face benchmark",
        "",
        f"- command: `{meta['command']}`",
        f"- date (UTC): {meta['date']}; git commit {meta.get('git_commit') or 'unknown'}; "
        f"{meta['seconds']:.0f} s wall, {meta['threads']} thread(s)",
        f"- weights: `{meta['weights_dir']}` ({meta.get('weights_note', '')})",
        f"- net precision: {_precisions(meta)}",
        f"- Tracker detector: {meta.get('tracker_detector')}; reference and baseline boxes: "
        f"{meta.get('reference_detector')}",
        f"- Tracker settings changed from the node's defaults: {_changed(meta)}",
        "- NME = mean 68-point distance / reference outer-eye-corner distance (points 36, 45)",
        "",
    ]
    frl = results.get("frl")
    if frl:
        lines += [
            "## FRL, manual 68 landmarks: NME mean (median)",
            "",
            f"Photos where dlib finds no face are left out of every row: "
            f"{frl['all']['photos'] - frl['all']['detected']} of {frl['all']['photos']}.",
            "",
        ]
        lines += _frl_table(frl) + [""]
    smi = results.get("smiling")
    if smi:
        s = smi["summary"]
        mc = smi.get("mouth_check", {})
        lines += [
            f"## FRL smiling vs the dlib predictor (n={s['detected']} of {s['photos']})",
            "",
            "Mouth check: predicted mouth-corner distance / eye distance larger on the smiling "
            f"photo than on the same person's neutral one (people: {mc.get('people', 0)}).",
            "",
            "| method | NME mean (median) | mouth wider when smiling "
            "| mouth ratio neutral → smiling |",
            "|---|---|---|---|",
        ]
        for m, label in METHODS.items():
            n = s["nme"].get(m)
            c = mc.get("methods", {}).get(m)
            if n is None and c is None:
                continue
            miss = s.get("missing", {}).get(m, 0)
            nme_cell = "reference" if m == "dlib" else _mm(n)
            nme_cell += f", {miss} without output" if miss else ""
            mouth = "—" if c is None else f"{c['fraction_wider']:.0%} (n={c['n']})"
            ratio = "—" if c is None else f"{c['mean_neutral']:.3f} → {c['mean_smiling']:.3f}"
            lines.append(f"| {label} | {nme_cell} | {mouth} | {ratio} |")
        lines.append("")
    pose = results.get("pose")
    if pose and pose.get("methods"):
        lines += [
            f"## Head pose on FairFace-wide vs PnP of the model landmarks to dlib "
            f"(n={pose['detected']} of {pose['photos']}; {pose['within_yaw_limit']} within "
            f"|yaw| <= {pose['max_yaw_deg']:g}°)",
            "",
            f"PnP: {meta.get('pnp', '')}",
            "",
        ]
        lines += _pose_table(pose) + [""]
        bins = _yaw_bins_table(pose)
        if bins:
            lines += ["Yaw by the reference's abs(yaw):", "", *bins, ""]
        nd = pose.get("nme_vs_dlib", {})
        if nd:
            lines += [
                "NME against dlib on the same photos: "
                + "; ".join(
                    f"{METHODS[m].split(' (')[0] if m == 'net' else m} {_mm(v)}"
                    for m, v in nd.items()
                ),
                "",
            ]
    vid = results.get("video")
    if vid:
        lines += [
            "## Video through the Tracker (node loop, settings above) vs dlib per frame",
            "",
        ]
        lines += _video_table(vid) + [""]
    acc = acceptance(results)
    if acc:
        lines += [
            "## Issue 11 acceptance items measured here",
            "",
            "| criterion | measured | pass |",
            "|---|---|---|",
        ]
        for crit, val, ok in acc:
            lines.append(f"| {crit} | {val} | {'—' if ok is None else ('yes' if ok else 'NO')} |")
        lines.append("")
    return "\n".join(lines)
