"""`verify.md` (also the console answer of `audit verify`) and `verify.html`: a verdict a person can read, then the
figures."""

from __future__ import annotations

from audit.records import PersonRecord, Rate, VerifyReport, VerifyResult
from audit.verdicts import VERDICT_MEANING
from reports.formatting import cost_text, markdown_table, percent, rate_text, skipped_lines
from reports.html import environment_section, esc, examples_section, page, skipped_section, table, verdict_box


def tries_text(found: int, tries: int, hidden: Rate) -> str:
    lo, hi = hidden.ci95
    return f"{found} of {tries} tries ({percent(1 - hidden.rate)}, 95% CI {100 * (1 - hi):.0f}–{100 * (1 - lo):.0f}%)"


def tracker_sentence(result: VerifyResult) -> str:
    """The answer for one tracker, in the words a person asked the question in."""
    if result.tries == 0:
        return f"{result.name}: no photo of you could be queried."
    return (f"A tracker ({result.name}) that collected your cloaked photos and searched with a new photo of you found "
            f"you in {tries_text(result.found, result.tries, result.protection)}. Without cloaks it found "
            f"you in {tries_text(result.control_found, result.tries, result.control)}. "
            f"Verdict: **{result.verdict}**.")


def model_lines(record: VerifyReport) -> list[str]:
    """The verdict per face model, and which models the check could not cover and how to add them."""
    by_model = record.verdict_by_model
    lines = []
    if len(by_model) > 1:
        lines.append(f"The verdict above is the weakest over the face models tried: {', '.join(by_model)}.")
        lines += [f"Against {model}: {verdict}." for model, verdict in by_model.items()]
    missing = record.models_missing
    if missing:
        covered = ", ".join(by_model) or "no model"
        lines.append(f"This check covered only {covered}; {', '.join(m.model for m in missing)} could not be "
                     "loaded, so a tracker using them was not tried. " + " ".join(m.reason for m in missing))
    return lines


def verify_headline(record: VerifyReport) -> str:
    parts = [f"{r.name}: found {r.found}/{r.tries} (control {r.control_found}/{r.tries})" for r in record.results]
    return f"{record.verdict} — " + "; ".join(parts)


def render_verify_markdown(record: VerifyReport) -> str:
    person, crowd, cost = record.person, record.crowd, record.perturbation
    lines = [
        "# Does this cloak protect me?",
        "",
        f"**{record.verdict}**: {VERDICT_MEANING[record.verdict]}.",
        "",
        *[f"- {line}" for line in model_lines(record)],
        *[f"- {tracker_sentence(r)}" for r in record.results],
        "",
        *warnings(record),
        "## Caveats",
        "",
        *[f"- {caveat}" for caveat in record.caveats],
        "",
        "## How this was tested",
        "",
        f"Your {person.n_usable} photos with a face (`{person.originals}`, cloaked copies in "
        f"`{person.cloaked}`) joined a crowd of {crowd.n_identities} people from `{crowd.dataset}` "
        f"({crowd.n_train_photos} photos to learn from). In each of {person.folds} rounds the tracker "
        "collected the cloaked copies of your other photos and was asked who is in the photos of this round, "
        "which it had never seen, cloaked or not. The control posts your originals instead.",
        *([f"People left out of the crowd because they hold your photos: {', '.join(crowd.excluded)}."]
          if crowd.excluded else []),
        *([naming_text(person)] if person.naming else []),
        "",
        *markdown_table(["tracker", "countermeasure", "tries", "hidden (protection)", "control", "normal accuracy",
                         "verdict"],
                        [[f"`{r.tracker}`", r.countermeasure, str(r.tries), rate_text(r.protection),
                          rate_text(r.control), percent(r.normal_accuracy.rate), r.verdict] for r in record.results]),
        "",
        "Intervals are Wilson's over your photos. Normal accuracy: how often the same tracker names the other "
        "people of the crowd correctly (a tracker that works).",
        "",
        f"Perceptual cost of your cloaks (whole photo, as posted): {cost_text(cost)}.",
        *skipped_lines(record.skipped),
        "",
        f"Command: `{record.environment.command_line}`",
    ]
    return "\n".join(lines) + "\n"


def naming_text(person: PersonRecord) -> str:
    """Which naming rule paired the copies with the originals (Fawkes v0.3 and v1.0 name theirs differently)."""
    rules = ", ".join(f"{rule} ({n})" for rule, n in (person.naming or {}).items())
    return f"Copies matched to your photos by the naming rule {rules}."


def warnings(record: VerifyReport) -> list[str]:
    person = record.person
    if not person.identical_copies:
        return []
    return [f"**Warning:** {person.identical_copies} of your {person.n_usable} \"cloaked\" photos have exactly "
            "the pixels of the originals: they carry no cloak.", ""]


VERIFY_TONES = {"PROTECTED": "good", "PARTLY PROTECTED": "mixed", "NOT PROTECTED": "bad", "INCONCLUSIVE": "mixed"}


def render_verify_html(record: VerifyReport) -> str:
    person, crowd = record.person, record.crowd
    sections = ["<h1>Does this cloak protect me?</h1>",
                verdict_box(f"<b>{esc(record.verdict)}</b>: {esc(VERDICT_MEANING[record.verdict])}.",
                            VERIFY_TONES[record.verdict])]
    sections += [f"<p><b>{esc(line)}</b></p>" for line in model_lines(record)]
    sections += [f"<p>{esc(tracker_sentence(r)).replace('**', '')}</p>" for r in record.results]
    if person.identical_copies:
        sections.append(verdict_box(
            f"<b>Warning</b>: {person.identical_copies} of your {person.n_usable} “cloaked” photos have "
            "exactly the pixels of the originals: they carry no cloak.", "bad"))
    sections += [
        "<h2>Caveats</h2><ul>" + "".join(f"<li>{esc(c)}</li>" for c in record.caveats) + "</ul>",
        "<h2>How this was tested</h2>",
        f"<p>Your {person.n_usable} photos with a face joined a crowd of {crowd.n_identities} people from "
        f"<code>{esc(crowd.dataset)}</code>. In each of {person.folds} rounds the tracker collected the cloaked "
        "copies of your other photos and was asked who is in this round's photos, which it had never seen. The "
        "control posts your originals instead. Intervals are Wilson's over your photos.</p>",
        *([f"<p>{esc(naming_text(person))}</p>"] if person.naming else []),
        f"<p>Perceptual cost of your cloaks (whole photo, as posted): {esc(cost_text(record.perturbation))}.</p>",
        table(["tracker", "countermeasure", "tries", "hidden (protection)", "control", "normal accuracy", "verdict"],
              [[f"<code>{esc(r.tracker)}</code>", esc(r.countermeasure), str(r.tries),
                esc(rate_text(r.protection)), esc(rate_text(r.control)), esc(percent(r.normal_accuracy.rate)),
                f"<b>{esc(r.verdict)}</b>"] for r in record.results]),
        examples_section(record.examples),
        skipped_section(record.skipped),
        environment_section(record.environment),
    ]
    return page("cloak-audit: does this cloak protect me?", sections)
