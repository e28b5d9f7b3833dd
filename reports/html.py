"""What every HTML document shares (its page, tables, verdict boxes, example photos, skips, the environment): each is
one self-contained file, verdict first, then the evidence.

No scripts, no fonts, no links out: every plot and photo is a `data:` URI, so the file opens
offline, can be mailed, and shows the same thing years later.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np

from audit.images import PhotoSkipped, encode_image, read_image
from audit.records import Environment, ExamplePair, Skip

DIFFERENCE_GAIN = 10  # cloaks change pixels by a few levels; ×10 makes them visible

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1240px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.verdict { font-size: 1.15em; padding: 0.8em 1em; border-radius: 6px; margin: 0.5em 0; background: #f3f3f3; }
.good { background: #e3f4e3; } .bad { background: #fbe3e3; } .mixed { background: #fdf3d8; }
.whitebox { color: #777; font-style: italic; } .transfer { font-weight: bold; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
.wide { overflow-x: auto; max-width: 100%; } td code.spec { overflow-wrap: anywhere; } .label { white-space: nowrap; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } code, pre { background: #f6f6f6; font-size: 0.9em; }
pre { padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }
figure { display: inline-block; margin: 0.4em; text-align: center; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; } .examples img { width: 180px; image-rendering: pixelated; }
.budgets img { width: auto; }  /* at the photo's own size: the cost is what a reader should see */
"""


def esc(value: object) -> str:
    return html.escape(str(value))


def page(title: str, sections: list[str]) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n")


def table(header: list[str], rows: list[list[str]], row_ids: list[str] | None = None) -> str:
    """Cells are HTML already (escape text with `esc`). A table wider than the page scrolls inside it."""
    head = "".join(f"<th>{h}</th>" for h in header)
    ids = [f' id="{row_id}"' for row_id in row_ids] if row_ids else [""] * len(rows)
    body = "".join(f"<tr{row_id}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row_id, row in zip(ids, rows))
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def figure_html(png: bytes, caption: str) -> str:
    return f'<figure><img src="{data_uri(png)}" alt="{esc(caption)}"><figcaption>{esc(caption)}</figcaption></figure>'


def verdict_box(text: str, tone: str) -> str:
    return f'<div class="verdict {tone}">{text}</div>'


def examples_section(pairs: tuple[ExamplePair, ...]) -> str:
    """Original, cloaked, and their difference amplified, read from the files now (they may be gone)."""
    figures, missing = [], []
    for pair in pairs:
        try:
            original, cloaked = read_image(pair.original), read_image(pair.cloaked)
        except (PhotoSkipped, OSError):
            missing.append(Path(pair.original).name)
            continue
        if original.shape != cloaked.shape:
            missing.append(Path(pair.original).name)
            continue
        difference = np.abs(cloaked.astype(np.int16) - original.astype(np.int16))
        amplified = np.clip(difference * DIFFERENCE_GAIN, 0, 255).astype(np.uint8)
        figures.append("".join(figure_html(encode_image(image), caption) for image, caption in
                               ((original, f"{pair.user or 'your photo'}: original"), (cloaked, "cloaked"),
                                (amplified, f"difference ×{DIFFERENCE_GAIN}"))))
    lines = ["<h2>Example photos</h2>"]
    lines += [f'<div class="examples">{row}</div>' for row in figures]
    if missing:
        lines.append(f"<p>Not shown (the files are no longer readable): {esc(', '.join(missing))}.</p>")
    if not pairs:
        lines.append("<p>No cloaked photos to show.</p>")
    return "\n".join(lines)


def environment_section(environment: Environment) -> str:
    packages = ", ".join(f"{name} {version}" for name, version in environment.packages.items() if version)
    return (f"<h2>Command and environment</h2><pre>{esc(environment.command_line)}</pre>"
            f"<p>Python {esc(environment.python)}; {esc(packages)}.</p>")


def skipped_section(skipped: tuple[Skip, ...]) -> str:
    if not skipped:
        return ""
    return f"<h2>Skipped ({len(skipped)})</h2>" + table(
        ["photo", "stage", "reason"], [[f"<code>{esc(s.path)}</code>", esc(s.stage), esc(s.reason)] for s in skipped])
