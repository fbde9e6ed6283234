"""Stage 1, ingest: papers in from arXiv and files. Each source fetches bytes (`http`) and parses
them with pure functions (`arxiv_feed`, `arxiv_api`, `jsonl`); entry points: `fetching.fetch` (what
`digest fetch` runs), `daily.ingest_feeds` (the day's listing feeds) and `backfill` (JSONL files, the
arXiv API by ids or dates). `limits` says what a valid id or field is (categories: `digest.config.categories`)."""
