"""The evaluation table, in the style of the paper's Table 1 (NTIRE 2019 colorization, track 1).

Our rows are measured by evaluation.evaluate on the given sets, each beside the grey baseline (ab = 0)
computed on the same images with the same code. The NTIRE 2019 teams are listed as reference only:
their figures were measured on the challenge's own DIV2K test images, not on these sets.
"""

from __future__ import annotations

# Track 1 (no guidance) participants of the NTIRE 2019 image-colorization challenge (Gu, Zhang et al.,
# "NTIRE 2019 Challenge on Image Colorization: Report", CVPR Workshops 2019), with their approach.
# Their PSNR/SSIM are in Table 1 of that report; they are not reproduced here because they could not be
# checked against the report on this machine (no internet), and they were measured on other images.
NTIRE2019_TRACK1 = [
    ("VIDAR", "U-Net with residual channel attention, RMSE loss (best PSNR/SSIM of the challenge)"),
    ("IPCV_IITM", "dense-residual encoder-decoder with pyramid pooling"),
    ("Team_India", "self-attention progressive GAN"),
    ("pksvision_mm", "conditional GAN"),
    ("ITU-GO", "capsule network with VGG-19 features"),
    ("Athi", "Zhang et al. 2016 colorization network"),
]


def _f(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def markdown_table(result: dict) -> str:
    """Per set: the model and the grey baseline side by side, then the mean over sets."""
    sets = result["sets"]
    has_model = any("model" in s for s in sets.values())
    lines = ["| set | n | method | PSNR (dB) | SSIM | MSE | colourfulness (truth) |",
             "|---|---:|---|---:|---:|---:|---:|"]
    means: dict[str, dict[str, float]] = {"model": {}, "grey": {}}
    for name, s in sets.items():
        for part in ("model", "grey") if has_model else ("grey",):
            m = s[part]
            label = "this model" if part == "model" else "grey baseline (ab = 0)"
            delta = ""
            if part == "model":
                delta = f" ({m['psnr'] - s['grey']['psnr']:+.2f})"
            lines.append(
                f"| {name} | {s['n']} | {label} | {_f(m['psnr'], 2)}{delta} | {_f(m['ssim'], 4)} | "
                f"{_f(m['mse'], 1)} | {_f(m['colourfulness'], 1)} ({_f(s['truth']['colourfulness'], 1)}) |")
            for k in ("psnr", "ssim", "mse", "colourfulness"):
                means[part][k] = means[part].get(k, 0.0) + m[k] / len(sets)
        means.setdefault("truth", {})
        means["truth"]["colourfulness"] = (means["truth"].get("colourfulness", 0.0)
                                           + s["truth"]["colourfulness"] / len(sets))
    if len(sets) > 1:
        for part in ("model", "grey") if has_model else ("grey",):
            m = means[part]
            label = "this model" if part == "model" else "grey baseline (ab = 0)"
            delta = f" ({m['psnr'] - means['grey']['psnr']:+.2f})" if part == "model" else ""
            lines.append(
                f"| **mean of sets** | | {label} | {_f(m['psnr'], 2)}{delta} | {_f(m['ssim'], 4)} | "
                f"{_f(m['mse'], 1)} | {_f(m['colourfulness'], 1)} ({_f(means['truth']['colourfulness'], 1)}) |")
    lines += ["", f"Render size {result.get('render_size')}, {result.get('precision', 'fp32')}. PSNR and MSE on "
              "0-255 RGB at the photos' full resolution; (+x.xx) is the gain over the grey baseline; "
              "colourfulness after Hasler & Suesstrunk, the truth's in brackets.", "",
              "Reference: NTIRE 2019 colorization, track 1 (their figures are on the challenge's DIV2K test "
              "images, not on these sets; see Table 1 of Gu et al., CVPRW 2019):", ""]
    lines += [f"- {team}: {what}" for team, what in NTIRE2019_TRACK1]
    return "\n".join(lines) + "\n"
