"""The leaderboard of one battery version: cloaks ranked by worst-case protection (cards without a headline last),
ties sharing a rank and ordered by the share of transfer cells they protect."""

from __future__ import annotations

from audit.battery.scorecard import protected_cells
from audit.records import ScoreCard


def ranked(cards: list[ScoreCard]) -> list[tuple[int, ScoreCard]]:
    """(rank, card), best first; scorecards of several battery versions are an error (they measured different
    things)."""
    battery = {card.battery for card in cards}
    if len(battery) > 1:
        raise ValueError(f"scorecards of several battery versions ({', '.join(sorted(battery))}): a leaderboard "
                         "ranks one version")

    def worst_rate(card: ScoreCard) -> float:
        return -1.0 if card.worst_case is None else card.worst_case.protection.rate

    def protected_share(card: ScoreCard) -> float:
        protecting, scored = protected_cells(card)
        return protecting / scored if scored else 0.0

    order = sorted(cards, key=lambda card: (worst_rate(card), protected_share(card)), reverse=True)
    # equal headlines share a rank ("1, 1, 3"): an order among ties would claim a difference nobody measured
    return [(1 + sum(worst_rate(other) > worst_rate(card) for other in cards), card) for card in order]
