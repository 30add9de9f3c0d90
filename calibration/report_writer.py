"""Writes a calibration report as ``report.json``, ``report.md`` and ``report.png`` (each atomically), and
:func:`staged_outputs`: the whole report folder of one run appears at the end or not at all."""
from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["format_markdown", "plot_report", "remove_stale_partials", "staged_outputs", "write_report"]

ORDER = ("fp32", "int8", "fp16")
REPORT_FILES = ("report.json", "report.md", "report.png")  # moved into place last: they mark a complete run
_PARTIAL = re.compile(r"\.calibrate\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>[0-9]{1,10})\..+\.partial")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "host"


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (one of another user counts)."""
    if pid <= 0:
        return True  # never a run's pid; os.kill(0) would signal our own group: leave the folder alone
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        pass  # another user's process
    return True


def remove_stale_partials(report_dir: Path) -> list[Path]:
    """Remove ``.calibrate.<host>.<pid>.*.partial`` folders in ``report_dir`` that a run on this host left
    behind when it was killed outright (SIGKILL, power loss: no chance to clean up). A folder whose process
    still runs, or that another host wrote, is left alone. Returns the folders removed."""
    removed = []
    host = _host()
    for path in sorted(report_dir.glob(".calibrate.*.partial")):
        match = _PARTIAL.fullmatch(path.name)
        if match is None or match["host"] != host or not path.is_dir() or path.is_symlink():
            continue
        if _alive(int(match["pid"])):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


@contextlib.contextmanager
def staged_outputs(report_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new hidden folder ``report_dir/.calibrate.*.partial`` to write a run's outputs into.

    When the block succeeds, each file in it replaces its namesake in ``report_dir`` (the report files
    last) and nothing else there is touched but hidden folders of earlier runs on this host that were
    killed outright (:func:`remove_stale_partials`). When it fails (an exception, Ctrl-C) the hidden folder is
    removed, and so are the folders this call created (``report_dir`` and its missing parents): what was
    there before the run stays as it was, and no half-written model, evaluation or report is left behind.
    """
    report_dir = Path(report_dir)
    missing = [d for d in (report_dir, *report_dir.parents) if not d.exists()]  # made here, so removed on failure
    report_dir.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_partials(report_dir):
        print(f"calibrate: removed {stale}, left by an earlier run that was killed", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix=f".calibrate.{_host()}.{os.getpid()}.", suffix=".partial", dir=report_dir))
    try:
        yield work
        files = sorted((p for p in work.rglob("*") if not p.is_dir()), key=lambda p: (p.name in REPORT_FILES, p))
        for path in files:
            target = report_dir / path.relative_to(work)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        if missing:
            shutil.rmtree(missing[-1], ignore_errors=True)  # holds nothing but the hidden folder
        raise
    shutil.rmtree(work, ignore_errors=True)


