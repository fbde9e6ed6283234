"""Stage 2, embed: sentence vectors for papers and queries, cached by (model, content hash).
Entry points: `encoder.embed_missing` (every pending paper, streaming and resumable),
`encoder.embed_papers` (a batch of paper ids: one worker job), `encoder.encode_query` (one text),
`export.prepare` (the bundled model's checked ONNX export), `search.search_papers`."""
