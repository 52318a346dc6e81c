"""The text Nightshift publishes: merge requests, notes, tracker comments and follow-up tickets.

`guard` makes agent- and ticket-derived text inert (no quick actions, no mentions, no hidden markup);
`texts` builds every published text in one place, from Nightshift's own words and guarded quotes.
"""