def write_report(report_dir: Path, report: dict[str, Any]) -> dict[str, Path]:
    """The three files; returns their paths by kind."""
    from mottrack_sdk.io import atomic_write, write_json

    paths = {"json": report_dir / "report.json", "markdown": report_dir / "report.md", "png": report_dir / "report.png"}
    write_json(paths["json"], report)
    with atomic_write(paths["markdown"]) as fh:
        fh.write(format_markdown(report))
    plot_report(report, paths["png"])
    return paths


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def format_markdown(report: dict[str, Any]) -> str:
    """The report as a markdown page: variants table, targets, machine, what stayed float."""
    variants = report["variants"]
    fp32 = variants["fp32"]
    lines = [f"# Calibration report: {report['model']['model_name']} {report['model']['input_size'][0]}x"
             f"{report['model']['input_size'][1]}", ""]
    if report.get("random_weights"):
        lines += ["> The model has **random weights** (`weights_sha256: random-init`): the numbers check that the "
                  "pipeline runs end to end; the accuracy targets are only meaningful with trained weights.", ""]
    ev = report["evaluation"]
    lines += [f"- calibration data: {report['data']['source']}, {report['data']['frames']} frames, method "
              f"`{report['quantization']['method']}`, activations `{report['quantization']['activation_type']}`"
              f"{', 7-bit weights (reduce_range)' if report['quantization']['reduce_range'] else ''}"
              f"{' (cache hit)' if report['quantization']['cache_hit'] else ''}",
              f"- evaluation: {ev['source'] or 'none (no ground truth): embedding agreement only'}" + (
                  f", {len(ev['sequences'])} sequences, {ev['frames']} frames" if ev["sequences"] else ""),
              f"- kept float in INT8: {len(report['quantization']['float_nodes'])} nodes (detect-head output convs, "
              "embedding head's last conv, constant MatMuls, decode/NMS tail)", "",
              "| variant | size MB | AP50 | HOTA | MOTA | IDF1 | emb. cosine median / min | latency ms (median) "
              "| speed-up |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name in ORDER:
        if name not in variants:
            continue
        v = variants[name]
        track = v.get("tracking", {})
        cos = v.get("embedding_cosine")
        cos_text = "1 (reference)" if name == "fp32" else (
            f"{_num(cos['median'], 4)} / {_num(cos['min'], 4)} ({cos['matched']} boxes)" if cos else "n/a")
        speedup = fp32["latency"]["median_ms"] / v["latency"]["median_ms"]
        ap = v.get("ap50")
        lines.append(f"| {name} | {v['size_mb']:.2f} | {_num(ap * 100 if ap is not None else None)} | "
                     f"{_num(track.get('HOTA'))} | {_num(track.get('MOTA'))} | {_num(track.get('IDF1'))} | {cos_text} | "
                     f"{v['latency']['median_ms']:.1f} | {speedup:.2f}x |")
    t = report["targets"]
    th = t["thresholds"]
    lines += ["", "## Targets (INT8 vs FP32)", "", "| target | value | met |", "|---|---|---|"]
    rows = [("MOTA loss", "mota_loss", f"<= {th['max_mota_loss']}", 2),
            ("IDF1 loss", "idf1_loss", f"<= {th['max_idf1_loss']}", 2),
            ("median embedding cosine", "median_cosine", f">= {th['min_median_cosine']}", 4),
            ("INT8 speed-up", "int8_speedup", f">= {th['min_int8_speedup']}x", 2)]
    for label, key, rule, digits in rows:
        met = t["met"].get(key)
        verdict = "n/a" if met is None else ("yes" if met else "NO")
        lines.append(f"| {label} {rule} | {_num(t.get(key), digits)} | {verdict} |")
    m = report["machine"]
    lines += ["", "## Machine", "", f"{m['cpu']}, ONNX Runtime {m['onnxruntime']}, {m['threads']} threads; "
              f"AVX2 {m['avx2']}, AVX-512F {m['avx512f']}, AVX-512 VNNI {m['avx512_vnni']}, AVX-VNNI {m['avx_vnni']} "
              "(as the OS reports them: ONNX Runtime's int8 kernels pick VNNI only when CPUID shows it).", ""]
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: Path) -> None:
    """Accuracy metrics per variant (grouped bars) and latency (bars), one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mottrack_sdk.io import atomic_path

    variants = [n for n in ORDER if n in report["variants"]]
    metrics = ["AP50", "HOTA", "MOTA", "IDF1", "cos x100"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(variants)
    for i, name in enumerate(variants):
        v = report["variants"][name]
        track = v.get("tracking", {})
        cos = 1.0 if name == "fp32" else (v.get("embedding_cosine") or {}).get("median")
        ap = v.get("ap50")
        values = [ap * 100 if ap is not None else None, track.get("HOTA"), track.get("MOTA"), track.get("IDF1"),
                  cos * 100 if cos is not None else None]
        values = [0.0 if x is None or (isinstance(x, float) and math.isnan(x)) else x for x in values]
        ax1.bar([k + i * width for k in range(len(metrics))], values, width, label=name)
    ax1.set_xticks([k + width * (len(variants) - 1) / 2 for k in range(len(metrics))], metrics)
    ax1.set_ylabel("percent")
    ax1.set_title("accuracy (n/a shown as 0)")
    ax1.legend()
    ax2.bar(variants, [report["variants"][n]["latency"]["median_ms"] for n in variants],
            color=["C0", "C1", "C2"][: len(variants)])
    ax2.set_ylabel("ms (median)")
    ax2.set_title(f"ORT CPU latency, {report['machine']['threads']} threads")
    size = report["model"]["input_size"]
    fig.suptitle(f"{report['model']['model_name']} {size[0]}x{size[1]}: FP32 vs INT8 vs FP16")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
