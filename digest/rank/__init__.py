"""Stage 3, rank: which papers each subscriber gets, and why. `score`, `likes` and `pool` are pure
functions over numpy arrays; `planning.plan_all` ranks everyone due for an issue (`due`) and saves the
plans (`plans`); `trending` reads the community's likes and clicks. Topics described in words are
matched by `describe` (calibrated scores, the evidence rule) from `evidence` (a description's terms)
and `terms` (which papers use them)."""
