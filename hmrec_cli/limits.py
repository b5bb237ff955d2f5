"""Upper bounds that options, `-o` values and the `[pipeline]` table all obey, in a module without
dependencies so the CLI can declare them without loading polars at start-up."""

MAX_WEEKS = 520  # the most weeks a count of weeks may name: ten years, more than a store holds, still a valid date
MAX_K = 65_535  # the most candidates per customer a --k takes
MAX_SEED = 2**32 - 1  # what every generator hmrec seeds accepts
